import assert from 'node:assert/strict';
import { test } from 'node:test';
import { reindented, textToInsert, withLineEndings } from '../../../src/extension/compare/completionText.ts';

const twoSpaces = { insertSpaces: true, tabSize: 2, indentSize: 2 };
const fourSpaces = { insertSpaces: true, tabSize: 4, indentSize: 4 };
const tabs = { insertSpaces: false, tabSize: 4, indentSize: 4 };

test('line endings follow the document: CRLF and lone CR become LF in an LF file, and the reverse', () => {
  assert.equal(withLineEndings('a\r\nb\rc\nd', '\n'), 'a\nb\nc\nd');
  assert.equal(withLineEndings('a\nb\r\nc', '\r\n'), 'a\r\nb\r\nc');
  assert.equal(withLineEndings('no break', '\r\n'), 'no break');
});

test('a four-space candidate goes into a two-space file at two spaces per level, relative to the target line', () => {
  const candidate = 'if (x) {\n      return 1;\n  }';
  assert.equal(reindented(candidate, '  ', twoSpaces), 'if (x) {\n    return 1;\n  }');
});

test('a two-space candidate goes into a four-space file at four spaces per level', () => {
  const candidate = '{\n      x();\n    }\n  done();';
  assert.equal(reindented(candidate, '    ', fourSpaces), '{\n        x();\n    }\ndone();');
});

test('with tabs in the editor, levels are written as tabs', () => {
  assert.equal(reindented('if (x) {\n        y();\n    }', '\t', tabs), 'if (x) {\n\t\ty();\n\t}');
  assert.equal(reindented('{\n\t\ty();\n\t}', '\t', twoSpaces), '{\n    y();\n  }');
});

test('one-line candidates, blank lines and one-column alignment keep their text', () => {
  assert.equal(reindented('return a + b;', '    ', twoSpaces), 'return a + b;');
  assert.equal(reindented('/**\n   * doc\n   */', '  ', fourSpaces), '/**\n   * doc\n   */');
  assert.equal(reindented('{\n\n    x;\n}', '', twoSpaces), '{\n\n  x;\n}');
});

test('what Insert writes: re-indented and in the document line endings, one CRLF never doubled', () => {
  assert.equal(textToInsert('{\r\n    x;\r\n}', '', twoSpaces, '\n'), '{\n  x;\n}');
  assert.equal(textToInsert('{\n    x;\n}', '', twoSpaces, '\r\n'), '{\r\n  x;\r\n}');
});
