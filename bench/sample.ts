/**
 * Sampling speed in SmolLM2-135M shapes (random weights, fp32) against llama.cpp on the same weights (GGUF
 * F32), both with the same thread count, in one run:
 *   - decode tokens/s for N=1 and N=4 candidates × 64 tokens
 *   - time to first token for a 512-token prompt
 *   - cold (compile) and warm (cached) start, resident memory
 * and the bounds: bytes of weights read per decode step (memory bandwidth bound, with a bandwidth measured
 * here) and the prompt's FLOPs (only the last position needs the LM head).
 *
 *   npm run bench:sample [-- --threads 1 --tokens 64 --prompt 512]
 */
import { existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { makeCheckpoint } from '../scripts/fixtures/make-checkpoints.ts';
import { loadCheckpoint } from '../src/engine/hf/checkpoint.ts';
import type { ModelConfig } from '../src/engine/hf/types.ts';
import { compileInference } from '../src/engine/runtime/compile.ts';
import { KvDecoder, openSession } from '../src/engine/runtime/session.ts';
import { sampleCandidates } from '../src/engine/sample/sampler.ts';
import { ReferenceModel, referenceUnavailable } from '../test/reference/llamacpp.ts';

const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '1' },
    tokens: { type: 'string', default: '64' },
    prompt: { type: 'string', default: '512' },
    'skip-llamacpp': { type: 'boolean', default: false },
  },
});
const threads = Number(values.threads);
const steps = Number(values.tokens);
const promptLength = Number(values.prompt);

const root = resolve('.cache/bench');
const modelDir = join(root, 'smollm2-135m');
if (!existsSync(join(modelDir, 'model.safetensors'))) await makeCheckpoint('smollm2-135m', modelDir);
const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
const fmt = (x: number, d = 1) => x.toFixed(d);

// ── start-up: cold compile, then warm (cached) ──────────────────────────────────────────────────────────
const cacheDir = join(root, 'compiled');
rmSync(cacheDir, { recursive: true, force: true });
const rssBefore = process.memoryUsage().rss;
let t = performance.now();
const checkpoint = await loadCheckpoint(modelDir);
const loadMs = performance.now() - t;
const cold = compileInference(checkpoint, cacheDir, { dtype: 'float32', target: 'cpu' });
const warm = compileInference(checkpoint, cacheDir, { dtype: 'float32', target: 'cpu' });
t = performance.now();
const opened = await openSession(cold.path, { device: 'cpu', threads });
const sessionMs = performance.now() - t;
const config = checkpoint.config;
const decoder = new KvDecoder(opened.session, config);

const promptIds = Array.from({ length: promptLength }, (_, i) => (i * 7919 + 13) % 700);
const tokenizer = { streamDecoder: () => ({ push: () => '', flush: () => '' }) };
const greedy = { temperature: 0, topK: 0, topP: 1, minP: 0, seed: 1, stopStrings: [], stopTokens: [] };

async function ours(n: number) {
  const r = await sampleCandidates(decoder, tokenizer, promptIds, { ...greedy, n, maxTokens: steps + 1 });
  return r.timing;
}

await ours(1); // warm-up: first runs allocate
const ttftRuns = [await ours(1), await ours(1)];
const ttft = Math.min(...ttftRuns.map((r) => r.first_token_ms));
const decode1 = (await ours(1)).decode_tok_s;
const decode4 = (await ours(4)).decode_tok_s;
const rssAfter = process.memoryUsage().rss;

// ── llama.cpp on the same weights ────────────────────────────────────────────────────────────────────────
let ref: { ttft: number; decode1: number; decode4: number } | null = null;
const unavailable = referenceUnavailable();
if (!values['skip-llamacpp'] && !unavailable) {
  const one = await ReferenceModel.open(checkpoint, { threads, contextSize: promptLength + steps + 8, sequences: 1 });
  await one.time(promptIds.slice(0, 16), 4);
  const a = await one.time(promptIds, steps);
  const b = await one.time(promptIds, steps);
  await one.dispose();
  const four = await ReferenceModel.open(checkpoint, { threads, contextSize: promptLength + steps + 8, sequences: 4 });
  const c = await four.time(promptIds, steps);
  await four.dispose();
  ref = { ttft: Math.min(a.promptMs, b.promptMs), decode1: Math.max(a.tokensPerSecond, b.tokensPerSecond), decode4: c.tokensPerSecond };
}

// ── bounds ───────────────────────────────────────────────────────────────────────────────────────────────
function weightBytesPerStep(c: ModelConfig): number {
  const C = c.hiddenSize;
  const D = c.headDim;
  const perLayer = C * c.numHeads * D * 2 + C * c.numKvHeads * D * 2 + 3 * C * c.intermediateSize + 2 * C;
  // the embedding gather reads one row; the LM head reads the whole [vocab, hidden] table
  return 4 * (c.numLayers * perLayer + C + c.vocabSize * C);
}
function promptFlops(c: ModelConfig, T: number): number {
  const C = c.hiddenSize;
  const D = c.headDim;
  const linear = c.numLayers * (C * c.numHeads * D * 2 + C * c.numKvHeads * D * 2 + 3 * C * c.intermediateSize);
  const attention = c.numLayers * c.numHeads * D * T * T * 2; // QKᵀ and AV, causal half of 2·2
  return 2 * linear * T + attention + 2 * C * c.vocabSize;
}
/** Streaming read bandwidth: summing a 256 MiB array once it is resident. */
function readBandwidth(): number {
  const a = new Float64Array(2 ** 25).fill(1);
  let best = 0;
  for (let k = 0; k < 3; k++) {
    const s = performance.now();
    let sum = 0;
    for (let i = 0; i < a.length; i += 4) sum += a[i]! + a[i + 1]! + a[i + 2]! + a[i + 3]!;
    const sec = (performance.now() - s) / 1000;
    if (sum > 0) best = Math.max(best, a.byteLength / sec);
  }
  return best;
}
/** ONNX Runtime's own MatMul throughput at prompt shapes, same threads. */
async function matmulFlops(): Promise<number> {
  const { Graph } = await import('../src/engine/graph/ir.ts');
  const op = await import('../src/engine/graph/ops.ts');
  const { serialize } = await import('../src/engine/graph/onnx.ts');
  const g = new Graph('mm');
  const x = g.input('x', 'float32', [512, 576]);
  const w = g.initializer('w', { dtype: 'float32', shape: [576, 1536], data: new Float32Array(576 * 1536).fill(0.01) });
  g.output(op.matmul(x, w), 'y');
  const s = await ort.InferenceSession.create(serialize(g).model, { intraOpNumThreads: threads });
  const feeds = { x: new ort.Tensor('float32', new Float32Array(512 * 576).fill(1), [512, 576]) };
  await s.run(feeds);
  let best = Infinity;
  for (let k = 0; k < 10; k++) {
    const st = performance.now();
    await s.run(feeds);
    best = Math.min(best, performance.now() - st);
  }
  return (2 * 512 * 576 * 1536) / (best / 1000);
}
const bandwidth = readBandwidth();
const flops = await matmulFlops();
const bytes = weightBytesPerStep(config);
const pflops = promptFlops(config, promptLength);

// ── report ───────────────────────────────────────────────────────────────────────────────────────────────
const ratio = (a: number, b: number | undefined) => (b ? `${fmt(a / b, 2)}×` : 'n/a');
console.log(`prefer bench:sample — SmolLM2-135M shapes, random weights, fp32, ${threads} thread(s), onnxruntime-node ${ort.env.versions.common}`);
console.log(`command: npm run bench:sample -- --threads ${threads} --tokens ${steps} --prompt ${promptLength}`);
console.log('');
console.log(`start-up   load checkpoint ${fmt(loadMs, 0)} ms, compile (cold) ${fmt(cold.compileMs, 0)} ms, cached (warm) ${warm.compiled ? 'MISSED' : 'hit'}, session ${fmt(sessionMs, 0)} ms`);
console.log(`memory     rss ${mib(rssBefore)} → ${mib(rssAfter)} (weights ${mib(bytes)} f32, memory-mapped)`);
console.log('');
console.log('                         prefer     llama.cpp   ratio (target)');
console.log(`TTFT ${promptLength}-token prompt  ${fmt(ttft, 0).padStart(7)} ms ${ref ? fmt(ref.ttft, 0).padStart(9) + ' ms' : '      n/a'}   ${ref ? ratio(ttft, ref.ttft) : 'n/a'} (≤ 0.6×)`);
console.log(`decode N=1 tok/s        ${fmt(decode1).padStart(10)} ${ref ? fmt(ref.decode1).padStart(12) : '         n/a'}   ${ratio(decode1, ref?.decode1)} (≥ 0.9×)`);
console.log(`decode N=4 tok/s (all)  ${fmt(decode4).padStart(10)} ${ref ? fmt(ref.decode4).padStart(12) : '         n/a'}   ${ratio(decode4, ref?.decode4)} (≥ 1.3×)`);
if (unavailable) console.log(`llama.cpp: ${unavailable}`);
console.log('');
console.log(`bounds     weights per decode step ${mib(bytes)}; read bandwidth here ${fmt(bandwidth / 1e9)} GB/s → ≤ ${fmt(bandwidth / bytes)} steps/s`);
console.log(`           prompt ${fmt(pflops / 1e9)} GFLOP (LM head on the last position only); MatMul here ${fmt(flops / 1e9)} GFLOP/s → ≥ ${fmt((pflops / flops) * 1000, 0)} ms`);
await opened.session.release();
