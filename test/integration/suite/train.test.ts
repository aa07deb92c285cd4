import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { RoundResult } from '../../../src/rounds/round.ts';
import type { RoundRequest } from '../../../src/extension/train/commands.ts';
import type { ComparePanel } from '../../../src/extension/compare/comparePanel.ts';
import { compareHere, judge, openSampleAtEndOfLine, query } from './helpers.ts';

const tiny: RoundRequest = {
  range: 'all',
  loss: 'sigmoid',
  beta: 0.1,
  epochs: 2,
  training: {
    lora: { rank: 2, alpha: 4 },
    maxLength: 64,
    pairsPerStep: 4,
    learningRate: 1e-3,
    evalFraction: 0.2,
    threads: 1,
  },
};

suite('Train DPO Round from the palette', () => {
  test('trains in the worker, records the run, activates the adapter, and sampling then uses it', async () => {
    const pairs = Number(query('SELECT count(*) AS n FROM pair WHERE disagrees_with_human = 0')[0]!.n);
    assert.ok(pairs >= 8, `earlier tests stored pairs to train on (${pairs})`);
    const result = (await vscode.commands.executeCommand('prefer.trainDpoRound', tiny)) as RoundResult;
    assert.ok(result, 'the round finished');
    assert.equal(result.cancelled, false);
    assert.ok(result.steps >= 2);
    assert.ok(
      existsSync(join(result.adapter, 'adapter_config.json')) &&
        existsSync(join(result.adapter, 'adapter_model.safetensors')),
    );

    const run = query('SELECT id, status, adapter_id FROM training_run ORDER BY id DESC LIMIT 1')[0]!;
    assert.equal(run.status, 'done');
    assert.equal(run.adapter_id, result.adapterId);
    const metrics = query(
      "SELECT count(DISTINCT step) AS n FROM training_metric WHERE training_run_id = ? AND split = 'train'",
      run.id,
    )[0]!;
    assert.equal(metrics.n, result.steps);
    assert.deepEqual(query('SELECT id FROM adapter WHERE active = 1'), [{ id: result.adapterId }]);

    // The next comparison samples with the new adapter merged in.
    await openSampleAtEndOfLine(0);
    const judged = await judge(await compareHere(), { kind: 'skip' });
    const adapters = query(
      'SELECT DISTINCT adapter_id FROM candidate WHERE id IN (SELECT value FROM json_each(?))',
      JSON.stringify(judged.candidateIds),
    );
    assert.deepEqual(adapters, [{ adapter_id: result.adapterId }]);
  });

  test('blind A/B mixes base and adapter candidates, then stores the judgment and the win-rate', async () => {
    const active = query('SELECT id FROM adapter WHERE active = 1')[0];
    assert.ok(active, 'the round above activated an adapter');
    await openSampleAtEndOfLine(2);
    const panel = (await vscode.commands.executeCommand('prefer.compareBlindAB')) as ComparePanel;
    await panel.whenSampled();
    const roundId = panel.currentRoundId;
    const result = await panel.handleMessage({
      type: 'judge',
      roundId,
      outcome: { kind: 'pick', chosenIndex: 0 },
      decisionMs: 10,
    });
    assert.ok(result && 'comparisonId' in result);
    const comparison = query(
      'SELECT mode, shown_order FROM comparison WHERE id = ?',
      result.comparisonId,
    )[0]!;
    assert.equal(comparison.mode, 'blind-ab');
    const sources = query(
      'SELECT adapter_id FROM candidate WHERE id IN (SELECT value FROM json_each(?)) ORDER BY adapter_id',
      String(comparison.shown_order),
    ).map((r) => r.adapter_id);
    assert.deepEqual(
      sources,
      [null, null, active.id, active.id],
      'two candidates from the base model, two from the adapter',
    );
    const metrics = JSON.parse(
      String(query('SELECT metrics FROM adapter WHERE id = ?', active.id)[0]!.metrics),
    ) as Record<string, number>;
    assert.equal(metrics['ab/wins']! + metrics['ab/losses']!, 1);
    assert.ok(metrics['ab/win_rate'] === 0 || metrics['ab/win_rate'] === 1);
  });
});
