/**
 * Sampling speed in SmolLM2-135M shapes (random weights) against llama.cpp on the same weights, both with the
 * same thread count, in one run; --weights picks the storage and llama.cpp's matching GGUF type (fp32 → F32,
 * fp16 → F16, int8 → Q8_0, int4 → Q4_0). --shape qwen2.5-0.5b|qwen2.5-1.5b|qwen2.5-7b instead writes a GGUF of
 * random weights in that shape and type (bench/shapes.ts, under --gguf-dir) and both sides load that same
 * file: Prefer through its GGUF reader (Q8_0/Q4_0 blocks repacked as they are), llama.cpp as usual.
 *   - decode tokens/s for N=1 and N=4 candidates × 64 tokens
 *   - time to first token for a 512-token prompt
 *   - cold (compile) and warm (cached) start, session creation, resident memory
 * and the bounds: bytes of weights read per decode step (memory-bandwidth bound, with a read bandwidth
 * measured here) and the prompt's FLOPs (only the last position needs the LM head).
 * The machine is shared and noisy: every measurement is repeated in interleaved rounds (ours, llama.cpp,
 * ours, …) and the best of each is kept, so both sides see the same conditions.
 * --placement also compares where the weights live: external data with and without MatMul pre-packing, and
 * weights fed as graph inputs.
 *
 *   npm run bench:sample [-- --threads 1 --tokens 64 --prompt 512 --rounds 2 --weights fp32|fp16|int8|int4 --placement]
 *   npm run bench:sample -- --shape qwen2.5-1.5b --weights int4 --threads 2 [--gguf-dir DIR] [--skip-llamacpp]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { makeCheckpoint } from '../scripts/fixtures/make-checkpoints.ts';
import { Graph } from '../src/engine/graph/ir.ts';
import { lower } from '../src/engine/graph/lower.ts';
import { serialize } from '../src/engine/graph/onnx.ts';
import * as op from '../src/engine/graph/ops.ts';
import { loadCheckpoint } from '../src/engine/hf/checkpoint.ts';
import type { ModelConfig } from '../src/engine/hf/types.ts';
import { inferenceGraph } from '../src/engine/models/inference.ts';
import { compileInference } from '../src/engine/runtime/compile.ts';
import { KvDecoder, openSession } from '../src/engine/runtime/session.ts';
import { sampleCandidates } from '../src/engine/sample/sampler.ts';
import { ReferenceModel, referenceUnavailable } from '../test/reference/llamacpp.ts';
import type { GgufTensorType } from '../test/reference/gguf.ts';
import { QUANT_BLOCK_SIZE, WEIGHT_STORAGES, type WeightStorage } from '../src/engine/models/weights.ts';
import { QWEN_SHAPES, type QwenShapeName, randomShapeGguf } from './shapes.ts';

const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '1' },
    tokens: { type: 'string', default: '64' },
    prompt: { type: 'string', default: '512' },
    rounds: { type: 'string', default: '2' },
    weights: { type: 'string', default: 'fp32' },
    placement: { type: 'boolean', default: false },
    shape: { type: 'string', default: 'smollm2-135m' },
    /** where --shape GGUFs are written (and reused: delete them when done, they run to GBs) */
    'gguf-dir': { type: 'string', default: join(tmpdir(), 'prefer-bench') },
    'skip-llamacpp': { type: 'boolean', default: false },
    /** internal: open the engine once in this fresh process and print its start-up as JSON */
    'start-probe': { type: 'string' },
    cache: { type: 'string' },
  },
});

const storage = values.weights as WeightStorage;
if (!WEIGHT_STORAGES.includes(storage)) throw new Error(`--weights must be ${WEIGHT_STORAGES.join(', ')}`);
/** llama.cpp's GGUF type for each storage */
const GGUF_TYPE: Record<WeightStorage, GgufTensorType> = { fp32: 'F32', fp16: 'F16', int8: 'Q8_0', int4: 'Q4_0' };
const shape = values.shape!;
if (shape !== 'smollm2-135m' && !(shape in QWEN_SHAPES)) throw new Error(`--shape must be smollm2-135m, ${Object.keys(QWEN_SHAPES).join(', ')}`);
if (shape !== 'smollm2-135m' && storage === 'fp16') throw new Error('--weights fp16 runs in the smollm2-135m shape only');
/** Issue targets, prefer ÷ llama.cpp: quantized storages against llama.cpp's Q8_0/Q4_0, fp32 against F32. */
const TARGETS = storage === 'int8' || storage === 'int4' ? { ttft: '≤ 0.7×', decode1: '≥ 1.0×', decode4: '≥ 1.5×' } : { ttft: '≤ 0.6×', decode1: '≥ 0.9×', decode4: '≥ 1.3×' };

if (values['start-probe']) {
  const { Engine } = await import('../src/engine/sample/engine.ts');
  const engine = await Engine.open({ modelDir: values['start-probe'], cacheDir: values.cache!, threads: Number(values.threads), weights: storage });
  (globalThis as { gc?: () => void }).gc?.();
  const afterOpen = process.memoryUsage().rss;
  const r = await engine.complete({ prefix: 'def main():\n', n: 4, maxTokens: 8, temperature: 1, seed: 1, stopTokens: [] });
  const peakRss = process.resourceUsage().maxRSS * 1024;
  console.log(JSON.stringify({ ...engine.startup, rssAfterOpen: afterOpen, rssAfterSample: process.memoryUsage().rss, peakRss, sampled: r.candidates.length }));
  await engine.close();
  process.exit(0);
}
const threads = Number(values.threads);
const steps = Number(values.tokens);
const promptLength = Number(values.prompt);
const rounds = Number(values.rounds);

const root = resolve('.cache/bench');
const ggufModel = shape === 'smollm2-135m' ? null : await randomShapeGguf(shape as QwenShapeName, GGUF_TYPE[storage], values['gguf-dir']!);
const modelDir = ggufModel ?? join(root, 'smollm2-135m');
if (!ggufModel && !existsSync(join(modelDir, 'model.safetensors'))) await makeCheckpoint('smollm2-135m', modelDir);
const loadAtStart = loadavg();
const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
const fmt = (x: number, d = 1) => x.toFixed(d);

// ── start-up of the engine as the CLI and extension open it, each in a fresh process: cold, then warm ──────
const cacheDir = join(root, 'compiled');
rmSync(cacheDir, { recursive: true, force: true });
interface StartProbe {
  compiled: boolean;
  compile_ms: number;
  session_ms: number;
  total_ms: number;
  rssAfterOpen: number;
  rssAfterSample: number;
  peakRss: number;
}
const probe = (): StartProbe => {
  const r = spawnSync(process.execPath, ['--expose-gc', 'bench/sample.ts', '--start-probe', modelDir, '--cache', cacheDir, '--threads', String(threads), '--weights', storage, '--shape', shape], { encoding: 'utf8' });
  const lines = r.stderr.split('\n');
  if (r.status !== 0) throw new Error(`start-up probe failed: ${lines.find((line) => /^\w*Error\b/.test(line)) ?? lines[0]}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as StartProbe;
};
const coldStart = probe();
const warmStart = probe();
const loadAfterStart = loadavg();
const rssStart = process.memoryUsage().rss;
let t = performance.now();
const checkpoint = await loadCheckpoint(modelDir);
const loadMs = performance.now() - t;
const compiledModel = compileInference(checkpoint, cacheDir, { dtype: 'float32', target: 'cpu', weights: storage }); // found in the probes' cache
t = performance.now();
const warm = compileInference(checkpoint, cacheDir, { dtype: 'float32', target: 'cpu', weights: storage });
const warmMs = performance.now() - t;
const config = checkpoint.config;

interface Variant {
  name: string;
  decoder: KvDecoder;
  sessionMs: number;
  best: { ttft: number; decode1: number; decode4: number };
}
async function externalVariant(name: string, prepack: boolean): Promise<Variant> {
  const opened = await openSession(compiledModel.path, { device: 'cpu', threads, prepack });
  return { name, decoder: new KvDecoder(opened.session, config), sessionMs: opened.createMs, best: { ttft: Infinity, decode1: 0, decode4: 0 } };
}
async function inputsVariant(): Promise<Variant> {
  const { model, fedWeights } = serialize(lower(inferenceGraph(config, checkpoint.weights, 'float32', storage)), 'inputs');
  const feeds = Object.fromEntries([...fedWeights].map(([n, w]) => [n, new ort.Tensor(w.dtype, w.data as Float32Array, w.shape)]));
  const s = performance.now();
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: threads, interOpNumThreads: 1 });
  return { name: 'weights as inputs', decoder: new KvDecoder(session, config, 'float32', feeds), sessionMs: performance.now() - s, best: { ttft: Infinity, decode1: 0, decode4: 0 } };
}

const variants: Variant[] = [await externalVariant('external data, pre-packed', true)];
const rssSession = process.memoryUsage().rss;
if (values.placement) variants.push(await externalVariant('external data, no pre-packing', false), await inputsVariant());

const promptIds = Array.from({ length: promptLength }, (_, i) => (i * 7919 + 13) % 700);
const tokenizer = { streamDecoder: () => ({ push: () => '', flush: () => '' }) };
const greedy = { temperature: 0, topK: 0, topP: 1, minP: 0, seed: 1, stopStrings: [], stopTokens: [] };
const ours = (v: Variant, n: number) => sampleCandidates(v.decoder, tokenizer, promptIds, { ...greedy, n, maxTokens: steps + 1 }).then((r) => r.timing);

// ── llama.cpp on the same weights ────────────────────────────────────────────────────────────────────────
const unavailable = values['skip-llamacpp'] ? 'skipped (--skip-llamacpp)' : referenceUnavailable();
const referenceOptions = { threads, contextSize: promptLength + steps + 8, weightType: GGUF_TYPE[storage], ...(ggufModel ? { modelPath: ggufModel } : {}) };
const ref = unavailable
  ? null
  : {
      one: await ReferenceModel.open(checkpoint, { ...referenceOptions, sequences: 1 }),
      four: await ReferenceModel.open(checkpoint, { ...referenceOptions, sequences: 4 }),
      best: { ttft: Infinity, decode1: 0, decode4: 0 },
    };

for (const v of variants) await ours(v, 1); // warm-up: first runs allocate
if (ref) await ref.one.time(promptIds.slice(0, 16), 4);
for (let r = 0; r < rounds; r++) {
  for (const v of variants) {
    const a = await ours(v, 1);
    const b = await ours(v, 4);
    v.best = { ttft: Math.min(v.best.ttft, a.first_token_ms, b.first_token_ms), decode1: Math.max(v.best.decode1, a.decode_tok_s), decode4: Math.max(v.best.decode4, b.decode_tok_s) };
  }
  if (ref) {
    const a = await ref.one.time(promptIds, steps);
    const b = await ref.four.time(promptIds, steps);
    ref.best = { ttft: Math.min(ref.best.ttft, a.promptMs), decode1: Math.max(ref.best.decode1, a.tokensPerSecond), decode4: Math.max(ref.best.decode4, b.tokensPerSecond) };
  }
}
const rssEnd = process.memoryUsage().rss;
if (ref) {
  await ref.one.dispose();
  await ref.four.dispose();
}

// ── bounds ───────────────────────────────────────────────────────────────────────────────────────────────
function weightBytesPerStep(c: ModelConfig): number {
  const C = c.hiddenSize;
  const D = c.headDim;
  const perLayer = C * c.numHeads * D * 2 + C * c.numKvHeads * D * 2 + 3 * C * c.intermediateSize + 2 * C;
  // the embedding gather reads one row; the LM head reads the whole [vocab, hidden] table (stored like the linears)
  const bytesPerWeight = { fp32: 4, fp16: 2, int8: 1 + 4 / QUANT_BLOCK_SIZE, int4: 0.5 + 4 / QUANT_BLOCK_SIZE }[storage];
  return bytesPerWeight * (c.numLayers * perLayer + c.vocabSize * C) + 4 * C;
}
function promptFlops(c: ModelConfig, T: number): number {
  const C = c.hiddenSize;
  const D = c.headDim;
  const linear = c.numLayers * (C * c.numHeads * D * 2 + C * c.numKvHeads * D * 2 + 3 * C * c.intermediateSize);
  const attention = c.numLayers * c.numHeads * D * T * T * 2; // QKᵀ and AV over the causal half
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
  await s.release();
  return (2 * 512 * 576 * 1536) / (best / 1000);
}
const bandwidth = readBandwidth();
const flops = await matmulFlops();
const bytes = weightBytesPerStep(config);
const pflops = promptFlops(config, promptLength);

// ── report ───────────────────────────────────────────────────────────────────────────────────────────────
const main = variants[0]!;
const ratio = (a: number, b: number | undefined) => (b ? `${fmt(a / b, 2)}×` : 'n/a');
const loads = (l: number[]) => l.map((x) => x.toFixed(1)).join(' ');
console.log(`prefer bench:sample — ${shape} shapes, random weights${ggufModel ? ` (both from ${ggufModel})` : ''}, prefer ${storage} vs llama.cpp ${GGUF_TYPE[storage]}, ${threads} thread(s) for both, best of ${rounds} interleaved rounds`);
console.log(`command: npm run bench:sample -- --shape ${shape} --threads ${threads} --tokens ${steps} --prompt ${promptLength} --rounds ${rounds} --weights ${storage}${values.placement ? ' --placement' : ''}${values['skip-llamacpp'] ? ' --skip-llamacpp' : ''}`);
console.log(`load avg (1/5/15 min) ${loads(loadAtStart)} at start, ${loads(loadAfterStart)} after the start-up probes, ${loads(loadavg())} at the end; ${cpus().length} cores`);
console.log('');
const startLine = (label: string, p: StartProbe) =>
  `${label} ${fmt(p.total_ms, 0)} ms to ready (${p.compiled ? `compile ${fmt(p.compile_ms, 0)} ms, ` : 'compiled model from the cache, '}session ${fmt(p.session_ms, 0)} ms); rss ${mib(p.rssAfterOpen)} open, ${mib(p.rssAfterSample)} after sampling 4×8, peak ${mib(p.peakRss)}`;
console.log(startLine('cold start', coldStart));
console.log(startLine('warm start', warmStart));
console.log(`in this process: load checkpoint ${fmt(loadMs, 0)} ms; cache lookup ${warm.compiled ? 'MISSED' : `hit in ${fmt(warmMs, 1)} ms`}; rss ${mib(rssStart)} → ${mib(rssSession)} with one session → ${mib(rssEnd)} with all (weights ${mib(bytes)} ${storage})`);
console.log(`compiled model: ${mib(statSync(`${compiledModel.path}.data`).size)} of weights on disk (memory-mapped: only pages read become resident)`);
console.log('');
console.log('                         prefer     llama.cpp   ratio (target)');
console.log(`TTFT ${promptLength}-token prompt  ${fmt(main.best.ttft, 0).padStart(7)} ms ${ref ? fmt(ref.best.ttft, 0).padStart(9) + ' ms' : '      n/a   '}   ${ratio(main.best.ttft, ref?.best.ttft)} (${TARGETS.ttft})`);
console.log(`decode N=1 tok/s        ${fmt(main.best.decode1).padStart(10)} ${ref ? fmt(ref.best.decode1).padStart(12) : '         n/a'}   ${ratio(main.best.decode1, ref?.best.decode1)} (${TARGETS.decode1})`);
console.log(`decode N=4 tok/s (all)  ${fmt(main.best.decode4).padStart(10)} ${ref ? fmt(ref.best.decode4).padStart(12) : '         n/a'}   ${ratio(main.best.decode4, ref?.best.decode4)} (${TARGETS.decode4})`);
if (unavailable) console.log(`llama.cpp: ${unavailable}`);
if (variants.length > 1) {
  console.log('');
  console.log('weights                          session   TTFT     N=1 tok/s  N=4 tok/s');
  for (const v of variants) {
    console.log(`${v.name.padEnd(32)} ${fmt(v.sessionMs, 0).padStart(6)} ms ${fmt(v.best.ttft, 0).padStart(6)} ms ${fmt(v.best.decode1).padStart(9)} ${fmt(v.best.decode4).padStart(10)}`);
  }
}
console.log('');
console.log(`bounds     weights per decode step ${mib(bytes)}; read bandwidth here ${fmt(bandwidth / 1e9)} GB/s → ≤ ${fmt(bandwidth / bytes)} steps/s`);
console.log(`           prompt ${fmt(pflops / 1e9)} GFLOP (LM head on the last position only); MatMul here ${fmt(flops / 1e9)} GFLOP/s → ≥ ${fmt((pflops / flops) * 1000, 0)} ms`);
for (const v of variants) await v.decoder.session.release();
