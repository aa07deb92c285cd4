import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ModelConfig } from '../../../src/engine/hf/types.ts';
import { llamaConfig, randomWeights } from '../../../src/engine/models/random.ts';
import { referenceLogits } from './reference.ts';
import { maxAbsDiff, openDecoder, range } from './support.ts';

const configs: Record<string, ModelConfig> = {
  llama: llamaConfig({ tieWordEmbeddings: false }),
  qwen2: llamaConfig({ modelType: 'qwen2', architecture: 'Qwen2ForCausalLM', attentionBias: true, ropeTheta: 1e6 }),
  qwen3: llamaConfig({ modelType: 'qwen3', architecture: 'Qwen3ForCausalLM', qkNorm: true, headDim: 12, numHeads: 4, numKvHeads: 1 }),
  gpt2: llamaConfig({ family: 'gpt2', modelType: 'gpt2', architecture: 'GPT2LMHeadModel', numKvHeads: 4, intermediateSize: 128, normEps: 1e-5 }),
};

const prompt = [5, 17, 3, 88, 41, 41, 9, 60, 2, 77, 31, 12, 64, 7];

for (const [name, config] of Object.entries(configs)) {
  test(`${name}: prefill then KV-cache decode match a plain-loop reference forward (f32, 1e-4)`, async () => {
    const weights = randomWeights(config, 11);
    const decoder = await openDecoder(config, weights);
    const split = 9;
    let logits = await decoder.step({ tokens: [prompt.slice(0, split)], positions: [range(0, split)] });
    const reference = referenceLogits(config, weights, prompt);
    let worst = maxAbsDiff(logits, reference[split - 1]!);
    for (let t = split; t < prompt.length; t++) {
      logits = await decoder.step({ tokens: [[prompt[t]!]], positions: [[t]] });
      worst = Math.max(worst, maxAbsDiff(logits, reference[t]!));
    }
    assert.ok(worst < 1e-4, `max |Δlogit| ${worst}`);
    // the check can fail: a different token changes the logits far beyond the tolerance
    assert.ok(maxAbsDiff(logits, referenceLogits(config, weights, [...prompt.slice(0, -1), 1]).at(-1)!) > 1e-3);
  });
}

test('float64 inference graphs agree with the reference to 1e-10', async () => {
  const config = configs.qwen3!;
  const weights = randomWeights(config, 3);
  const decoder = await openDecoder(config, weights, 'float64');
  const logits = await decoder.step({ tokens: [prompt], positions: [range(0, prompt.length)] });
  assert.ok(logits instanceof Float64Array);
  assert.ok(maxAbsDiff(logits, referenceLogits(config, weights, prompt).at(-1)!) < 1e-10);
});

test('left-padded rows of a batch get the same logits as each sequence alone', async () => {
  const config = configs.qwen2!;
  const weights = randomWeights(config, 5);
  const decoder = await openDecoder(config, weights);
  const short = [4, 8, 15, 16];
  const long = prompt.slice(0, 7);
  const pad = long.length - short.length;
  decoder.reset(2);
  const logits = await decoder.step({
    tokens: [[...new Array<number>(pad).fill(0), ...short], long],
    positions: [[...new Array<number>(pad).fill(0), ...range(0, short.length)], range(0, long.length)],
    valid: [[...new Array<boolean>(pad).fill(false), ...short.map(() => true)], long.map(() => true)],
  });
  const V = config.vocabSize;
  assert.ok(maxAbsDiff(logits.subarray(0, V), referenceLogits(config, weights, short).at(-1)!) < 1e-4);
  assert.ok(maxAbsDiff(logits.subarray(V), referenceLogits(config, weights, long).at(-1)!) < 1e-4);
  // one decode step per row at its own position
  const next = await decoder.step({ tokens: [[23], [23]], positions: [[short.length], [long.length]] });
  assert.ok(maxAbsDiff(next.subarray(0, V), referenceLogits(config, weights, [...short, 23]).at(-1)!) < 1e-4);
  assert.ok(maxAbsDiff(next.subarray(V), referenceLogits(config, weights, [...long, 23]).at(-1)!) < 1e-4);
});

test('select() turns one prefilled prompt into N identical rows of the cache', async () => {
  const config = configs.llama!;
  const weights = randomWeights(config, 9);
  const decoder = await openDecoder(config, weights);
  await decoder.step({ tokens: [prompt], positions: [range(0, prompt.length)] });
  decoder.select([0, 0, 0]);
  const logits = await decoder.step({ tokens: [[1], [2], [3]], positions: [[14], [14], [14]] });
  const V = config.vocabSize;
  for (let r = 0; r < 3; r++) {
    const ref = referenceLogits(config, weights, [...prompt, r + 1]).at(-1)!;
    assert.ok(maxAbsDiff(logits.subarray(r * V, (r + 1) * V), ref) < 1e-4);
  }
});

test('the cache keeps its reserved slots while they suffice and grows only when full', async () => {
  const config = configs.llama!;
  const weights = randomWeights(config, 4);
  const decoder = await openDecoder(config, weights);
  decoder.reset(1, 16);
  await decoder.step({ tokens: [prompt.slice(0, 10)], positions: [range(0, 10)] });
  for (let t = 10; t < 16; t++) await decoder.step({ tokens: [[prompt[t % prompt.length]!]], positions: [[t]] });
  assert.equal(decoder.slots, 16);
  const logits = await decoder.step({ tokens: [[3]], positions: [[16]] });
  assert.ok(decoder.slots > 16 && decoder.slots <= 32, `slots ${decoder.slots}`);
  const tokens = [...prompt.slice(0, 10), ...range(10, 16).map((t) => prompt[t % prompt.length]!), 3];
  assert.ok(maxAbsDiff(logits, referenceLogits(config, weights, tokens).at(-1)!) < 1e-4);
});

for (const [name, expectedOps] of [['qwen3', ['SimplifiedLayerNormalization', 'RotaryEmbedding']], ['gpt2', ['LayerNormalization', 'Gelu']]] as const) test(`${name}: the fused CPU lowering (${expectedOps.join(', ')}) matches the reference`, async () => {
  const { lower } = await import('../../../src/engine/graph/lower.ts');
  const { inferenceGraph } = await import('../../../src/engine/models/inference.ts');
  const { serialize } = await import('../../../src/engine/graph/onnx.ts');
  const ort = await import('onnxruntime-node');
  const { KvDecoder } = await import('../../../src/engine/runtime/session.ts');
  const config = configs[name]!;
  const weights = randomWeights(config, 21);
  const fused = lower(inferenceGraph(config, weights), 'cpu', { fused: true });
  const ops = new Set(fused.nodes.map((n) => n.opType));
  assert.ok(expectedOps.every((o) => ops.has(o)), [...ops].join(' '));
  const decoder = new KvDecoder(await ort.InferenceSession.create(serialize(fused).model, { intraOpNumThreads: 1 }), config);
  let logits = await decoder.step({ tokens: [prompt.slice(0, 10)], positions: [range(0, 10)] });
  assert.ok(maxAbsDiff(logits, referenceLogits(config, weights, prompt.slice(0, 10)).at(-1)!) < 1e-4);
  logits = await decoder.step({ tokens: [[prompt[10]!]], positions: [[10]] });
  assert.ok(maxAbsDiff(logits, referenceLogits(config, weights, prompt.slice(0, 11)).at(-1)!) < 1e-4);
});

test('mistral: a sliding window hides keys that far behind, in prefill and in cached decode', async () => {
  const config = llamaConfig({ modelType: 'mistral', architecture: 'MistralForCausalLM', slidingWindow: 4 });
  const weights = randomWeights(config, 13);
  const decoder = await openDecoder(config, weights);
  let logits = await decoder.step({ tokens: [prompt.slice(0, 8)], positions: [range(0, 8)] });
  const windowed = referenceLogits(config, weights, prompt);
  let worst = maxAbsDiff(logits, windowed[7]!);
  for (let t = 8; t < prompt.length; t++) {
    logits = await decoder.step({ tokens: [[prompt[t]!]], positions: [[t]] });
    worst = Math.max(worst, maxAbsDiff(logits, windowed[t]!));
  }
  assert.ok(worst < 1e-4, `max |Δlogit| ${worst}`);
  const full = referenceLogits({ ...config, slidingWindow: null }, weights, prompt);
  assert.ok(maxAbsDiff(full.at(-1)!, windowed.at(-1)!) > 1e-3, 'the window changes the logits');
});

test('linear rope scaling by 2 at positions 0, 2, 4, … equals no scaling at 0, 1, 2, …', async () => {
  const plain = configs.llama!;
  const scaled = { ...plain, ropeScaling: { type: 'linear', parameters: { factor: 2 } } };
  const weights = randomWeights(plain, 17);
  const a = await (await openDecoder(plain, weights)).step({ tokens: [prompt.slice(0, 6)], positions: [range(0, 6)] });
  const b = await (await openDecoder(scaled, weights)).step({ tokens: [prompt.slice(0, 6)], positions: [range(0, 6).map((p) => 2 * p)] });
  assert.ok(maxAbsDiff(a, b) < 1e-4);
  const c = await (await openDecoder(scaled, weights)).step({ tokens: [prompt.slice(0, 6)], positions: [range(0, 6)] });
  assert.ok(maxAbsDiff(a, c) > 1e-3, 'scaling changes the logits');
});

test('llama3 rope scaling keeps short wavelengths, slows long ones by the factor, blends between; unknown types are rejected', async () => {
  const { rotaryInverseFrequencies } = await import('../../../src/engine/models/attention.ts');
  const base = rotaryInverseFrequencies(64, 500000, null, true);
  const scaled = rotaryInverseFrequencies(64, 500000, { type: 'llama3', parameters: { factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } }, true);
  const wavelength = (f: number) => (2 * Math.PI) / f;
  let kept = 0;
  let slowed = 0;
  let blended = 0;
  base.forEach((f, i) => {
    const s = scaled[i]!;
    if (wavelength(f) < 8192 / 4) kept += Number(s === f);
    else if (wavelength(f) > 8192) slowed += Number(Math.abs(s - f / 8) < 1e-15);
    else blended += Number(s < f && s > f / 8);
  });
  assert.ok(kept > 0 && slowed > 0 && blended > 0);
  assert.equal(kept + slowed + blended, base.length);
  assert.throws(() => rotaryInverseFrequencies(64, 1e4, { type: 'yarn', parameters: { factor: 4 } }, true), /rope_scaling type yarn is not supported by the llama family/);
});
