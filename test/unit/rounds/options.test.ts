import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DPO_LOSSES, DPO_LOSS_TYPES, checkDpoLossConfig } from '../../../src/dpo/losses.ts';
import { ADAMW_DEFAULTS } from '../../../src/train/adamw.ts';
import {
  TRAINING_OPTIONS,
  type TrainingOption,
  type TrainingValues,
  defaultTraining,
  defaultValues,
  editorLabelSmoothing,
  lossChoices,
  trainingFrom,
} from '../../../src/rounds/options.ts';

describe('the table of training options', () => {
  it('gives the defaults both fronts train with', () => {
    assert.deepEqual(defaultTraining(), {
      loss: { type: 'sigmoid', beta: 0.1, labelSmoothing: 0 },
      lora: { rank: 16, alpha: 32, rsLora: false },
      optimizer: ADAMW_DEFAULTS,
      learningRate: 5e-5,
      warmupRatio: 0.1,
      epochs: 1,
      pairsPerStep: 4,
      lengthStep: 32,
      maxLength: 512,
      evalFraction: 0.1,
      seed: 0,
      headChunks: 8,
      device: 'cpu',
      threads: 0,
    });
  });

  it('builds the trainer options in the key order that checkpoint fingerprints hash', () => {
    const training = trainingFrom({ ...defaultValues(), 'target-modules': ['q_proj'] });
    assert.deepEqual(Object.keys(training), [
      'loss', 'lora', 'optimizer', 'learningRate', 'warmupRatio', 'epochs', 'pairsPerStep', 'lengthStep',
      'maxLength', 'evalFraction', 'seed', 'headChunks', 'device', 'threads',
    ]);
    assert.deepEqual(Object.keys(training.loss), ['type', 'beta', 'labelSmoothing']);
    assert.deepEqual(Object.keys(training.lora), ['rank', 'alpha', 'rsLora', 'targetModules']);
  });

  it('derives the LoRA alpha from the rank and the bucket step from a shorter maximum length', () => {
    const training = trainingFrom({ ...defaultValues(), 'lora-r': 4, 'max-length': 20 });
    assert.equal(training.lora.alpha, 8);
    assert.equal(training.lengthStep, 20);
    assert.equal(trainingFrom({ ...defaultValues(), 'lora-r': 4, 'lora-alpha': 3 }).lora.alpha, 3);
  });

  it('--recompute auto recomputes whole layers over a base held in less than fp32, and a mode given is kept', () => {
    const recompute = (weights: string, mode?: string) =>
      trainingFrom({ ...defaultValues(), weights, ...(mode ? { recompute: mode } : {}) } as TrainingValues).recompute;
    assert.equal(defaultValues().recompute, 'auto');
    assert.equal(recompute('fp32'), undefined, 'products over fp32 adds no key');
    for (const weights of ['fp16', 'int8', 'int4']) assert.equal(recompute(weights), 'layers', weights);
    assert.equal(recompute('int4', 'products'), undefined);
    assert.equal(recompute('fp32', 'layers'), 'layers');
  });

  it('overrides replace whole fields, as presets expect', () => {
    assert.deepEqual(defaultTraining({ lora: { rank: 2, alpha: 4 } }).lora, { rank: 2, alpha: 4 });
  });

  it('accepts each option’s own default, and refuses what its words say it refuses', () => {
    for (const [flag, option] of Object.entries(TRAINING_OPTIONS) as [string, TrainingOption][]) {
      if (option.kind === 'number' && option.default !== undefined) assert.ok(option.accepts(option.default), flag);
      if (option.kind === 'choice') assert.ok(option.choices.includes(option.default), flag);
    }
    const { epochs, 'eval-split': evalSplit, 'lora-r': rank, beta } = TRAINING_OPTIONS;
    assert.ok(!epochs.accepts(0) && !epochs.accepts(1001) && epochs.accepts(1000));
    assert.ok(!evalSplit.accepts(1) && evalSplit.accepts(0));
    assert.ok(!rank.accepts(2.5));
    assert.ok(!beta.accepts(1e300) && !beta.accepts(0));
  });

  it('offers the editor every loss of the registry, the default marked and the robust loss with its ε', () => {
    assert.deepEqual(lossChoices(), [
      { loss: 'sigmoid', description: 'DPO (default)' },
      { loss: 'robust', description: 'DPO robust to flipped labels (label smoothing 0.1)' },
      { loss: 'ipo', description: 'IPO: squared loss on length-normalized log-ratios' },
      { loss: 'hinge', description: 'SLiC hinge loss' },
      { loss: 'sigmoid_norm', description: 'DPO on length-normalized log-ratios' },
      { loss: 'apo_zero', description: 'APO-zero: chosen up, rejected down (chosen better than the model)' },
      { loss: 'apo_down', description: 'APO-down: both down, rejected more (chosen worse than the model)' },
      { loss: 'exo_pair', description: 'EXO: reverse-KL preference matching (label smoothing 0.001)' },
      { loss: 'nca_pair', description: 'NCA: noise-contrastive alignment' },
      { loss: 'bco_pair', description: 'BCO: rewards classified around their running mean' },
      { loss: 'sppo_hard', description: 'SPPO with hard labels' },
      { loss: 'discopop', description: 'DiscoPOP: log-ratio modulated loss' },
      { loss: 'sft', description: 'SFT: NLL of the chosen completions' },
      { loss: 'kto', description: 'KTO: unpaired desirable and undesirable examples' },
    ]);
    assert.deepEqual(TRAINING_OPTIONS.loss.choices, DPO_LOSS_TYPES);
  });

  it('gives each loss from the editor an ε its loss accepts', () => {
    assert.equal(editorLabelSmoothing('robust'), 0.1);
    assert.equal(editorLabelSmoothing('ipo'), 0);
    for (const type of DPO_LOSS_TYPES) {
      assert.doesNotThrow(() => checkDpoLossConfig({ type, beta: 0.1, labelSmoothing: editorLabelSmoothing(type) }));
    }
    assert.throws(() => checkDpoLossConfig({ type: 'hinge', beta: 0.1, labelSmoothing: 0.1 }), /does not apply to hinge/);
    assert.equal(DPO_LOSSES.ipo.averageLogps, true);
  });
});
