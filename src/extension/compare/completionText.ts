/**
 * A completion's text made to fit the document it goes into: the document's line endings, and the editor's
 * indentation (tabs or spaces, its width) relative to the line it is inserted on. Plain functions, no vscode.
 */

export type LineEnding = '\n' | '\r\n';

/** The editor's indentation settings for the target document. */
export interface Indentation {
  insertSpaces: boolean;
  /** columns a tab reaches */
  tabSize: number;
  /** columns of one indent step when indenting with spaces */
  indentSize: number;
}

/** `text` with every line break (\r\n, \r or \n) written as `eol`. */
export function withLineEndings(text: string, eol: LineEnding): string {
  return text.replace(/\r\n|\r|\n/g, eol);
}

/** The width of leading whitespace in columns, a tab reaching the next multiple of `tabSize`. */
function columns(whitespace: string, tabSize: number): number {
  let width = 0;
  for (const ch of whitespace) width = ch === '\t' ? (Math.floor(width / tabSize) + 1) * tabSize : width + 1;
  return width;
}

function whitespaceOf(width: number, { insertSpaces, tabSize }: Indentation): string {
  if (insertSpaces) return ' '.repeat(width);
  return '\t'.repeat(Math.floor(width / tabSize)) + ' '.repeat(width % tabSize);
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * Re-indents a completion inserted on a line indented by `targetLine` (its leading whitespace). The first line
 * continues the cursor's line and stays as it is. Each later line keeps its depth relative to the target line,
 * counted in the candidate's own indent step (the largest step that divides every depth: 4 for a model that
 * writes four spaces) and re-written in the editor's step (a tab, or `indentSize` spaces).
 */
export function reindented(text: string, targetLine: string, indentation: Indentation): string {
  const lines = text.split('\n');
  if (lines.length === 1) return text;
  const { tabSize } = indentation;
  const base = columns(targetLine, tabSize);
  const parsed = lines.slice(1).map((line) => {
    const lead = /^[ \t]*/.exec(line)![0];
    return { line, lead, body: line.slice(lead.length), depth: columns(lead, tabSize) - base };
  });
  const step = parsed.filter((l) => l.body !== '').reduce((g, l) => gcd(g, Math.abs(l.depth)), 0);
  // A step of one column is alignment (a JSDoc ` *`), not indentation: depths then keep their width.
  const editorStep = indentation.insertSpaces ? indentation.indentSize : tabSize;
  const scale = step > 1 ? editorStep / step : 1;
  const rest = parsed.map(({ line, body, depth }) => {
    if (body === '') return line;
    return whitespaceOf(Math.max(0, Math.round(base + depth * scale)), indentation) + body;
  });
  return [lines[0]!, ...rest].join('\n');
}

/** What the editor inserts for a completion: re-indented to the target line, in the document's line endings. */
export function textToInsert(
  text: string,
  targetLine: string,
  indentation: Indentation,
  eol: LineEnding,
): string {
  return withLineEndings(reindented(withLineEndings(text, '\n'), targetLine, indentation), eol);
}
