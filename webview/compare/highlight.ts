/**
 * Syntax highlighting and difference marks for untrusted code. Prism only tokenizes; the DOM is built here
 * from text nodes (textContent), so nothing in a candidate can become markup.
 */
import './prism-setup.ts';
import Prism from 'prismjs';
import 'prismjs/components/prism-typescript.js';
import 'prismjs/components/prism-jsx.js';
import 'prismjs/components/prism-tsx.js';
import 'prismjs/components/prism-python.js';
import 'prismjs/components/prism-json.js';
import 'prismjs/components/prism-rust.js';
import 'prismjs/components/prism-go.js';
import 'prismjs/components/prism-c.js';
import 'prismjs/components/prism-cpp.js';
import 'prismjs/components/prism-java.js';
import 'prismjs/components/prism-csharp.js';
import 'prismjs/components/prism-bash.js';
import { diffWordsWithSpace } from 'diff';

/** VS Code language ids → Prism grammars. */
const grammarOf: Record<string, string> = {
  typescript: 'typescript',
  typescriptreact: 'tsx',
  javascript: 'javascript',
  javascriptreact: 'jsx',
  python: 'python',
  json: 'json',
  jsonc: 'json',
  rust: 'rust',
  go: 'go',
  c: 'c',
  cpp: 'cpp',
  java: 'java',
  csharp: 'csharp',
  css: 'css',
  shellscript: 'bash',
};

interface Segment {
  text: string;
  classes: string[];
}

function flatten(tokens: (string | Prism.Token)[], classes: string[], out: Segment[]): void {
  for (const token of tokens) {
    if (typeof token === 'string') {
      out.push({ text: token, classes });
      continue;
    }
    const own = [
      `token`,
      token.type,
      ...(Array.isArray(token.alias) ? token.alias : token.alias ? [token.alias] : []),
    ];
    const content = token.content;
    flatten(Array.isArray(content) ? content : [content], [...classes, ...own], out);
  }
}

export function tokenize(text: string, language: string): Segment[] {
  const grammar = Prism.languages[grammarOf[language] ?? ''];
  if (!grammar) return [{ text, classes: [] }];
  const out: Segment[] = [];
  flatten(Prism.tokenize(text, grammar), [], out);
  return out;
}

/** Character ranges [start, end) of `text` that are not in `reference`, word by word. */
export function changedRanges(reference: string, text: string): [number, number][] {
  const ranges: [number, number][] = [];
  let offset = 0;
  for (const part of diffWordsWithSpace(reference, text)) {
    if (part.removed) continue;
    const end = offset + part.value.length;
    if (part.added && part.value.trim() !== '') ranges.push([offset, end]);
    offset = end;
  }
  return ranges;
}

/** Fills `target` with highlighted `text`, wrapping the changed ranges in <mark class="diff">. */
export function renderCode(
  target: HTMLElement,
  text: string,
  language: string,
  changed: [number, number][],
): void {
  const fragment = document.createDocumentFragment();
  let offset = 0;
  let r = 0;
  for (const segment of tokenize(text, language)) {
    let start = 0;
    while (start < segment.text.length) {
      const at = offset + start;
      while (r < changed.length && changed[r]![1] <= at) r++;
      const range = changed[r];
      const inside = range !== undefined && range[0] <= at;
      const boundary = inside ? range[1] : range ? range[0] : Infinity;
      const end = Math.min(segment.text.length, boundary - offset);
      const span = document.createElement(inside ? 'mark' : 'span');
      if (inside) span.classList.add('diff');
      if (segment.classes.length) span.classList.add(...segment.classes);
      span.textContent = segment.text.slice(start, end);
      fragment.append(span);
      start = end;
    }
    offset += segment.text.length;
  }
  target.replaceChildren(fragment);
}
