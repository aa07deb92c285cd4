/**
 * LoRA-DPO training step speed and memory in SmolLM2-135M shapes (random weights, fp32, CPU), LoRA r=16 on
 * every linear, one pair (two rows) per step, at lengths 256 and 512:
 *   - step time and tokens/s (both rows counted)
 *   - achieved FLOP/s (the step's matmul and attention FLOPs, counted below) divided by the FLOP/s of one large
 *     ORT MatMul measured in the same run with the same threads (the anchor)
 *   - peak resident memory of the process running the step (each length runs in its own child process)
 * The machine is shared and noisy: the anchor is measured right before and after each length and the best
 * of each is kept; read ratios, not absolute numbers.
 *
 * The step graph recomputes each layer in the backward pass around the products it keeps (with base weights,
 * the attention context: the trainer's default); --recompute layers recomputes whole layers, --recompute off keeps every activation.
 * Sessions use the trainer's options (trainingSessionOptions); --mem-pattern turns ORT's memory pattern back on.
 * --weights stores the frozen base's linears as `prefer train --weights` does (int8/int4 blocks dequantized a layer
 * at a time); the random weights are made tensor by tensor on demand, so peak RSS counts what the graph keeps.
 *
 *   npm run bench:train [-- --threads 2 --steps 3 --lengths 256,512 --head-chunks 8 --no-arena --recompute products|layers|off --mem-pattern --weights fp32|int8|int4]
 */
import { spawnSync } from 'node:child_process';
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
 * Useful FLOPs of one step: forward, backward to the activations (LoRA-only training still needs dX everywhere),
 * LM-head recompute. The recomputed layer forwards are not counted: they are the price of the memory saved.
 */
function stepFlops(c: ModelConfig, rows: number, T: number): number {
  const tokens = rows * T;
  const { hiddenSize: C, numHeads: H, numKvHeads: Hkv, headDim: D, intermediateSize: F, numLayers: L, vocabSize: V } = c;
  const linear = L * (C * H * D + 2 * C * Hkv * D + H * D * C + 3 * C * F);
  const lora = L * RANK * (C + H * D + 2 * (C + Hkv * D) + (H * D + C) + 2 * (C + F) + (F + C));
  const attention = L * rows * 2 * T * T * H * D; // QKᵀ and PV, multiply-adds
  const head = V * C;
  const forward = 2 * tokens * (linear + lora + head) + 2 * attention;
  // backward: dX of every linear and LoRA product, dA/dB, attention's four products, head recompute + dX
  const backward = 2 * tokens * (linear + 2 * lora) + 4 * attention + 2 * 2 * tokens * head;
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

/** One length in this process: compile, run steps, report timings and peak RSS. */
async function child(T: number): Promise<void> {
  const config = smolLM2Config();
  const rows = 2;
  const built0 = performance.now();
  const { graph, adapter } = dpoGraph(config, onDemandRandomWeights(config, 0.02), { rows, length: T, headChunks, recompute: recompute !== 'off', keepProducts: recompute === 'products', baseWeights }, { rank: RANK, alpha: 2 * RANK }, { type: 'sigmoid', beta: 0.1 }, ADAMW_DEFAULTS);
  const { model, fedWeights } = serialize(lower(graph, 'cpu'), 'inputs');
  const lora = [...initialLoraWeights(adapter.layers, 1)].map(([name, d]) => ({ name, d, shape: graph.inputs.find((v) => v.name === name)!.shape as number[] }));
  const session = await ort.InferenceSession.create(model, { ...trainingSessionOptions, intraOpNumThreads: threads, enableCpuMemArena: arena, enableMemPattern: memPattern });
  const compileMs = performance.now() - built0;
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
  await session.run(feeds); // warm-up
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    times.push(performance.now() - t0);
  }
  await session.release();
  const best = Math.min(...times);
  process.stdout.write(
    JSON.stringify({ length: T, rows, compileMs: Math.round(compileMs), stepMs: times.map(Math.round), bestStepMs: Math.round(best), flops: stepFlops(config, rows, T), peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024) }) + '\n',
  );
}

async function main(): Promise<void> {
  if (values.child) return child(Number(values.child));
  console.log(
    `bench:train — SmolLM2-135M shapes, fp32 compute, ${baseWeights} base, CPU, ${threads} threads, LoRA r=${RANK} on all linears, 1 pair/step, head row blocks ${headChunks}, CPU arena ${arena ? 'on' : 'off'}, recompute ${recompute}, memory pattern ${memPattern ? 'on' : 'off'}`,
  );
  for (const T of values.lengths.split(',').map(Number)) {
    const before = await matmulAnchor();
    const r = spawnSync(process.execPath, [import.meta.filename, '--child', String(T), '--threads', String(threads), '--steps', String(steps), '--head-chunks', String(headChunks), '--recompute', recompute, '--weights', baseWeights, ...(arena ? [] : ['--no-arena']), ...(memPattern ? ['--mem-pattern'] : [])], { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (r.status !== 0) throw new Error(`length ${T}: child failed: ${r.stderr.split('\n').slice(-5).join(' ')}`);
    const after = await matmulAnchor();
    const peak = Math.max(before, after);
    const m = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { length: number; rows: number; compileMs: number; stepMs: number[]; bestStepMs: number; flops: number; peakRssMB: number };
    const achieved = m.flops / (m.bestStepMs / 1000);
    console.log(
      JSON.stringify({
        length: T,
        step_ms: m.bestStepMs,
        steps_ms: m.stepMs,
        tokens_per_s: Math.round((m.rows * T) / (m.bestStepMs / 1000)),
        step_gflop: +(m.flops / 1e9).toFixed(1),
        achieved_gflops: +(achieved / 1e9).toFixed(1),
        matmul_anchor_gflops: +(peak / 1e9).toFixed(1),
        ratio_to_anchor: +(achieved / peak).toFixed(3),
        peak_rss_mb: m.peakRssMB,
        compile_ms: m.compileMs,
      }),
    );
  }
}

await main();
