// The WebGPU tier: a LoRA-DPO round that keeps base weights, LoRA weights, AdamW moments and gradient sums on
// the GPU between steps (deviceState.ts) ends with the same adapter as the round fed from host memory and as
// the CPU round; only token data and scalars go up each step, only metrics come down; replaced GPU buffers are
// freed (memory stays flat).
//
// Tolerances: residency changes where tensors live, not which kernels run on which data, so the resident and
// the host-fed WebGPU rounds must agree bit for bit. WebGPU and CPU kernels sum in different orders (the
// training graph agrees to ~3e-6 relative, dpo-graph.test.ts); AdamW turns a gradient's relative error into
// at most about that fraction of the learning rate per step on coordinates with steady gradients, but up to a
// whole learning rate on coordinates whose gradient is near zero (the update is m/√v there). Ten steps measured
// 1.3e-5 apart at lr 2e-2 and weights up to 0.32: the bound 1e-4 × the largest weight (3e-5) allows twice that.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ADAMW_DEFAULTS } from '../../src/train/adamw.ts';
import { readCheckpoint } from '../../src/dpo/checkpoint.ts';
import type { HostTraffic } from '../../src/dpo/deviceState.ts';
import { type TrainOptions, type TrainResult, trainDpo } from '../../src/dpo/trainer.ts';
import { llamaConfig, randomWeights } from '../../src/engine/models/random.ts';
import { config, syntheticPairs, weights } from './syntheticTask.ts';

const examples = syntheticPairs();
const round: TrainOptions = {
  loss: { type: 'sigmoid', beta: 0.1 },
  lora: { rank: 4, alpha: 8 },
  optimizer: ADAMW_DEFAULTS,
  learningRate: 2e-2,
  warmupRatio: 0,
  epochs: 2,
  pairsPerStep: 2,
  lengthStep: 4,
  maxLength: 8,
  evalFraction: 0.25,
  seed: 1,
  padId: 0,
  headChunks: 2,
};

interface Run {
  result: TrainResult;
  traffic: HostTraffic[];
}

async function train(options: TrainOptions): Promise<Run> {
  const traffic: HostTraffic[] = [];
  const notices: string[] = [];
  const result = await trainDpo(config, weights(), examples, options, {
    onHostTraffic: (_, t) => traffic.push(t),
    onNotice: (m) => notices.push(m),
  });
  assert.deepEqual(notices, [], 'no fallback from residency');
  return { result, traffic };
}

function maxDifference(
  a: ReadonlyMap<string, Float32Array>,
  b: ReadonlyMap<string, Float32Array>,
): { difference: number; scale: number } {
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  let difference = 0;
  let scale = 0;
  for (const [name, x] of a) {
    const y = b.get(name)!;
    assert.equal(x.length, y.length, name);
    x.forEach((v, i) => {
      difference = Math.max(difference, Math.abs(v - y[i]!));
      scale = Math.max(scale, Math.abs(v));
    });
  }
  return { difference, scale };
}

function assertSameAdapter(resident: Run, host: Run, cpu: Run): void {
  assert.equal(resident.result.steps.length, cpu.result.steps.length);
  assert.ok(resident.result.steps.length >= 5, 'several optimizer steps');
  const exact = maxDifference(resident.result.weights, host.result.weights);
  assert.equal(exact.difference, 0, 'resident and host-fed WebGPU rounds agree bit for bit');
  assert.deepEqual(
    resident.result.steps.map((m) => m.loss),
    host.result.steps.map((m) => m.loss),
  );
  const { difference, scale } = maxDifference(resident.result.weights, cpu.result.weights);
  assert.ok(scale > 0.05, `the adapter moved (largest weight ${scale})`);
  assert.ok(
    difference <= 1e-4 * scale,
    `WebGPU vs CPU adapter: max difference ${difference.toExponential(2)}, largest weight ${scale.toFixed(3)}`,
  );
  assert.ok(
    Math.abs(resident.result.eval!.loss - cpu.result.eval!.loss) < 1e-4,
    `eval loss: cpu ${cpu.result.eval!.loss}, webgpu ${resident.result.eval!.loss}`,
  );
}

const bytes = (data: Map<string, Float32Array>) =>
  [...data.values()].reduce((sum, d) => sum + d.byteLength, 0);

async function threeWays(options: TrainOptions): Promise<{ resident: Run; host: Run; cpu: Run }> {
  return {
    resident: await train({ ...options, device: 'webgpu' }),
    host: await train({ ...options, device: 'webgpu', deviceResident: false }),
    cpu: await train({ ...options, device: 'cpu' }),
  };
}

// loss, six TRL reward and log-prob metrics, logits/chosen, logits/rejected, grad_norm: one float each
const METRIC_BYTES = 10 * 4;

test('a round with GPU-resident state ends with the adapter of the host-fed WebGPU round and of the CPU round', async () => {
  const { resident, host, cpu } = await threeWays(round);
  assertSameAdapter(resident, host, cpu);
});

test('a resident step feeds only token data and scalars from the host and returns only metrics', async () => {
  // no held-out pairs: every step is one full batch of the same shape
  const { resident, host } = await threeWays({ ...round, evalFraction: 0 });
  const pairs = round.pairsPerStep;
  const rows = 2 * pairs;
  const length = 8;
  // input_ids and targets (int64), completion_mask (float), two reference log-probs per pair, learning_rate, step
  const tokenData = rows * length * (8 + 8 + 4) + 2 * pairs * 4 + 4 + 4;
  const metrics = METRIC_BYTES;
  const loraAndMoments = 3 * bytes(resident.result.weights);
  // step 1 feeds the initial LoRA weights and zero moments; they never come from the host again
  assert.deepEqual(resident.traffic[0], { fedBytes: tokenData + loraAndMoments, returnedBytes: metrics });
  for (const [i, t] of resident.traffic.slice(1).entries())
    assert.deepEqual(t, { fedBytes: tokenData, returnedBytes: metrics }, `step ${i + 2}`);
  // the same round fed from the host moves the base weights up and the LoRA state both ways every step
  for (const [i, t] of host.traffic.entries()) {
    assert.ok(
      t.fedBytes > tokenData + loraAndMoments,
      `host-fed step ${i + 1} feeds base weights and LoRA state (${t.fedBytes} bytes)`,
    );
    assert.equal(t.returnedBytes, metrics + loraAndMoments, `host-fed step ${i + 1}`);
  }
});

test('checkpointing every step reads the state back each step and changes nothing in the round', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'prefer-resident-'));
  try {
    const options = (name: string): TrainOptions => ({
      ...round,
      checkpoint: { dir: join(dir, name), every: 1, resume: false },
    });
    const resident = await train({ ...options('resident'), device: 'webgpu' });
    const host = await train({ ...options('host'), device: 'webgpu', deviceResident: false });
    const cpu = await train({ ...options('cpu'), device: 'cpu' });
    assertSameAdapter(resident, host, cpu);
    // the last checkpoint holds the final adapter, read back from the GPU
    const saved = await readCheckpoint(join(dir, 'resident'));
    assert.equal(saved.step, resident.result.steps.length);
    const savedLora = new Map([...resident.result.weights.keys()].map((n) => [n, saved.tensors.get(n)!]));
    assert.equal(maxDifference(savedLora, resident.result.weights).difference, 0);
    const state = 3 * bytes(resident.result.weights);
    for (const [i, t] of resident.traffic.slice(1).entries())
      assert.equal(
        t.returnedBytes,
        METRIC_BYTES + state,
        `step ${i + 2} returns metrics and the checkpointed state`,
      );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('with gradient accumulation the running gradient sums stay on the GPU and the adapter matches', async () => {
  const { resident, host, cpu } = await threeWays({ ...round, gradientAccumulation: 2 });
  assertSameAdapter(resident, host, cpu);
  const pairs = round.pairsPerStep;
  const perRun = 2 * pairs * 8 * (8 + 8 + 4) + 2 * pairs * 4;
  // an optimizer step of two micro-batches: token data twice, learning_rate, step, accumulated_batches
  const twoBatches = 2 * perRun + 3 * 4;
  const full = resident.traffic.slice(1).filter((t) => t.fedBytes === twoBatches);
  assert.ok(
    full.length >= 1,
    `steps after the first feed only token data and scalars: ${JSON.stringify(resident.traffic)}`,
  );
  for (const t of resident.traffic.slice(1))
    assert.ok(
      t.fedBytes <= twoBatches,
      `no LoRA state or gradient sums fed from the host: ${t.fedBytes} bytes`,
    );
});

test('a resident round cancelled and resumed from its checkpoint ends exactly like an uninterrupted one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'prefer-resident-resume-'));
  try {
    const checkpoint = { dir: join(dir, 'ckpt'), every: 2, resume: true };
    const whole = await train({ ...round, device: 'webgpu' });
    const controller = new AbortController();
    const cut = await trainDpo(
      config,
      weights(),
      examples,
      { ...round, device: 'webgpu', checkpoint },
      { signal: controller.signal, onStep: (m) => m.step === 3 && controller.abort() },
    );
    assert.ok(cut.cancelled && cut.steps.length === 3);
    const resumed = await trainDpo(config, weights(), examples, { ...round, device: 'webgpu', checkpoint });
    assert.equal(resumed.steps.length, whole.result.steps.length);
    assert.equal(maxDifference(resumed.weights, whole.result.weights).difference, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a resident round frees the GPU buffers it replaces: memory stays flat over the steps', async () => {
  // a wide adapter on a small model: 7 MB of LoRA weights and moments are replaced every step
  const wide = llamaConfig({
    vocabSize: 512,
    hiddenSize: 256,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 2,
    headDim: 64,
    intermediateSize: 688,
  });
  const pairs = Array.from({ length: 24 }, (_, i) => ({
    prompt: [3 + (i % 7), 4, 5],
    chosen: [6, 7 + (i % 5)],
    rejected: [8, 9 + (i % 3)],
  }));
  const rss: number[] = [];
  let stateBytes = 0;
  const result = await trainDpo(
    wide,
    randomWeights(wide, 2, 0.05),
    pairs,
    {
      ...round,
      lora: { rank: 64, alpha: 64 },
      pairsPerStep: 1,
      epochs: 1,
      evalFraction: 0,
      device: 'webgpu',
    },
    {
      onStep: () => rss.push(process.memoryUsage().rss),
      onHostTraffic: (step, t) => step === 1 && (stateBytes = t.fedBytes),
    },
  );
  assert.equal(rss.length, 24);
  const leakPerStep = 3 * bytes(result.weights);
  assert.ok(stateBytes > leakPerStep, 'step 1 fed the initial LoRA state');
  const growth = rss.at(-1)! - rss[3]!;
  const leaked = leakPerStep * (rss.length - 4);
  assert.ok(
    growth < leaked / 4,
    `memory grew ${(growth / 2 ** 20).toFixed(1)} MiB over ${rss.length - 4} steps; unfreed state would be ${(leaked / 2 ** 20).toFixed(1)} MiB`,
  );
});
