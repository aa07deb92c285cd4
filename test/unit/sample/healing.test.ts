import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CheckpointTokenizer } from '../../../src/engine/hf/tokenizer.ts';
import { Engine } from '../../../src/engine/sample/engine.ts';
import { TokenTexts } from '../../../src/engine/sample/healing.ts';
import { type BuiltPrompt, buildPrompt } from '../../../src/engine/sample/prompt.ts';
import { seededRandom } from '../../../src/engine/sample/distribution.ts';

/** The text a prompt removed for healing ('' when it removed none). */
const healedText = (prompt: BuiltPrompt) => prompt.healing?.text ?? '';

const modelDir = join(import.meta.dirname, '../../../models/default');
let cache: string;
let engine: Engine;
let tokenizer: CheckpointTokenizer;
let texts: TokenTexts;

before(async () => {
  cache = mkdtempSync(join(tmpdir(), 'prefer-healing-'));
  engine = await Engine.open({ modelDir, cacheDir: cache, threads: 1 });
  tokenizer = engine.tokenizer;
  texts = engine.tokenTexts();
});

after(async () => {
  await engine.close();
  rmSync(cache, { recursive: true, force: true });
});

/**
 * A SentencePiece vocabulary in Llama 2's tokenizer.json layout: "▁" for spaces (Prepend + Replace
 * normalizer), byte fallback, and a decoder that strips the space of a sequence's first token.
 */
function sentencePieceTokenizer(): CheckpointTokenizer {
  const pieces = ['<unk>', '<s>', '</s>'];
  for (let b = 0; b < 256; b++) pieces.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  const merges = [
    ['▁', '▁'],
    ['c', 'o'],
    ['n', 's'],
    ['co', 'ns'],
    ['cons', 't'],
    ['▁', 'const'],
    ['▁', 'cons'],
    ['▁', 'c'],
    ['▁', 'x'],
    ['▁', '='],
    ['▁', '1'],
    ['r', 'e'],
    ['t', 'u'],
    ['re', 'tu'],
    ['retu', 'r'],
    ['retur', 'n'],
    ['▁', 'return'],
  ];
  const letters = ['▁', ...'abcdefghijklmnopqrstuvwxyz0123456789=;(){}.,'];
  const vocab: Record<string, number> = {};
  for (const p of [...pieces, ...letters, ...merges.map(([a, b]) => a! + b!)])
    vocab[p] ??= Object.keys(vocab).length;
  const json = {
    version: '1.0',
    added_tokens: [0, 1, 2].map((id) => ({
      id,
      content: pieces[id],
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: '▁' },
        { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
      ],
    },
    pre_tokenizer: null,
    post_processor: null,
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab,
      merges: merges.map((m) => m.join(' ')),
    },
  };
  return new CheckpointTokenizer(json, { bos_token: '<s>', eos_token: '</s>' });
}

function randomSequences(table: TokenTexts, count: number, seed: number): number[][] {
  const valid = Array.from({ length: table.vocabSize }, (_, id) => id).filter(
    (id) => table.text(id) !== null,
  );
  const random = seededRandom(seed);
  return Array.from({ length: count }, () =>
    Array.from({ length: 1 + Math.floor(random() * 6) }, () => valid[Math.floor(random() * valid.length)]!),
  );
}

test('token texts of the byte-level vocabulary concatenate to the decoded text of any sequence', () => {
  for (const ids of randomSequences(texts, 500, 1)) {
    assert.equal(ids.map((id) => texts.text(id)).join(''), tokenizer.decode(ids), `ids ${ids}`);
  }
  assert.equal(texts.text(tokenizer.tokenId('<|endoftext|>')!), null, 'special tokens are never allowed');
  assert.equal(texts.text(tokenizer.fim!.middle.id), null);
  // lone continuation bytes (Ġ-mapped 0x80–0xBF) are not complete UTF-8
  const partial = tokenizer.encode('é€').filter((id) => texts.text(id) === null);
  assert.ok(partial.length > 0, 'a multi-byte character split over tokens has tokens without text');
});

test('token texts of a SentencePiece vocabulary keep the word-boundary space a lone decode drops', () => {
  const sp = sentencePieceTokenizer();
  const table = TokenTexts.of(sp);
  const cons = sp.tokenId('▁cons')!;
  assert.equal(sp.decode([cons]), 'cons');
  assert.equal(table.text(cons), ' cons');
  assert.equal(table.text(sp.tokenId('<0x41>')!), 'A', 'a byte token of an ASCII character spells it');
  assert.equal(table.text(sp.tokenId('<0xC3>')!), null, 'a lead byte alone is not complete UTF-8');
  assert.equal(table.text(sp.tokenId('<s>')!), null);
  const anchor = sp.tokenId('a')!;
  for (const ids of randomSequences(table, 300, 2)) {
    assert.equal('a' + ids.map((id) => table.text(id)).join(''), sp.decode([anchor, ...ids]), `ids ${ids}`);
  }
});

test('the prompt backs up a trailing newline-and-indentation token and an identifier fragment', () => {
  const healing = { texts, banned: [] };
  const indent =
    'export function check(items) {\n    for (const item of items) {\n        if (!item) {\n            ';
  const prompt = buildPrompt(tokenizer, indent, '', undefined, healing);
  const ids = tokenizer.encode(indent);
  assert.equal(tokenizer.decode(ids.slice(-1)), '\n            ', 'the indentation is one token');
  assert.deepEqual(prompt.ids, ids.slice(0, -1));
  assert.equal(healedText(prompt), '\n            ');

  const fragment = buildPrompt(tokenizer, 'function f() {\n  cons', '', undefined, healing);
  assert.equal(healedText(fragment), ' cons');
  assert.equal(tokenizer.decode(fragment.ids) + healedText(fragment), 'function f() {\n  cons');

  // with a FIM template only the prefix is backed up; the markers and the suffix stay
  const fim = tokenizer.fim!;
  const infill = buildPrompt(tokenizer, 'const x = va', ';\n', undefined, healing);
  assert.deepEqual(infill.ids, [
    fim.prefix.id,
    ...tokenizer.encode('const x = va').slice(0, -1),
    fim.suffix.id,
    ...tokenizer.encode(';\n'),
    fim.middle.id,
  ]);
  assert.equal(healedText(infill), tokenizer.decode(tokenizer.encode('const x = va').slice(-1)));

  // without healing the prompt is the whole prefix
  assert.deepEqual(buildPrompt(tokenizer, indent, '').ids, ids);
  assert.equal(healedText(buildPrompt(tokenizer, indent, '')), '');

  const sp = sentencePieceTokenizer();
  const spPrompt = buildPrompt(sp, 'x = 1; cons', '', undefined, { texts: TokenTexts.of(sp), banned: [] });
  assert.equal(healedText(spPrompt), ' cons');
  assert.equal(
    spPrompt.healing?.rendered,
    'cons',
    'a completion that starts the decode renders it without its space',
  );
  // what the sampler cuts: a completion spelling " cons" then "t" streams "cons" + "t", whatever its pieces
  const plan = spPrompt.healing!;
  for (const spelling of [['▁const'], ['▁cons', 't'], ['▁c', 'o', 'n', 's', 't']]) {
    const ids = spelling.map((piece) => sp.tokenId(piece)!);
    const stream = sp.streamDecoder();
    const decoded = ids.map((id) => stream.push(id)).join('') + stream.flush();
    assert.equal(decoded.slice(0, plan.rendered.length), plan.rendered, spelling.join(' '));
    assert.equal(decoded.slice(plan.rendered.length), 't');
  }
  assert.ok(plan.allowedAt(0).includes(sp.tokenId('▁const')!));
});

test('the prompt never backs up over a special token, a partial character, or an empty prefix', () => {
  const healing = { texts, banned: [] };
  const special = buildPrompt(tokenizer, 'let a = 1;<|endoftext|>', '', undefined, healing);
  assert.equal(healedText(special), '');
  assert.deepEqual(special.ids, tokenizer.encode('let a = 1;<|endoftext|>'));
  assert.equal(
    healedText(buildPrompt(tokenizer, 'const s = "é€', '', undefined, healing)),
    '',
    'the last token is a byte of €',
  );
  const empty = buildPrompt(tokenizer, '', 'return x;', undefined, healing);
  assert.equal(healedText(empty), '');
  assert.equal(empty.healing, null);
  // a prefix-only prompt without BOS keeps its only token: the model needs something to read
  const lone = buildPrompt(tokenizer, 'function', '', undefined, healing);
  assert.equal(tokenizer.encode('function').length, 1);
  assert.equal(healedText(lone), '');
  assert.equal(lone.ids.length, 1);
});

test('a vocabulary without a plain letter token to decode after is never healed', () => {
  const symbolsOnly = {
    vocabSize: 3,
    decode: (ids: readonly number[]) => ids.map((id) => '+-*'[id]).join(''),
    tokenId: () => null,
    isSpecial: () => false,
  };
  const table = TokenTexts.of(symbolsOnly);
  assert.deepEqual(
    [0, 1, 2].map((id) => table.text(id)),
    [null, null, null],
  );
  assert.equal(table.plan(0), null);
});

test('a forced text no allowed tokens can spell is not backed up, and dead-end spellings are never offered', () => {
  // ids: 0 "xyz", 1 "x", 2 "yz", 3 "q", 4 "xy" (nothing starts with "z": "xy" leads nowhere)
  const table = new TokenTexts(['xyz', 'x', 'yz', 'q', 'xy']);
  assert.deepEqual(table.plan(0)!.allowedAt(0).sort(), [0, 1]);
  assert.deepEqual(table.plan(0)!.allowedAt(1), [2]);
  // with "yz" a stop token, "x" leads nowhere too: only "xyz" itself may be chosen
  assert.deepEqual(table.plan(0, [2])!.allowedAt(0), [0]);
  assert.equal(table.plan(0, [0, 2]), null, 'nothing may spell "xyz"');
  const tokenizerStub = { encode: (t: string) => (t === 'xyz' ? [3, 0] : [3]), fim: null, bosTokenId: null };
  const prompt = buildPrompt(tokenizerStub, 'xyz', '', undefined, { texts: table, banned: [0, 2] });
  assert.deepEqual(prompt.ids, [3, 0]);
  assert.equal(healedText(prompt), '');
});

test('a token may finish the forced text, or be the longest piece it starts with', () => {
  // with "z" in the vocabulary "xy" is the longest piece of "xyz" that leaves a spellable rest; "x" is not offered
  const table = new TokenTexts(['xyz', 'x', 'yz', 'q', 'xy', 'z']);
  assert.deepEqual(table.plan(0)!.allowedAt(0).sort(), [0, 4]);
  assert.deepEqual(table.plan(0)!.allowedAt(2), [5]);

  // the real vocabulary: at every point a candidate can reach, the allowed set is exactly that rule
  for (const forced of ['\n            ', ' cons', '();', '    ']) {
    const [id] = tokenizer.encode(forced);
    assert.equal(texts.text(id!), forced, `one token spells ${JSON.stringify(forced)}`);
    const plan = texts.plan(id!)!;
    for (let offset = 0; offset < forced.length; offset++) {
      const remaining = forced.slice(offset);
      const finishing: number[] = [];
      let longest: number[] = [];
      for (let t = 0; t < texts.vocabSize; t++) {
        const text = texts.text(t);
        if (text === null) continue;
        if (text.startsWith(remaining)) finishing.push(t);
        else if (remaining.startsWith(text)) {
          const best = longest.length > 0 ? texts.text(longest[0]!)!.length : 0;
          if (text.length > best) longest = [t];
          else if (text.length === best) longest.push(t);
        }
      }
      const expected = [...finishing, ...longest].sort((a, b) => a - b);
      assert.deepEqual(
        plan.allowedAt(offset).sort((a, b) => a - b),
        expected,
        `${JSON.stringify(remaining)}`,
      );
    }
  }
  const indent = texts.plan(tokenizer.encode('\n            ')[0]!)!;
  assert.ok(
    indent.allowedAt(0).includes(tokenizer.encode('\n           ')[0]!),
    'eleven spaces, then " let"',
  );
  assert.ok(!indent.allowedAt(0).includes(tokenizer.encode('\n')[0]!), 'a bare newline is never offered');
});

test('the mask keeps the allowed logits and sets every other token, stop tokens included, to -Infinity', () => {
  const plan = texts.plan(tokenizer.encode(' cons')[0]!)!;
  const stop = plan.allowedAt(0).slice(0, 2);
  const allowed = new Set(plan.allowedAt(0, new Set(stop)));
  assert.ok(allowed.size > 0 && stop.every((id) => !allowed.has(id)));
  const logits = Float32Array.from({ length: texts.vocabSize }, (_, i) => Math.sin(i));
  const masked = new Float32Array(texts.vocabSize);
  assert.ok(plan.mask(logits, 0, new Set(stop), masked));
  for (let id = 0; id < texts.vocabSize; id++) {
    assert.equal(masked[id], allowed.has(id) ? logits[id] : -Infinity, `id ${id}`);
  }
});

const indentPrefix =
  'export function check(items) {\n    for (const item of items) {\n        if (!item) {\n            ';

test('after indentation the healed completion starts with code where the unhealed one adds spaces or stops', async () => {
  const raw = await engine.complete({
    prefix: indentPrefix,
    n: 1,
    maxTokens: 8,
    temperature: 0,
    seed: 1,
    heal: false,
  });
  const healed = await engine.complete({ prefix: indentPrefix, n: 1, maxTokens: 8, temperature: 0, seed: 1 });
  // unhealed, the prefix ends in a whitespace token training text never has there: the model adds spaces (or,
  // trained on statement infills, ends at once)
  assert.match(raw.candidates[0]!.text, /^(\s|$)/, `unhealed ${JSON.stringify(raw.candidates[0]!.text)}`);
  assert.match(healed.candidates[0]!.text, /^\S/, `healed ${JSON.stringify(healed.candidates[0]!.text)}`);
  const c = healed.candidates[0]!;
  assert.equal(c.tokens, 8, 'healing tokens count towards maxTokens');
  assert.ok(Number.isFinite(c.logprob) && c.logprob < 0);
  // an identifier fragment is completed, not restarted
  // in a FIM prompt too, where a bare newline and one-space pieces would spend the whole budget on spaces
  const infill = await engine.complete({
    prefix:
      'export function toView(arg0) {\n    if (arg0 instanceof ArrayBuffer) {\n        return new Uint8Array(arg0);\n    }\n' +
      '    if (ArrayBuffer.isView(arg0)) {\n        const buffer = arg0.buffer;\n        let byteOffset = 0;\n        ',
    suffix:
      'let byteLength = arg0.byteLength;\n        return new Uint8Array(buffer, byteOffset, byteLength);\n    }\n}\n',
    n: 1,
    maxTokens: 24,
    temperature: 0,
    seed: 1,
    heal: true,
  });
  const filled = infill.candidates[0]!;
  assert.ok(!(filled.finish === 'length' && filled.text.trim() === ''), `the budget went on whitespace: ${JSON.stringify(filled.text)}`);
  const word = await engine.complete({
    prefix: 'export function main() {\n  const x = 1;\n  ret',
    n: 1,
    maxTokens: 4,
    temperature: 0,
    seed: 1,
  });
  assert.match(word.candidates[0]!.text, /^urn\b/, JSON.stringify(word.candidates[0]!.text));
});

test('streamed text adds up to each healed candidate’s final text', async () => {
  for (const suffix of ['', '\n        }\n    }\n}\n']) {
    const streamed = ['', '', '', ''];
    const r = await engine.complete(
      { prefix: indentPrefix, suffix, n: 4, maxTokens: 12, temperature: 1, seed: 7, heal: true },
      { onText: (i, t) => (streamed[i] += t) },
    );
    assert.deepEqual(
      streamed,
      r.candidates.map((c) => c.text),
    );
    for (const c of r.candidates) assert.ok(!c.text.startsWith('\n            '), 'the forced text is cut');
  }
});

test('stop strings see only the text after the cursor and still cut exactly', async () => {
  const full = (await engine.complete({ prefix: indentPrefix, n: 1, maxTokens: 16, temperature: 0, seed: 1 }))
    .candidates[0]!.text;
  // the forced text is a newline and spaces: a stop at "\n" would end the candidate at once if it saw them
  const line = await engine.complete({
    prefix: indentPrefix,
    n: 1,
    maxTokens: 16,
    temperature: 0,
    seed: 1,
    stopStrings: ['\n'],
  });
  assert.ok(full.includes('\n'), JSON.stringify(full));
  assert.equal(line.candidates[0]!.text, full.slice(0, full.indexOf('\n')));
  assert.ok(line.candidates[0]!.text.length > 0);
  assert.equal(line.candidates[0]!.finish, 'stop');
  const stop = full.slice(2, 4);
  const cut = await engine.complete({
    prefix: indentPrefix,
    n: 1,
    maxTokens: 16,
    temperature: 0,
    seed: 1,
    stopStrings: [stop],
  });
  assert.equal(cut.candidates[0]!.text, full.slice(0, full.indexOf(stop)));
});

test('heals a prefix-only prompt by default and leaves a FIM prompt as typed unless asked', async () => {
  const suffix = '\n        }\n    }\n}\n';
  const request = { prefix: indentPrefix, n: 1, maxTokens: 6, temperature: 0, seed: 1 };
  const same = async (a: object, b: object) => (await engine.complete({ ...request, ...a })).candidates[0]!.text === (await engine.complete({ ...request, ...b })).candidates[0]!.text;
  assert.ok(await same({}, { heal: true }));
  assert.ok(!(await same({}, { heal: false })), 'prefix-only: the default is healed');
  assert.ok(await same({ suffix }, { suffix, heal: false }));
  assert.ok(!(await same({ suffix }, { suffix, heal: true })), 'FIM: the default is not healed');
});
