import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';
import { Engine } from '../../../src/engine/sample/engine.ts';

let dir: string;
let engine: Engine;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'prefer-sampler-'));
  const modelDir = await makeCheckpoint('qwen2', join(dir, 'qwen2'));
  engine = await Engine.open({ modelDir, cacheDir: join(dir, 'cache'), threads: 1 });
});

after(async () => {
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
});

const prefix = 'function add(a, b) {\n  return';

test('the same seed gives the same candidates; another seed gives others', async () => {
  const request = { prefix, n: 3, maxTokens: 12, temperature: 1, stopTokens: [] };
  const a = await engine.complete({ ...request, seed: 5 });
  const b = await engine.complete({ ...request, seed: 5 });
  const c = await engine.complete({ ...request, seed: 6 });
  assert.deepEqual(a.candidates, b.candidates);
  assert.notDeepEqual(a.candidates.map((x) => x.text), c.candidates.map((x) => x.text));
  for (const cand of a.candidates) {
    assert.equal(cand.tokens, 12);
    assert.equal(cand.finish, 'length');
    assert.ok(cand.logprob < 0);
  }
});

test('candidates in one batch match sampling each alone (batched decode changes nothing)', async () => {
  const batch = await engine.complete({ prefix, n: 3, maxTokens: 8, temperature: 0.8, seed: 11, stopTokens: [] });
  const alone = await engine.complete({ prefix, n: 1, maxTokens: 8, temperature: 0.8, seed: 11, stopTokens: [] });
  assert.equal(alone.candidates[0]!.text, batch.candidates[0]!.text);
  assert.ok(Math.abs(alone.candidates[0]!.logprob - batch.candidates[0]!.logprob) < 1e-3);
});

test('greedy decoding gives identical candidates and a stop string cuts them exactly', async () => {
  const full = await engine.complete({ prefix, n: 2, maxTokens: 24, temperature: 0, seed: 1, stopTokens: [] });
  const text = full.candidates[0]!.text;
  assert.equal(full.candidates[1]!.text, text);
  assert.ok(text.length >= 6, `greedy text ${JSON.stringify(text)}`);
  const stop = text.slice(3, 5);
  const cut = await engine.complete({ prefix, n: 2, maxTokens: 24, temperature: 0, seed: 1, stopTokens: [], stopStrings: [stop] });
  assert.equal(cut.candidates[0]!.text, text.slice(0, text.indexOf(stop)));
  assert.equal(cut.candidates[0]!.finish, 'stop');
});

test('streams each candidate’s text, which adds up to its final text', async () => {
  const streamed = ['', ''];
  const r = await engine.complete(
    { prefix, n: 2, maxTokens: 16, temperature: 1, seed: 3, stopTokens: [] },
    { onText: (i, t) => (streamed[i] += t) },
  );
  assert.deepEqual(streamed, r.candidates.map((c) => c.text));
  assert.ok(r.timing.prefill_ms > 0 && r.timing.first_token_ms >= r.timing.prefill_ms && r.timing.decode_tok_s > 0);
});

test('a stop token ends a candidate without adding to its text', async () => {
  // without healing: a healing candidate's first token respells the prompt's end and is never a stop token
  const greedy = await engine.complete({ prefix, n: 1, maxTokens: 6, temperature: 0, seed: 1, stopTokens: [], heal: false });
  const first = engine.tokenizer.encode(greedy.candidates[0]!.text)[0]!;
  const r = await engine.complete({ prefix, n: 1, maxTokens: 6, temperature: 0, seed: 1, stopTokens: [first], heal: false });
  assert.equal(r.candidates[0]!.text, '');
  assert.equal(r.candidates[0]!.tokens, 0);
  assert.equal(r.candidates[0]!.finish, 'stop');
});

test('cancelling stops sampling within a second and keeps what was generated', async () => {
  const controller = new AbortController();
  let tokens = 0;
  let abortedAt = 0;
  const pending = engine.complete(
    { prefix, n: 4, maxTokens: 100000, temperature: 1, seed: 2, stopTokens: [] },
    {
      signal: controller.signal,
      onText: () => {
        if (++tokens === 5) {
          abortedAt = performance.now();
          controller.abort();
        }
      },
    },
  );
  const r = await pending;
  assert.ok(r.cancelled);
  assert.ok(r.candidates.every((c) => c.finish === 'cancelled'));
  assert.ok(performance.now() - abortedAt < 1000, 'returned within a second of the abort');
  assert.ok(r.candidates.some((c) => c.text.length > 0));
});

test('rejects bad options with a one-line message', async () => {
  await assert.rejects(engine.complete({ prefix, n: 0 }), /sample: n must be a positive integer, got 0/);
  await assert.rejects(engine.complete({ prefix, topP: 1.5 }), /sample: top-p must be in \(0, 1\], got 1.5/);
});

test('a repetition penalty makes a candidate repeat its own tokens less; 1 is off; a bad value is rejected', async () => {
  const request = { prefix, n: 1, maxTokens: 24, temperature: 0, seed: 1 };
  const repeats = (ids: number[]) => ids.length - new Set(ids).size;
  const plain = (await engine.complete({ ...request, repetitionPenalty: 1 })).candidates[0]!;
  const penalized = (await engine.complete({ ...request, repetitionPenalty: 3 })).candidates[0]!;
  const tokensOf = (text: string) => engine.tokenizer.encode(text);
  assert.ok(repeats(tokensOf(plain.text)) > 0, `the fixture repeats itself unpenalized: ${JSON.stringify(plain.text)}`);
  assert.ok(repeats(tokensOf(penalized.text)) < repeats(tokensOf(plain.text)), `${JSON.stringify(penalized.text)} vs ${JSON.stringify(plain.text)}`);
  // 1 is off: the same as no penalty at all
  assert.deepEqual((await engine.complete(request)).candidates[0], plain);
  assert.ok(Number.isFinite(penalized.logprob) && penalized.logprob <= 0);
  await assert.rejects(engine.complete({ ...request, repetitionPenalty: -1 }), /sample: repetition penalty must be a positive number, got -1/);
});
