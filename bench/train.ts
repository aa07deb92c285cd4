/**
 * LoRA-DPO training step speed and memory in real model shapes (random weights, CPU), LoRA r=16 on every linear,
 * one pair (two rows) per step, per length, against a PyTorch eager step of the same shapes run in the same
 * benchmark (bench/torch-step.py, Debian's python3-torch: what a CPU user of TRL + PEFT would run instead):
 *   - Prefer's step time and PyTorch's, best of --steps after a warm-up step, and their ratio. Prefer's step takes
 *     the reference log-probs as inputs (a round computes them once per pair); PyTorch's step runs the reference
 *     forward as TRL does by default, and its policy part (forward, backward, AdamW) is shown apart too
 *   - achieved FLOP/s (the step's matmul and attention FLOPs, counted below) divided by the FLOP/s of one large
 *     ORT MatMul measured in the same run with the same threads (the anchor)
 *   - peak resident memory of each side: every (length, side) runs in its own child process
 * The machine is shared and noisy: the anchor is measured right before and after each Prefer step and the best of
 * each is kept, and each row carries the 1-minute load average seen around it; read ratios, not absolute numbers.
 *
 * The step graph recomputes each layer in the backward pass around the products it keeps (with base weights,
 * the attention context: `prefer train`'s mode over an fp32 base); --recompute layers recomputes whole layers (its mode
 * over fp16/int8/int4, --recompute auto), --recompute off keeps every activation.
 * Sessions use the trainer's options (trainingSessionOptions); --mem-pattern turns ORT's memory pattern back on.
 * --weights stores the frozen base's linears as `prefer train --weights` does (int8/int4 blocks dequantized a layer
 * at a time; PyTorch keeps float32, it has no CPU int8/int4 training); the random weights are made tensor by tensor
 * on demand, so peak RSS counts what the graph keeps. --profile prints Prefer's time per ONNX op type (ORT profiling).
 *
 *   npm run bench:train [-- --shape smollm2-135m|qwen2.5-0.5b|qwen2.5-1.5b --weights fp32|int8|int4 --lengths 256,512
 *                          --threads 2 --steps 3 --skip-torch --profile --head-chunks 8 --no-arena
 *                          --recompute products|layers|off --mem-pattern]
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { Graph } from '../src/engine/graph/ir.ts';
import { lower } from '../src/engine/graph/lower.ts';
import { serialize } from '../src/engine/graph/onnx.ts';
import * as op from '../src/engine/graph/ops.ts';
import type { ModelConfig, WeightSource } from '../src/engine/hf/types.ts';
import { expectedWeights } from '../src/engine/models/families.ts';
import { smolLM2Config } from '../src/engine/models/random.ts';
import { uniformStream } from '../src/engine/models/seededStream.ts';
import { TRAINING_WEIGHT_STORAGES, type WeightStorage } from '../src/engine/models/weights.ts';
import { initialLoraWeights } from '../src/dpo/lora.ts';
import { ADAMW_DEFAULTS, optimizerStateNames } from '../src/train/adamw.ts';
import { dpoGraph } from '../src/dpo/trainingGraph.ts';
import { trainingSessionOptions } from '../src/train/session.ts';
import { QWEN_SHAPES, type QwenShapeName, shapeModelConfig } from './shapes.ts';

const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '2' },
    steps: { type: 'string', default: '3' },
    lengths: { type: 'string', default: '256,512' },
    'head-chunks': { type: 'string', default: '8' },
    'no-arena': { type: 'boolean' },
    recompute: { type: 'string', default: 'products' },
    'mem-pattern': { type: 'boolean' },
    weights: { type: 'string', default: 'fp32' },
    shape: { type: 'string', default: 'smollm2-135m' },
    'skip-torch': { type: 'boolean' },
    profile: { type: 'boolean' },
    child: { type: 'string' },
  },
});
const threads = Number(values.threads);
const steps = Number(values.steps);
const headChunks = Number(values['head-chunks']);
const RANK = 16;
/** ORT's CPU arena keeps the largest buffers it ever allocated; --no-arena measures without it. */
const arena = values['no-arena'] !== true;
const recompute = values.recompute;
if (!['products', 'layers', 'off'].includes(recompute)) throw new Error(`--recompute: products, layers or off, not ${recompute}`);
const memPattern = values['mem-pattern'] === true;
const baseWeights = values.weights as WeightStorage;
if (!(TRAINING_WEIGHT_STORAGES as readonly string[]).includes(baseWeights)) throw new Error(`--weights: ${TRAINING_WEIGHT_STORAGES.join(', ')}, not ${values.weights}`);
const SHAPES = ['smollm2-135m', ...Object.keys(QWEN_SHAPES)];
const shape = values.shape;
if (!SHAPES.includes(shape)) throw new Error(`--shape: ${SHAPES.join(', ')}, not ${shape}`);
const profile = values.profile === true;
const TORCH_STEP = join(import.meta.dirname, 'torch-step.py');
const PYTHON = '/usr/bin/python3';

function shapeConfig(): ModelConfig {
  return shape === 'smollm2-135m' ? smolLM2Config() : shapeModelConfig(shape as QwenShapeName);
}

/** randomWeights' values, made on each get() from a per-tensor seed and never kept: a checkpoint whose float copies are released. */
function onDemandRandomWeights(config: ModelConfig, scale: number): WeightSource {
  const shapes = new Map(expectedWeights(config));
  return {
    names: () => [...shapes.keys()],
    has: (name) => shapes.has(name),
    get(name) {
      const shape = shapes.get(name);
      if (!shape) throw new Error(`random checkpoint: missing tensor ${name}`);
      const rand = uniformStream([...name].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619), 2166136261));
      const isNorm = /norm|ln_/.test(name) && name.endsWith('.weight');
      const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (isNorm ? 1 + 0.1 * rand() : scale * rand()));
      return { name, shape, storedDtype: 'F32', data };
    },
  };
}

/**
 * Useful FLOPs of one step: forward, backward to the activations (LoRA-only training still needs dX everywhere).
 * The frozen head's two products (its logits, and E_p[W] in the forward, which stands for its dX) count once each.
 * The recomputed layer forwards are not counted: they are the price of the memory saved.
 */
function stepFlops(c: ModelConfig, rows: number, T: number): number {
  const tokens = rows * T;
  const { hiddenSize: C, numHeads: H, numKvHeads: Hkv, headDim: D, intermediateSize: F, numLayers: L, vocabSize: V } = c;
  const linear = L * (C * H * D + 2 * C * Hkv * D + H * D * C + 3 * C * F);
  const lora = L * RANK * (C + H * D + 2 * (C + Hkv * D) + (H * D + C) + 2 * (C + F) + (F + C));
  const attention = L * rows * 2 * T * T * H * D; // QKᵀ and PV, multiply-adds
  const head = V * C;
  const forward = 2 * tokens * (linear + lora + head) + 2 * attention;
  // backward: dX of every linear and LoRA product, dA/dB, attention's four products, the head's dX (as E_p[W])
  const backward = 2 * tokens * (linear + 2 * lora) + 4 * attention + 2 * tokens * head;
  return forward + backward;
}

/** FLOP/s of a [512×2048]×[2048×2048] fp32 MatMul with the weight fed as an input (as the training graph's base weights are). */
async function matmulAnchor(): Promise<number> {
  const [m, k, n] = [512, 2048, 2048];
  const g = new Graph('anchor');
  g.output(op.matmul(g.input('a', 'float32', [m, k]), g.input('b', 'float32', [k, n])), 'y');
  const session = await ort.InferenceSession.create(serialize(g).model, { intraOpNumThreads: threads });
  const feeds = { a: new ort.Tensor('float32', new Float32Array(m * k).fill(0.5), [m, k]), b: new ort.Tensor('float32', new Float32Array(k * n).fill(0.25), [k, n]) };
  await session.run(feeds);
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    best = Math.min(best, performance.now() - t0);
  }
  await session.release();
  return (2 * m * k * n) / (best / 1000);
}

/** ORT's profile (one JSON array of events): kernel milliseconds per op type and run, the largest first. */
function profileByOp(prefix: string, runs: number): Record<string, number> {
  const dir = tmpdir();
  const file = readdirSync(dir).find((f) => f.startsWith(prefix.slice(dir.length + 1)) && f.endsWith('.json'));
  if (!file) throw new Error(`--profile: no ORT profile ${prefix}*.json`);
  const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { cat: string; name: string; dur: number; args?: { op_name?: string } }[];
  rmSync(join(dir, file));
  const byOp = new Map<string, number>();
  for (const e of events) if (e.cat === 'Node' && e.name.endsWith('_kernel_time')) byOp.set(e.args?.op_name ?? '?', (byOp.get(e.args?.op_name ?? '?') ?? 0) + e.dur);
  return Object.fromEntries([...byOp].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([name, us]) => [name, Math.round(us / 1000 / runs)]));
}

/** One length of Prefer's step in this process: compile, run steps, report timings and peak RSS. */
async function child(T: number): Promise<void> {
  const config = shapeConfig();
  const rows = 2;
  const built0 = performance.now();
  const { graph, adapter } = dpoGraph(config, onDemandRandomWeights(config, 0.02), { rows, length: T, headChunks, recompute: recompute !== 'off', keepProducts: recompute === 'products', baseWeights }, { rank: RANK, alpha: 2 * RANK }, { type: 'sigmoid', beta: 0.1 }, ADAMW_DEFAULTS);
  const { model, fedWeights } = serialize(lower(graph, 'cpu'), 'inputs');
  const lora = [...initialLoraWeights(adapter.layers, 1)].map(([name, d]) => ({ name, d, shape: graph.inputs.find((v) => v.name === name)!.shape as number[] }));
  const profilePrefix = join(tmpdir(), `prefer-bench-train-${process.pid}`);
  const session = await ort.InferenceSession.create(model, { ...trainingSessionOptions, intraOpNumThreads: threads, enableCpuMemArena: arena, enableMemPattern: memPattern, ...(profile ? { enableProfiling: true, profileFilePrefix: profilePrefix } : {}) });
  const compileMs = performance.now() - built0;
  // the high-water mark before any step: building the graph (each weight made as floats, then quantized) counts here
  const compileRssMB = Math.round(process.resourceUsage().maxRSS / 1024);
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, t] of fedWeights) feeds[name] = new ort.Tensor(t.dtype as 'float32', t.data as Float32Array, t.shape);
  const ids = BigInt64Array.from({ length: rows * T }, (_, i) => BigInt((i * 7919) % config.vocabSize));
  feeds.input_ids = new ort.Tensor('int64', ids, [rows, T]);
  feeds.targets = new ort.Tensor('int64', ids.map((_, i) => ids[(i + 1) % ids.length]!), [rows * T]);
  feeds.completion_mask = new ort.Tensor('float32', Float32Array.from({ length: rows * T }, (_, i) => (i % T >= T / 2 ? 1 : 0)), [rows, T]);
  feeds.reference_chosen_logps = new ort.Tensor('float32', Float32Array.of(-100), [1]);
  feeds.reference_rejected_logps = new ort.Tensor('float32', Float32Array.of(-100), [1]);
  feeds.learning_rate = new ort.Tensor('float32', Float32Array.of(1e-4), []);
  feeds.step = new ort.Tensor('float32', Float32Array.of(1), []);
  for (const { name, d, shape } of lora) {
    feeds[name] = new ort.Tensor('float32', d as Float32Array, shape);
    for (const s of Object.values(optimizerStateNames(name))) feeds[s] = new ort.Tensor('float32', new Float32Array(d.length), shape);
  }
  const warm0 = performance.now();
  await session.run(feeds); // warm-up
  // --steps 0: the warm-up step alone, timed (an upper bound, for shapes whose steps take many minutes)
  const times: number[] = steps === 0 ? [performance.now() - warm0] : [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    times.push(performance.now() - t0);
  }
  if (profile) session.endProfiling();
  await session.release();
  const best = Math.min(...times);
  process.stdout.write(
    JSON.stringify({
      length: T,
      rows,
      compileMs: Math.round(compileMs),
      stepMs: times.map(Math.round),
      bestStepMs: Math.round(best),
      flops: stepFlops(config, rows, T),
      peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
      compileRssMB,
      ...(profile ? { profileMsPerStep: profileByOp(profilePrefix, steps + 1) } : {}),
    }) + '\n',
  );
}

interface PreferStep {
  length: number;
  rows: number;
  compileMs: number;
  stepMs: number[];
  bestStepMs: number;
  flops: number;
  peakRssMB: number;
  compileRssMB: number;
  profileMsPerStep?: Record<string, number>;
}

interface TorchStep {
  step_s: number[];
  best_step_s: number;
  reference_s: number;
  policy_s: number;
  peak_rss_mb: number;
  torch: string;
}

/** The last JSON line a child printed, or the reason it printed none. */
function lastJson<T>(r: ReturnType<typeof spawnSync>, what: string): T | string {
  if (r.status === 0) return JSON.parse(String(r.stdout).trim().split('\n').at(-1)!) as T;
  const why = r.error?.message ?? (r.signal ? `killed by ${r.signal}` : `exit ${r.status}`);
  return `${what} failed (${why}): ${String(r.stderr ?? '').trim().split('\n').slice(-3).join(' ')}`;
}

function preferStep(T: number): PreferStep | string {
  const flags = ['--shape', shape, '--threads', String(threads), '--steps', String(steps), '--head-chunks', String(headChunks), '--recompute', recompute, '--weights', baseWeights];
  const extra = [...(arena ? [] : ['--no-arena']), ...(memPattern ? ['--mem-pattern'] : []), ...(profile ? ['--profile'] : [])];
  const r = spawnSync(process.execPath, [import.meta.filename, '--child', String(T), ...flags, ...extra], { encoding: 'utf8', maxBuffer: 1 << 20 });
  return lastJson<PreferStep>(r, `Prefer at length ${T}`);
}

function torchStep(T: number): TorchStep | string {
  const c = shapeConfig();
  const spec = {
    shape: { hidden: c.hiddenSize, layers: c.numLayers, heads: c.numHeads, kv_heads: c.numKvHeads, head_dim: c.headDim, intermediate: c.intermediateSize, vocab: c.vocabSize, tied: c.tieWordEmbeddings, qkv_bias: c.attentionBias, rope_theta: c.ropeTheta, norm_eps: c.normEps },
    length: T,
    threads,
    steps,
    rank: RANK,
  };
  // OpenMP's default spin-waiting makes every small PyTorch op take milliseconds once other processes hold the cores
  // (measured 25 s against 5 s for one step at load 18): passive waiting gives PyTorch its best case on a shared machine
  const env = { ...process.env, OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE' };
  const r = spawnSync(PYTHON, [TORCH_STEP, JSON.stringify(spec)], { encoding: 'utf8', maxBuffer: 1 << 20, env });
  return lastJson<TorchStep>(r, `PyTorch at length ${T}`);
}

const COLUMNS = ['shape', 'weights', 'T', 'Prefer s', 'PyTorch s', 'speed ×', 'PyT policy s', '× policy', 'anchor ratio', 'Prefer RSS MB', 'PyTorch RSS MB', 'load 1m'];
const WIDTHS = [13, 7, 5, 9, 10, 8, 13, 9, 13, 14, 15, 8];
const line = (cells: readonly (string | number)[]) => cells.map((c, i) => String(c).padStart(WIDTHS[i]!)).join(' ');

async function row(T: number): Promise<void> {
  const loads = [loadavg()[0]!];
  const before = await matmulAnchor();
  const prefer = preferStep(T);
  const after = await matmulAnchor();
  loads.push(loadavg()[0]!);
  const torch = values['skip-torch'] ? 'skipped' : torchStep(T);
  loads.push(loadavg()[0]!);
  const anchor = Math.max(before, after);
  const p = typeof prefer === 'string' ? undefined : prefer;
  const t = typeof torch === 'string' ? undefined : torch;
  const preferS = p ? p.bestStepMs / 1000 : undefined;
  const fmt = (x: number | undefined, digits: number) => (x === undefined ? '—' : x.toFixed(digits));
  console.log(
    line([
      shape,
      baseWeights,
      T,
      fmt(preferS, 2),
      fmt(t?.best_step_s, 2),
      fmt(t && preferS && t.best_step_s / preferS, 2),
      fmt(t?.policy_s, 2),
      fmt(t && preferS && t.policy_s / preferS, 2),
      fmt(p && p.flops / (p.bestStepMs / 1000) / anchor, 3),
      p?.peakRssMB ?? '—',
      t?.peak_rss_mb ?? '—',
      `${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}`,
    ]),
  );
  const detail = {
    prefer: p ? { steps_ms: p.stepMs, compile_ms: p.compileMs, peak_rss_before_steps_mb: p.compileRssMB, step_gflop: +(p.flops / 1e9).toFixed(1), achieved_gflops: +(p.flops / (p.bestStepMs / 1000) / 1e9).toFixed(1), ...(p.profileMsPerStep ? { profile_ms_per_step: p.profileMsPerStep } : {}) } : prefer,
    torch: t ? { steps_s: t.step_s, reference_s: t.reference_s, torch: t.torch } : torch,
    matmul_anchor_gflops: +(anchor / 1e9).toFixed(1),
  };
  console.log(`  ${JSON.stringify(detail)}`);
}

async function main(): Promise<void> {
  if (values.child) return child(Number(values.child));
  console.log(
    `bench:train — ${shape} shapes, fp32 compute, ${baseWeights} base (PyTorch: float32, OMP_WAIT_POLICY ${process.env.OMP_WAIT_POLICY ?? 'PASSIVE'}), CPU, ${threads} threads, LoRA r=${RANK} on all linears, 1 pair/step, ${steps === 0 ? 'the warm-up step alone' : `best of ${steps} steps after a warm-up`}, head vocabulary blocks ${headChunks}, CPU arena ${arena ? 'on' : 'off'}, recompute ${recompute}, memory pattern ${memPattern ? 'on' : 'off'}`,
  );
  console.log('speed × = PyTorch step / Prefer step (PyTorch with its reference forward); × policy = without it; anchor ratio = Prefer FLOP/s / ORT MatMul FLOP/s');
  console.log(line(COLUMNS));
  for (const T of values.lengths.split(',').map(Number)) await row(T);
}

await main();
