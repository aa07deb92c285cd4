/**
 * Which files of a package count as hand-written JavaScript/TypeScript source: the right extension, a sane
 * size, and none of the signs of machine output (minified: long lines, little whitespace; bundles: webpack /
 * esbuild runtime markers, inline source maps; files marked generated). Returns why a file is dropped.
 */

export const CODE_EXTENSIONS = ['.ts', '.tsx', '.mts', '.cts', '.js', '.jsx', '.mjs', '.cjs'] as const;

export const LIMITS = {
  minBytes: 200,
  maxBytes: 256 * 1024,
  maxLineLength: 300,
  maxMeanLineLength: 90,
  minWhitespaceRatio: 0.12,
  maxNonAsciiRatio: 0.05,
};

const MINIFIED_NAME = /[.-]min\.[cm]?js$|\.bundle\.[cm]?js$|[.-]umd\.[cm]?js$|\.prod\.[cm]?js$|\.production\.[cm]?js$/;
const GENERATED_MARKERS = [/@generated\b/, /\bDO NOT EDIT\b/i, /^\s*(\/\/|\/\*+|\*)\s*(This file (was|is) )?(auto-?)?generated (by|from)\b/im];
const BUNDLE_MARKERS = [/__webpack_require__/, /\/\*{6}\//, /sourceMappingURL=data:/, /\b__commonJS\(\{/, /System\.register\(/, /\(function\s*\(\s*global\s*,\s*factory\s*\)/];

export function isCodeFileName(path: string): boolean {
  return CODE_EXTENSIONS.some((ext) => path.endsWith(ext));
}

/** null when the file is kept, else the reason it is dropped (for the build summary). */
export function dropReason(path: string, bytes: number, text: string): string | null {
  if (!isCodeFileName(path)) return 'extension';
  if (MINIFIED_NAME.test(path)) return 'minified-name';
  if (bytes < LIMITS.minBytes) return 'too-small';
  if (bytes > LIMITS.maxBytes) return 'too-large';
  if (text.includes('\uFFFD') || text.includes('\0')) return 'not-utf8-text';
  const lines = text.split('\n');
  let longest = 0;
  for (const line of lines) if (line.length > longest) longest = line.length;
  if (longest > LIMITS.maxLineLength) return 'long-line';
  if (text.length / lines.length > LIMITS.maxMeanLineLength) return 'long-mean-line';
  let whitespace = 0;
  let nonAscii = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 10 || c === 9 || c === 13) whitespace++;
    else if (c > 126) nonAscii++;
  }
  if (whitespace / text.length < LIMITS.minWhitespaceRatio) return 'low-whitespace';
  if (nonAscii / text.length > LIMITS.maxNonAsciiRatio) return 'non-ascii';
  const head = text.slice(0, 4096);
  if (GENERATED_MARKERS.some((m) => m.test(head))) return 'generated';
  if (BUNDLE_MARKERS.some((m) => m.test(text))) return 'bundle';
  return null;
}
