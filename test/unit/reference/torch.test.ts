/**
 * Prefer's LoRA-DPO step against an independent PyTorch implementation (test/reference/torch, run by Debian's
 * python3-torch as /usr/bin/python3): on the same fixture checkpoint, the same pairs (packed and padded as the
 * trainer packs them) and the same LoRA weights and AdamW moments, the per-sequence log-probs, every loss of the
 * registry, the LoRA gradients (clipped, read out of the step's first moment), the moments and the weights after one
 * AdamW step agree within 1e-4 relative (ours fp32, theirs fp64). Each step graph is the one the trainer runs.
 * KTO, on unpaired examples, adds the log-probs of the batch's mismatched rows and its KL estimate.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import {
  type CheckpointKind,
  END_OF_TEXT_ID,
  FIXTURE_VOCAB_SIZE,
  makeCheckpoint,
} from '../../../scripts/fixtures/make-checkpoints.ts';
import { type PreferenceExample, type UnpairedExample, bucketLength, mismatched, packBatch, packRows, unpairedLength } from '../../../src/dpo/examples.ts';
import {
  DPO_LOSSES,
  DPO_LOSS_TYPES,
  type DpoLossConfig,
  lossTerms,
  usesAverageLogps,
} from '../../../src/dpo/losses.ts';
import { type LoraConfig, initialLoraWeights } from '../../../src/dpo/lora.ts';
import { type DpoGraph, adaptedLogpsGraph, dpoGraph, ktoGraph, referenceGraph } from '../../../src/dpo/trainingGraph.ts';
import type { Graph } from '../../../src/engine/graph/ir.ts';
import { lower } from '../../../src/engine/graph/lower.ts';
import { serialize } from '../../../src/engine/graph/onnx.ts';
import { loadCheckpoint } from '../../../src/engine/hf/checkpoint.ts';
import { encodeSafetensors } from '../../../src/engine/hf/safetensors-write.ts';
import type { Checkpoint } from '../../../src/engine/hf/types.ts';
import { uniformStream } from '../../../src/engine/models/seededStream.ts';
import { ADAMW_DEFAULTS, type AdamWConfig, nextName, optimizerStateNames } from '../../../src/train/adamw.ts';
import { scalarFeed, trainingSessionOptions } from '../../../src/train/session.ts';

const execFileAsync = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const STEP_SCRIPT = join(import.meta.dirname, '../../reference/torch/step.py');
const TOLERANCE = 1e-4;
const LENGTH_STEP = 8;
const LEARNING_RATE = 1e-2;
/** The optimizer step taken (1-based): past the first, so that bias correction and the fed moments matter. */
const STEP = 3;

const root = mkdtempSync(join(tmpdir(), 'prefer-torch-reference-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** The tier needs PyTorch: without it the comparison fails, it is never skipped. */
function requireTorch(): void {
  const probe = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    throw new Error(
      `the PyTorch reference needs ${PYTHON} with torch and numpy: install python3-torch python3-numpy libopenblas0-pthread with apt (scripts/setup.sh does)\n${probe.error?.message ?? probe.stderr}`,
    );
  }
}

/** Two pairs of different lengths sharing one bucket, so rows are padded by different amounts. */
function examples(seed: number): PreferenceExample[] {
  const rand = uniformStream(seed);
  const tokens = (n: number) =>
    Array.from({ length: n }, () => Math.floor(((rand() + 1) / 2) * END_OF_TEXT_ID));
  return [
    { prompt: tokens(7), chosen: tokens(5), rejected: tokens(3) },
    { prompt: tokens(3), chosen: tokens(2), rejected: tokens(6) },
  ];
}

function packedFeeds(pairs: readonly PreferenceExample[], length: number): Record<string, ort.Tensor> {
  const packed = packBatch(pairs, length, END_OF_TEXT_ID);
  const rows = 2 * pairs.length;
  return {
    input_ids: new ort.Tensor('int64', packed.inputIds, [rows, length]),
    targets: new ort.Tensor('int64', packed.targets, [rows * length]),
    completion_mask: new ort.Tensor('float32', packed.completionMask, [rows, length]),
  };
}

/** One run, with the trainer's session options on one thread (tiny graphs, run side by side). */
async function run(
  graph: Graph,
  feeds: Record<string, ort.Tensor>,
): Promise<ort.InferenceSession.ReturnType> {
  const session = await ort.InferenceSession.create(serialize(lower(graph, 'cpu')).model, {
    ...trainingSessionOptions,
    intraOpNumThreads: 1,
  });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

const floats = (t: ort.Tensor | undefined) => Array.from(t!.data as Float32Array);

/** max |ours − theirs| ≤ TOLERANCE · max |theirs|. */
function assertClose(ours: readonly number[], theirs: readonly number[], what: string): void {
  assert.equal(ours.length, theirs.length, `${what}: ${ours.length} values, the reference ${theirs.length}`);
  const scale = Math.max(...theirs.map(Math.abs));
  const error = Math.max(...ours.map((v, i) => Math.abs(v - theirs[i]!)));
  assert.ok(scale > 0, `${what}: the reference is all zeros, nothing is compared`);
  assert.ok(
    error <= TOLERANCE * scale,
    `${what}: max difference ${error.toExponential(2)} exceeds ${TOLERANCE} × ${scale.toExponential(2)}`,
  );
}

/** Each value within TOLERANCE of its own magnitude. */
function assertEachClose(ours: readonly number[], theirs: readonly number[], what: string): void {
  theirs.forEach((t, i) => assertClose([ours[i]!], [t], `${what}[${i}]`));
}

/** Per LoRA tensor (PEFT name), flattened. */
type Tensors = Record<string, number[]>;

/** One loss's step in PyTorch. */
interface StepOutput {
  loss: number;
  grad_norm: number;
  clipped_grad: Tensors;
  next: Tensors;
  exp_avg: Tensors;
  exp_avg_sq: Tensors;
}

interface ReferenceOutput {
  reference_logps: { chosen: number[]; rejected: number[] };
  policy_logps: { chosen: number[]; rejected: number[] };
  losses: Record<string, StepOutput>;
}

/** Loss, gradient norm, clipped gradients, moments and weights after the step: ours against PyTorch's. */
function assertSameStep(
  loss: string,
  ours: ort.InferenceSession.ReturnType,
  expected: StepOutput,
  names: Iterable<string>,
  state: ReadonlyMap<string, Float32Array>,
  optimizer: AdamWConfig,
): void {
  assertClose(floats(ours.loss), [expected.loss], `${loss}: loss`);
  assertClose(floats(ours.grad_norm), [expected.grad_norm], `${loss}: gradient norm before clipping`);
  for (const name of names) {
    const { expAvg, expAvgSq } = optimizerStateNames(name);
    const [before, expAvgBefore] = [Array.from(state.get(name)!), Array.from(state.get(expAvg)!)];
    const next = floats(ours[nextName(name)]);
    const expAvgNext = floats(ours[nextName(expAvg)]);
    // the clipped gradient, out of the first moment: m' = β1·m + (1 − β1)·g
    const gradient = expAvgNext.map((m, i) => (m - optimizer.beta1 * expAvgBefore[i]!) / (1 - optimizer.beta1));
    assertClose(gradient, expected.clipped_grad[name]!, `${loss}: clipped gradient of ${name}`);
    assertClose(expAvgNext, expected.exp_avg[name]!, `${loss}: exp_avg of ${name}`);
    assertClose(floats(ours[nextName(expAvgSq)]), expected.exp_avg_sq[name]!, `${loss}: exp_avg_sq of ${name}`);
    assertClose(next, expected.next[name]!, `${loss}: ${name} after the step`);
    const update = (after: readonly number[]) => after.map((v, i) => v - before[i]!);
    assertClose(update(next), update(expected.next[name]!), `${loss}: update of ${name}`);
  }
}

/** BCO's δ as the trainer would feed it after earlier batches (graphs that take it get it). */
const RUNNING_REWARD_MEAN = 0.05;

interface LossCase {
  name: string;
  config: DpoLossConfig;
}

/**
 * Every loss of the registry on its own, with label smoothing wherever it takes one (a loss without a formula in
 * test/reference/torch/losses.py fails the comparison), and combinations as TRL's `loss_type` list makes them.
 */
const LOSS_CASES: LossCase[] = [
  ...DPO_LOSS_TYPES.filter((type) => !DPO_LOSSES[type].unpaired).map((type) => ({
    name: type,
    config: { type, beta: 0.1, labelSmoothing: DPO_LOSSES[type].labelSmoothing === null ? 0 : 0.1 },
  })),
  // one loss on length-averaged log-probs makes every loss of the list use them
  { name: 'sigmoid,ipo weighted 1,0.2', config: { type: ['sigmoid', 'ipo'], weights: [1, 0.2], beta: 0.1 } },
];
/** Summed and length-averaged log-probs, gentle and steep gradients: what a second model needs besides its forward. */
const MODEL_LOSS_CASES = LOSS_CASES.filter((c) =>
  ['sigmoid', 'ipo', 'sigmoid,ipo weighted 1,0.2'].includes(c.name),
);

/** The reference's settings for a loss case (snake_case, as TRL names them). */
const torchLossSettings = ({ name, config }: LossCase) => ({
  name,
  types: lossTerms(config).map((t) => t.type),
  weights: lossTerms(config).map((t) => t.weight),
  beta: config.beta,
  label_smoothing: config.labelSmoothing ?? 0,
  running_reward_mean: RUNNING_REWARD_MEAN,
  ...(config.discopopTau === undefined ? {} : { discopop_tau: config.discopopTau }),
  ...(config.desirableWeight === undefined ? {} : { desirable_weight: config.desirableWeight }),
  ...(config.undesirableWeight === undefined ? {} : { undesirable_weight: config.undesirableWeight }),
});

/** Scalar inputs some losses' graphs take besides the batch and the adapter. */
const lossInputs = (graph: Graph): Record<string, ort.Tensor> =>
  graph.inputs.some((v) => v.name === 'running_reward_mean')
    ? { running_reward_mean: scalarFeed(RUNNING_REWARD_MEAN) }
    : {};

/** LoRA weights with B ≠ 0 (a fresh adapter's gradient wrt A is zero) and moments of an earlier step. */
function trainedState(names: Map<string, number[]>, seed: number): Map<string, Float32Array> {
  const rand = uniformStream(seed);
  const state = new Map<string, Float32Array>();
  for (const [name, shape] of names) {
    const random = (scale: number, offset = 0) =>
      Float32Array.from({ length: shape.reduce((n, d) => n * d, 1) }, () => scale * (offset + rand()));
    const { expAvg, expAvgSq } = optimizerStateNames(name);
    if (name.includes('lora_B')) state.set(name, random(0.1));
    state.set(expAvg, random(5e-3));
    state.set(expAvgSq, random(1e-4, 1.5));
  }
  return state;
}

/** PyTorch's numbers for this checkpoint, pairs, adapter state and losses (run while ours are computed). */
async function torchReference<Output = ReferenceOutput>(
  dir: string,
  checkpointDir: string,
  examples: { pairs: PreferenceExample[] } | { unpaired: UnpairedExample[] },
  lora: LoraConfig,
  optimizer: AdamWConfig,
  losses: readonly LossCase[],
  tensors: Map<string, { shape: number[]; data: Float32Array }>,
): Promise<Output> {
  const input = {
    checkpoint: checkpointDir,
    ...examples,
    lora: { rank: lora.rank, alpha: lora.alpha, rs_lora: lora.rsLora ?? false },
    optimizer: {
      lr: LEARNING_RATE,
      step: STEP,
      beta1: optimizer.beta1,
      beta2: optimizer.beta2,
      epsilon: optimizer.epsilon,
      weight_decay: optimizer.weightDecay,
      max_grad_norm: optimizer.maxGradNorm,
    },
    losses: losses.map(torchLossSettings),
  };
  writeFileSync(join(dir, 'input.json'), JSON.stringify(input));
  writeFileSync(
    join(dir, 'state.safetensors'),
    encodeSafetensors([...tensors].map(([name, t]) => ({ name, ...t }))),
  );
  try {
    await execFileAsync(PYTHON, [STEP_SCRIPT, dir], {
      // one thread, as the graphs' sessions share the machine; no __pycache__ beside the reference's sources
      env: { ...process.env, OMP_NUM_THREADS: '1', PYTHONDONTWRITEBYTECODE: '1' },
    });
  } catch (error) {
    const { stderr, message } = error as { stderr?: string; message: string };
    throw new Error(`the PyTorch reference failed (${PYTHON} ${STEP_SCRIPT}):\n${stderr || message}`);
  }
  return JSON.parse(readFileSync(join(dir, 'output.json'), 'utf8')) as Output;
}

/** The adapter's names and shapes, and its state: initial A, trained B and moments, as tensors and as feeds. */
function adapterState(adapter: DpoGraph['adapter']) {
  const shapes = new Map(adapter.parameters().map((v) => [v.name, v.shape as number[]]));
  const state = new Map([...initialLoraWeights(adapter.layers, 3)] as [string, Float32Array][]);
  for (const [name, values] of trainedState(shapes, 4)) state.set(name, values);
  const tensors = new Map(
    [...state].map(([name, d]) => [name, { shape: shapes.get(name.replace(/\.exp_avg(_sq)?$/, ''))!, data: d }]),
  );
  const feed = (name: string) => new ort.Tensor('float32', state.get(name)!, tensors.get(name)!.shape);
  const loraFeeds = Object.fromEntries([...shapes.keys()].map((n) => [n, feed(n)]));
  const momentFeeds = Object.fromEntries(
    [...shapes.keys()].flatMap((n) => Object.values(optimizerStateNames(n)).map((m) => [m, feed(m)])),
  );
  return { shapes, state, tensors, loraFeeds, momentFeeds };
}

const cases: {
  kind: CheckpointKind;
  lora: LoraConfig;
  optimizer: AdamWConfig;
  losses: readonly LossCase[];
  label: string;
}[] = [
  {
    kind: 'llama',
    lora: { rank: 4, alpha: 8 },
    optimizer: ADAMW_DEFAULTS,
    losses: LOSS_CASES,
    label: 'llama (untied head), LoRA alpha/r, AdamW defaults (clipping at 1), every loss',
  },
  // clipping at 10 clips the steepest losses only, so both sides of the clip are compared
  {
    kind: 'qwen2',
    lora: { rank: 4, alpha: 8, rsLora: true },
    optimizer: { ...ADAMW_DEFAULTS, weightDecay: 0.05, maxGradNorm: 10 },
    losses: MODEL_LOSS_CASES,
    label: 'qwen2 (q/k/v bias, tied head), rsLoRA, weight decay, clipping at 10',
  },
];

for (const { kind, lora, optimizer, losses, label } of cases) {
  test(`${label}: log-probs, losses, LoRA gradients and one AdamW step agree with PyTorch`, async () => {
    requireTorch();
    const dir = mkdtempSync(join(root, `${kind}-`));
    const checkpoint: Checkpoint = await loadCheckpoint(await makeCheckpoint(kind, join(dir, 'checkpoint')));
    const { config, weights } = checkpoint;
    assert.equal(config.vocabSize, FIXTURE_VOCAB_SIZE);
    const pairs = examples(kind === 'llama' ? 7 : 8);
    const length = Math.max(...pairs.map((e) => bucketLength(e, LENGTH_STEP, 64)));
    const data = packedFeeds(pairs, length);
    const shape = { rows: 2 * pairs.length, length, headChunks: 2 };

    const sigmoid: DpoLossConfig = { type: 'sigmoid', beta: 0.1 };
    const { adapter } = dpoGraph(config, weights, shape, lora, sigmoid, null);
    assert.equal(adapter.layers.length, config.numLayers * 7, 'every linear of attention and MLP is adapted');
    const { shapes, state, tensors, loraFeeds, momentFeeds } = adapterState(adapter);

    const reference = torchReference(dir, checkpoint.dir, { pairs }, lora, optimizer, losses, tensors);
    // a failure before the reference is awaited must not leave its rejection unhandled
    reference.catch(() => {});

    // per-sequence log-probs, adapter off: the trainer's reference graph over the padded batch, once per averaging
    const referenceLogps = new Map<boolean, Promise<number[]>>();
    const referenceFor = (loss: DpoLossConfig) => {
      const average = usesAverageLogps(loss);
      if (!referenceLogps.has(average))
        referenceLogps.set(
          average,
          run(referenceGraph(config, weights, shape, loss), data).then((out) => floats(out.sequence_logps)),
        );
      return referenceLogps.get(average)!;
    };
    const summed = await referenceFor(sigmoid);
    // adapter on: the eval graph of a single pair logs that pair's log-probs
    const policy: number[][] = [];
    for (const [p, pair] of pairs.entries()) {
      const out = await run(dpoGraph(config, weights, { rows: 2, length }, lora, sigmoid, null).graph, {
        ...packedFeeds([pair], length),
        reference_chosen_logps: new ort.Tensor('float32', Float32Array.of(summed[p]!), [1]),
        reference_rejected_logps: new ort.Tensor('float32', Float32Array.of(summed[pairs.length + p]!), [1]),
        ...loraFeeds,
      });
      policy.push([...floats(out['logps/chosen']), ...floats(out['logps/rejected'])]);
    }
    // the step graph of each loss, compiled side by side: loss → gradients → clipping → AdamW
    const stepOf = async (lossConfig: DpoLossConfig) => {
      const logps = await referenceFor(lossConfig);
      const step = dpoGraph(config, weights, shape, lora, lossConfig, optimizer).graph;
      return run(step, {
        ...data,
        reference_chosen_logps: new ort.Tensor('float32', Float32Array.from(logps.slice(0, pairs.length)), [
          pairs.length,
        ]),
        reference_rejected_logps: new ort.Tensor('float32', Float32Array.from(logps.slice(pairs.length)), [
          pairs.length,
        ]),
        ...lossInputs(step),
        ...loraFeeds,
        ...momentFeeds,
        learning_rate: scalarFeed(LEARNING_RATE),
        step: scalarFeed(STEP),
      });
    };
    const steps = new Map(
      await Promise.all(losses.map(async (c) => [c.name, await stepOf(c.config)] as const)),
    );

    const theirs = await reference;
    assertEachClose(
      summed,
      [...theirs.reference_logps.chosen, ...theirs.reference_logps.rejected],
      'reference log-probs',
    );
    policy.forEach((ours, p) =>
      assertEachClose(
        ours,
        [theirs.policy_logps.chosen[p]!, theirs.policy_logps.rejected[p]!],
        `policy log-probs of pair ${p}`,
      ),
    );
    for (const { name: loss } of losses) {
      const expected = theirs.losses[loss];
      assert.ok(expected, `no PyTorch reference for loss ${loss}`);
      assertSameStep(loss, steps.get(loss)!, expected, shapes.keys(), state, optimizer);
    }
  });
}

interface UnpairedReferenceOutput {
  reference_logps: number[];
  policy_logps: number[];
  mismatched_reference_logps: number[];
  mismatched_policy_logps: number[];
  kl: number;
  losses: Record<string, StepOutput>;
}

/** KTO with TRL's default weights, and with weights that set the two sides apart. */
const KTO_CASES: LossCase[] = [
  { name: 'kto', config: { type: 'kto', beta: 0.1 } },
  { name: 'kto weighted 1.33,0.75', config: { type: 'kto', beta: 0.1, desirableWeight: 1.33, undesirableWeight: 0.75 } },
];

/** Five unpaired examples of different lengths in one batch, three desirable and two undesirable. */
function unpairedExamples(seed: number): UnpairedExample[] {
  const rand = uniformStream(seed);
  const tokens = (n: number) => Array.from({ length: n }, () => Math.floor(((rand() + 1) / 2) * END_OF_TEXT_ID));
  return [
    { prompt: tokens(6), completion: tokens(4), desirable: true },
    { prompt: tokens(3), completion: tokens(6), desirable: false },
    { prompt: tokens(5), completion: tokens(2), desirable: true },
    { prompt: tokens(4), completion: tokens(5), desirable: false },
    { prompt: tokens(2), completion: tokens(3), desirable: true },
  ];
}

test('kto on llama: log-probs of the examples and the mismatched rows, the KL estimate, the loss, LoRA gradients and one AdamW step agree with PyTorch', async () => {
  requireTorch();
  const dir = mkdtempSync(join(root, 'kto-'));
  const checkpoint = await loadCheckpoint(await makeCheckpoint('llama', join(dir, 'checkpoint')));
  const { config, weights } = checkpoint;
  const lora: LoraConfig = { rank: 4, alpha: 8 };
  const optimizer = ADAMW_DEFAULTS;
  const examples = unpairedExamples(11);
  const mismatchedRows = mismatched(examples, 64);
  const lengthOf = (rows: UnpairedExample[]) => Math.ceil(Math.max(...rows.map(unpairedLength)) / LENGTH_STEP) * LENGTH_STEP;
  const [length, mismatchedLength] = [lengthOf(examples), lengthOf(mismatchedRows)];
  const rows = examples.length;
  const shape = { rows, length, headChunks: 2 };
  const { adapter } = ktoGraph(config, weights, shape, lora, KTO_CASES[0]!.config, null);
  const { shapes, state, tensors, loraFeeds, momentFeeds } = adapterState(adapter);
  const reference = torchReference<UnpairedReferenceOutput>(dir, checkpoint.dir, { unpaired: examples }, lora, optimizer, KTO_CASES, tensors);
  reference.catch(() => {});

  const rowFeeds = (r: UnpairedExample[], len: number) => {
    const packed = packRows(r, len, END_OF_TEXT_ID);
    return {
      input_ids: new ort.Tensor('int64', packed.inputIds, [r.length, len]),
      targets: new ort.Tensor('int64', packed.targets, [r.length * len]),
      completion_mask: new ort.Tensor('float32', packed.completionMask, [r.length, len]),
    };
  };
  const logpsOf = async (graph: Graph, r: UnpairedExample[], len: number, more = {}) =>
    floats((await run(graph, { ...rowFeeds(r, len), ...more })).sequence_logps);
  const kto = KTO_CASES[0]!.config;
  const referenceLogps = await logpsOf(referenceGraph(config, weights, shape, kto), examples, length);
  const mismatchedShape = { rows, length: mismatchedLength, headChunks: 2 };
  const mismatchedReference = await logpsOf(referenceGraph(config, weights, mismatchedShape, kto), mismatchedRows, mismatchedLength);
  const mismatchedPolicy = await logpsOf(adaptedLogpsGraph(config, weights, mismatchedShape, lora), mismatchedRows, mismatchedLength, loraFeeds);
  const policyLogps = await logpsOf(adaptedLogpsGraph(config, weights, shape, lora), examples, length, loraFeeds);
  const vector = (values: number[]) => new ort.Tensor('float32', Float32Array.from(values), [values.length]);
  const steps = new Map<string, ort.InferenceSession.ReturnType>();
  for (const { name, config: loss } of KTO_CASES) {
    steps.set(
      name,
      await run(ktoGraph(config, weights, shape, lora, loss, optimizer).graph, {
        ...rowFeeds(examples, length),
        desirable: vector(examples.map((e) => (e.desirable ? 1 : 0))),
        reference_logps: vector(referenceLogps),
        kl_logps: vector(mismatchedPolicy),
        reference_kl_logps: vector(mismatchedReference),
        ...loraFeeds,
        ...momentFeeds,
        learning_rate: scalarFeed(LEARNING_RATE),
        step: scalarFeed(STEP),
      }),
    );
  }

  const theirs = await reference;
  assertEachClose(referenceLogps, theirs.reference_logps, 'reference log-probs');
  assertEachClose(policyLogps, theirs.policy_logps, 'policy log-probs');
  assertEachClose(mismatchedReference, theirs.mismatched_reference_logps, 'reference log-probs of the mismatched rows');
  assertEachClose(mismatchedPolicy, theirs.mismatched_policy_logps, 'policy log-probs of the mismatched rows');
  // a clamped estimate would leave the reference point out of the comparison
  assert.ok(theirs.kl > 0, `the KL estimate ${theirs.kl} is clamped to 0: the case compares no reference point`);
  for (const { name } of KTO_CASES) {
    const expected = theirs.losses[name];
    assert.ok(expected, `no PyTorch reference for loss ${name}`);
    assertClose(floats(steps.get(name)!.kl), [theirs.kl], `${name}: KL estimate`);
    assertSameStep(name, steps.get(name)!, expected, shapes.keys(), state, optimizer);
  }
});
