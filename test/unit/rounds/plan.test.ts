import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { RoundRecord } from '../../../src/dpo/checkpoint.ts';
import { defaultTraining, defaultValues } from '../../../src/rounds/options.ts';
import {
  checkpointBeside,
  commandLineTraining,
  estimatedSteps,
  planNewRound,
  planResumedRound,
} from '../../../src/rounds/plan.ts';

const storage = '/storage';
const started = new Date('2025-03-04T05:06:07.089Z');

describe('planning a round', () => {
  it('puts prefer train’s checkpoint beside the adapter folder, whatever slashes end it', () => {
    assert.equal(checkpointBeside('out/adapter'), 'out/adapter.checkpoint');
    assert.equal(checkpointBeside('out/adapter//'), 'out/adapter.checkpoint');
    assert.equal(checkpointBeside('out\\adapter\\'), 'out\\adapter.checkpoint');
    const training = commandLineTraining({ ...defaultValues(), 'checkpoint-every': 3, resume: true }, 'out/a/');
    assert.deepEqual(training.checkpoint, { dir: 'out/a.checkpoint', every: 3, resume: true });
    assert.equal(Object.keys(training).at(-1), 'checkpoint');
  });

  it('gives a new editor round an adapter folder and a checkpoint folder named by its start', () => {
    const plan = planNewRound(storage, '/models/m', { range: 'all', filter: {}, pairs: 10, loss: 'robust', beta: 0.2, epochs: 2 }, 25, started);
    assert.equal(plan.outDir, join(storage, 'adapters', '2025-03-04T05-06-07-089Z'));
    assert.deepEqual(plan.training.checkpoint, { dir: join(storage, 'checkpoints', '2025-03-04T05-06-07-089Z'), every: 25, resume: false });
    assert.deepEqual(plan.training.loss, { type: 'robust', beta: 0.2, labelSmoothing: 0.1 });
    // 9 training pairs in steps of 4, twice
    assert.equal(plan.totalSteps, 6);
    assert.equal(plan.details, '10 pairs (all) · robust loss · β 0.2 · 2 epoch(s) · LoRA r 16');
  });

  it('checkpoints nothing when the setting is 0, and lets a preset override the trainer', () => {
    const plan = planNewRound(storage, '/m', { range: 'last-week', filter: { since: 'x' }, pairs: 5, loss: 'sigmoid', beta: 0.1, epochs: 1, training: { pairsPerStep: 1, lora: { rank: 2, alpha: 4 } } }, 0, started);
    assert.equal(plan.training.checkpoint, undefined);
    assert.deepEqual(plan.filter, { since: 'x' });
    assert.equal(plan.totalSteps, 5);
    assert.equal(plan.training.lora.rank, 2);
  });

  it('estimates the steps the trainer will plan', () => {
    assert.equal(estimatedSteps(8, defaultTraining({ evalFraction: 0.25, pairsPerStep: 3, epochs: 2 })), 4);
  });

  it('resumes an interrupted round with its own options, in its folder, into a new adapter folder if its own is taken', () => {
    const dir = mkdtempSync(join(tmpdir(), 'prefer-plan-'));
    const training = { ...defaultTraining({ epochs: 3 }) };
    const record: RoundRecord = {
      runId: 7,
      database: '/db.sqlite',
      pairIds: [1, 2, 3],
      modelDir: '/models/m',
      baseModelHash: 'h',
      outDir: join(dir, 'adapter'),
      training,
      totalSteps: 12,
      startedAt: started.toISOString(),
    };
    const round = { dir: join(dir, 'checkpoint'), record, runId: 7, step: 5 };
    const fresh = planResumedRound(storage, round, 0, started);
    assert.equal(fresh.outDir, record.outDir);
    assert.equal(fresh.modelDir, '/models/m');
    assert.deepEqual(fresh.training, { ...training, checkpoint: { dir: round.dir, every: Number.MAX_SAFE_INTEGER, resume: true } });
    assert.equal(fresh.totalSteps, 12);
    assert.equal(fresh.details, 'resuming round 7 after step 5 · 3 pairs · sigmoid loss · β 0.1 · LoRA r 16');
    assert.equal(fresh.resume, round);

    mkdirSync(record.outDir);
    const taken = planResumedRound(storage, round, 4, started);
    assert.equal(taken.outDir, join(storage, 'adapters', '2025-03-04T05-06-07-089Z'));
    assert.equal(taken.training.checkpoint!.every, 4);
  });
});
