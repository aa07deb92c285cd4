/**
 * Which package licenses the corpus accepts: MIT, Apache-2.0, the BSD family and ISC (SPDX ids, as npm's
 * package.json "license" field writes them). An SPDX expression is accepted when every AND-term has at least
 * one accepted OR-alternative; anything unreadable (UNLICENSED, SEE LICENSE IN …, missing) is refused.
 */

const ACCEPTED = new Set(['MIT', 'MIT-0', 'APACHE-2.0', 'BSD-2-CLAUSE', 'BSD-3-CLAUSE', '0BSD', 'BSD', 'ISC']);

/** The license text of a package.json: "license" as a string or {type}, or the legacy "licenses" array (any of). */
export function licenseOf(packageJson: Record<string, unknown>): string | null {
  const field = packageJson['license'];
  if (typeof field === 'string') return field.trim() || null;
  if (field && typeof field === 'object' && typeof (field as Record<string, unknown>)['type'] === 'string') {
    return (field as Record<string, string>)['type']!.trim() || null;
  }
  const legacy = packageJson['licenses'];
  if (Array.isArray(legacy)) {
    const types = legacy.map((l) => (l && typeof l === 'object' ? (l as Record<string, unknown>)['type'] : l)).filter((t): t is string => typeof t === 'string');
    if (types.length > 0) return types.length === 1 ? types[0]! : `(${types.join(' OR ')})`;
  }
  return null;
}

/** Whether an SPDX license expression is one the corpus may use. */
export function isPermissive(expression: string | null): boolean {
  if (!expression) return false;
  const text = expression.replace(/[()]/g, ' ').trim();
  if (text === '') return false;
  return text.split(/\s+AND\s+/i).every((term) =>
    term
      .split(/\s+OR\s+/i)
      .map((id) => id.trim().replace(/\+$/, '').toUpperCase())
      .some((id) => ACCEPTED.has(id)),
  );
}
