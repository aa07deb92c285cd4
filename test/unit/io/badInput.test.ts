import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { importPairs } from '../../../src/io/importPairs.ts';
import { DEFAULT_MAX_LINE_BYTES } from '../../../src/io/lines.ts';
import { openStore } from '../../../src/store/store.ts';
// eslint-disable-next-line no-restricted-imports -- SQLite's full integrity check, which no store method runs
import { connectionOf } from '../../../src/store/connection.ts';
import { tempDir } from './helpers.ts';

const dir = tempDir('bad-input');

const good = (i: number) =>
  Buffer.from(JSON.stringify({ prompt: `const v${i} = `, chosen: `${i};`, rejected: `${i}` }));
const json = (v: unknown) => Buffer.from(JSON.stringify(v));

/** One kind of bad line: its bytes and the reason the importer must give (undefined: the line is good). */
type Case = [kind: string, bytes: Buffer, reason: RegExp | undefined];

const corpus: Case[] = [
  ['BOM before the first line', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), good(1)]), undefined],
  ['invalid JSON', Buffer.from('{"prompt": "a", "chosen": "b", '), /invalid JSON/],
  ['a good line', good(2), undefined],
  [
    'wrong type for chosen',
    json({ prompt: 'a', chosen: 42, rejected: 'b' }),
    /field "chosen" must be a string, not number/,
  ],
  ['missing rejected', json({ prompt: 'a', chosen: 'b' }), /missing field "rejected"/],
  ['empty chosen', json({ prompt: 'a', chosen: '', rejected: 'b' }), /field "chosen" is empty/],
  [
    'whitespace-only rejected',
    json({ prompt: 'a', chosen: 'b', rejected: '  \n' }),
    /field "rejected" is empty/,
  ],
  ['chosen == rejected', json({ prompt: 'a', chosen: 'same', rejected: 'same' }), /same text/],
  ['CRLF line end', Buffer.concat([good(3), Buffer.from('\r')]), undefined],
  [
    'huge line',
    Buffer.concat([
      Buffer.from('{"prompt":"'),
      Buffer.alloc(DEFAULT_MAX_LINE_BYTES, 0x61),
      Buffer.from('"}'),
    ]),
    /longer than/,
  ],
  [
    'invalid UTF-8',
    Buffer.concat([
      Buffer.from('{"prompt":"a","chosen":"'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('","rejected":"b"}'),
    ]),
    /not valid UTF-8/,
  ],
  ['a JSON array, not an object', json([1, 2]), /must be a JSON object, not an array/],
  ['a JSON string', json('prompt'), /must be a JSON object, not string/],
  ['an object of no known format', json({ question: 'a', answer: 'b' }), /not a preference pair/],
  [
    'an openai line in a trl file',
    json({
      input: { messages: [{ role: 'user', content: 'a' }] },
      preferred_output: [{ role: 'assistant', content: 'b' }],
      non_preferred_output: [{ role: 'assistant', content: 'c' }],
    }),
    /openai format but the file is trl/,
  ],
  [
    'a conversational line in a trl file',
    json({
      prompt: [{ role: 'user', content: 'a' }],
      chosen: [{ role: 'assistant', content: 'b' }],
      rejected: [{ role: 'assistant', content: 'c' }],
    }),
    /trl-conversational format but the file is trl/,
  ],
  [
    'wrong type for an extra field',
    json({ prompt: 'a', chosen: 'b', rejected: 'c', language: 7 }),
    /field "language" must be a string/,
  ],
  ['confidence out of range', json({ prompt: 'a', chosen: 'b', rejected: 'c', confidence: 3 }), /confidence/],
  [
    'null prompt',
    json({ prompt: null, chosen: 'b', rejected: 'c' }),
    /field "prompt" must be a string, not null/,
  ],
  [
    'a lone surrogate in chosen (UTF-8 has no form for it: stored, it would become U+FFFD)',
    Buffer.from('{"prompt":"a","chosen":"x\\ud800","rejected":"x\\udbff"}'),
    /^field "chosen" has a lone surrogate \(\\ud800\)/,
  ],
  [
    'a lone low surrogate in the prompt',
    Buffer.from('{"prompt":"a\\udc00b","chosen":"x","rejected":"y"}'),
    /^field "prompt" has a lone surrogate \(\\udc00\)/,
  ],
  ['a good line after the bad ones', good(4), undefined],
  [
    'a surrogate pair (an emoji, written escaped)',
    Buffer.from('{"prompt":"e","chosen":"\\ud83d\\ude00","rejected":"f"}'),
    undefined,
  ],
  ['a repeat of a good line', good(2), undefined],
  ['a lone NUL byte inside a string', json({ prompt: 'a', chosen: 'b\u0000', rejected: 'c' }), undefined],
];

describe('bad input', () => {
  it(`reports each of ${corpus.length} kinds of bad line with its line number and imports every good line`, async () => {
    const file = join(dir, 'corpus.jsonl');
    // A blank line between cases checks that line numbers count blank lines too.
    const parts: Buffer[] = [];
    corpus.forEach(([, bytes], i) => parts.push(bytes, Buffer.from(i === 5 ? '\n\n' : '\n')));
    writeFileSync(file, Buffer.concat(parts));
    const lineOf = (i: number) => i + 1 + (i > 5 ? 1 : 0);

    const store = openStore(join(dir, 'corpus.sqlite'));
    const result = await importPairs(store, file);

    const expectedErrors = corpus.flatMap(([kind, , reason], i) =>
      reason ? [{ kind, line: lineOf(i), reason }] : [],
    );
    assert.ok(expectedErrors.length >= 10, 'the corpus has at least ten kinds of bad line');
    assert.deepEqual(
      result.errors.map((e) => e.line),
      expectedErrors.map((e) => e.line),
    );
    result.errors.forEach((e, i) =>
      assert.match(e.message, expectedErrors[i]!.reason, expectedErrors[i]!.kind),
    );
    assert.equal(result.errorCount, expectedErrors.length);

    assert.equal(result.imported, 6, 'six distinct good lines');
    assert.equal(result.skipped, 1, 'the repeat');
    const stored = [...store.iteratePairs()].map((p) => [p.prefix, p.chosen, p.rejected]);
    assert.deepEqual(stored, [
      ['const v1 = ', '1;', '1'],
      ['const v2 = ', '2;', '2'],
      ['const v3 = ', '3;', '3'],
      ['const v4 = ', '4;', '4'],
      ['e', '\u{1f600}', 'f'],
      ['a', 'b\u0000', 'c'],
    ]);
    assert.equal(connectionOf(store).pragma('integrity_check', { simple: true }), 'ok');
    store.close();
  });

  it('rejects conversational lines with the wrong roles or several turns, naming the field', async () => {
    const file = join(dir, 'conversational.jsonl');
    const msg = (role: string, content: unknown) => ({ role, content });
    const lines = [
      { prompt: [msg('user', 'a')], chosen: [msg('assistant', 'b')], rejected: [msg('assistant', 'c')] },
      { prompt: [msg('system', 'a')], chosen: [msg('assistant', 'b')], rejected: [msg('assistant', 'c')] },
      {
        prompt: [msg('user', 'a'), msg('user', 'b')],
        chosen: [msg('assistant', 'b')],
        rejected: [msg('assistant', 'c')],
      },
      { prompt: [msg('user', 'a')], chosen: [msg('assistant', 5)], rejected: [msg('assistant', 'c')] },
      { prompt: [msg('user', 'a')], chosen: 'b', rejected: [msg('assistant', 'c')] },
    ];
    writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n'));
    const store = openStore(join(dir, 'conversational.sqlite'));
    const result = await importPairs(store, file);
    assert.equal(result.imported, 1);
    assert.deepEqual(
      result.errors.map((e) => [e.line, e.message]),
      [
        [2, 'field "prompt[0].role" must be "user", not "system"'],
        [3, 'field "prompt" must hold exactly one user message (has 2); multi-turn data is not supported'],
        [4, 'field "chosen[0].content" must be a string, not number'],
        [5, 'field "chosen" must be a list of messages, not string'],
      ],
    );
    store.close();
  });

  it('rejects openai lines with a missing input, naming the field', async () => {
    const file = join(dir, 'openai.jsonl');
    const out = (content: string) => [{ role: 'assistant', content }];
    writeFileSync(
      file,
      [
        {
          input: { messages: [{ role: 'user', content: 'q' }] },
          preferred_output: out('a'),
          non_preferred_output: out('b'),
        },
        { preferred_output: out('a'), non_preferred_output: out('b') },
        { input: { messages: [{ role: 'user', content: 'q' }] }, preferred_output: out('a') },
        { input: [], preferred_output: out('a'), non_preferred_output: out('b') },
      ]
        .map((l) => JSON.stringify(l))
        .join('\r\n'),
    );
    const store = openStore(join(dir, 'openai.sqlite'));
    const result = await importPairs(store, file, { format: 'openai' });
    assert.equal(result.imported, 1);
    assert.deepEqual(
      result.errors.map((e) => [e.line, e.message]),
      [
        [2, 'missing field "input"'],
        [3, 'missing field "non_preferred_output"'],
        [4, 'field "input" must be an object, not array'],
      ],
    );
    store.close();
  });
});
