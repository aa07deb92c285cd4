import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FIXTURE_VOCAB_SIZE, fixtureTokenizer } from '../../../scripts/fixtures/make-checkpoints.ts';
import { CheckpointTokenizer } from '../../../src/engine/hf/tokenizer.ts';
import type { KvDecoder } from '../../../src/engine/runtime/session.ts';
import { endsCandidate, sampleCandidates } from '../../../src/engine/sample/sampler.ts';

/** A decoder whose every step puts all the probability on the next token of `script`. */
function scriptedDecoder(script: number[]): KvDecoder {
  let at = 0;
  const logits = () => {
    const row = new Float32Array(FIXTURE_VOCAB_SIZE).fill(-1e9);
    row[script[Math.min(at++, script.length - 1)]!] = 0;
    return row;
  };
  const fake = {
    config: { vocabSize: FIXTURE_VOCAB_SIZE, maxPositions: 512 },
    reset: () => undefined,
    select: () => undefined,
    step: () => Promise.resolve(logits()),
  };
  return fake as unknown as KvDecoder;
}

function tokenizerWith(
  edit: (addedTokens: { content: string; special: boolean }[]) => void = () => undefined,
): CheckpointTokenizer {
  const { tokenizer, config } = structuredClone(fixtureTokenizer());
  edit(tokenizer['added_tokens'] as { content: string; special: boolean }[]);
  return new CheckpointTokenizer(tokenizer, config);
}

async function sampleScript(tokenizer: CheckpointTokenizer, script: number[]) {
  const streamed: string[] = [''];
  const result = await sampleCandidates(
    scriptedDecoder(script),
    tokenizer,
    tokenizer.encode('function f() {'),
    {
      n: 1,
      maxTokens: script.length,
      seed: 1,
      temperature: 0,
      topK: 0,
      topP: 1,
      minP: 0,
      stopStrings: [],
      stopTokens: [],
    },
    { onText: (i, text) => (streamed[i] += text) },
  );
  return { candidate: result.candidates[0]!, streamed: streamed[0]! };
}

test('a special token the model writes ends the candidate and never appears in its text', async () => {
  const tokenizer = tokenizerWith();
  const pad = tokenizer.tokenId('<|fim_pad|>')!;
  assert.ok(tokenizer.isSpecial(pad), 'the fixture flags <|fim_pad|> special');
  const code = tokenizer.encode(' return 1;');
  const { candidate, streamed } = await sampleScript(tokenizer, [...code, pad, ...tokenizer.encode(' more')]);
  assert.equal(candidate.text, ' return 1;');
  assert.equal(streamed, ' return 1;');
  assert.equal(candidate.finish, 'stop');
  assert.equal(candidate.tokens, code.length);
});

test('a control marker ends the candidate even where the tokenizer does not flag it special (Qwen2.5)', async () => {
  const tokenizer = tokenizerWith((added) => {
    for (const t of added) if (t.content === '<|file_sep|>') t.special = false;
  });
  const separator = tokenizer.tokenId('<|file_sep|>')!;
  assert.equal(tokenizer.isSpecial(separator), false);
  assert.ok(endsCandidate(tokenizer, separator));
  const { candidate } = await sampleScript(tokenizer, [
    ...tokenizer.encode('x'),
    separator,
    ...tokenizer.encode('y'),
  ]);
  assert.equal(candidate.text, 'x');
  assert.equal(candidate.finish, 'stop');
});

test('ordinary tokens, "<" and "|" included, do not end a candidate', () => {
  const tokenizer = tokenizerWith();
  for (const text of ['a || b', '<div>', '<T>(x: T)', ' return']) {
    for (const id of tokenizer.encode(text))
      assert.equal(
        endsCandidate(tokenizer, id),
        false,
        `${JSON.stringify(tokenizer.tokenText(id))} in ${text}`,
      );
  }
});
