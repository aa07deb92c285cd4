import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { RoundResult } from '../../../src/rounds/round.ts';
import type { RoundRequest } from '../../../src/extension/train/commands.ts';
import { query } from './helpers.ts';

const crashing: RoundRequest = {
  range: 'all',
  loss: 'sigmoid',
  beta: 0.1,
  epochs: 4,
  keepBase: true,
  simulate: { crashAfterStep: 3 },
  training: {
    lora: { rank: 2, alpha: 4 },
    maxLength: 64,
    pairsPerStep: 2,
    learningRate: 1e-3,
    evalFraction: 0.2,
    threads: 1,
  },
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Train DPO Round from the palette (no preset), accepting its first pick: the newest interrupted round. */
async function resumeFromPalette(): Promise<RoundResult | undefined> {
  let settled = false;
  const pending = Promise.resolve(
    vscode.commands.executeCommand('prefer.trainDpoRound') as Thenable<RoundResult | undefined>,
  ).finally(() => (settled = true));
  const deadline = Date.now() + 60_000;
  while (!settled && Date.now() < deadline) {
    await sleep(300);
    await vscode.commands.executeCommand('workbench.action.acceptSelectedQuickOpenItem');
  }
  return pending;
}

suite('An interrupted DPO round resumes from the palette', () => {
  const settings = () => vscode.workspace.getConfiguration('prefer');
  suiteSetup(() => settings().update('training.checkpointEvery', 2, vscode.ConfigurationTarget.Workspace));
  suiteTeardown(() =>
    settings().update('training.checkpointEvery', undefined, vscode.ConfigurationTarget.Workspace),
  );

  test('a round whose worker dies is marked interrupted; Train DPO Round offers to resume it and the resumed round completes and registers its adapter', async function () {
    this.timeout(120_000);
    const crashed = await vscode.commands.executeCommand('prefer.trainDpoRound', crashing);
    assert.equal(crashed, undefined, 'the crashed round returns no result');
    const run = query('SELECT id, status FROM training_run ORDER BY id DESC LIMIT 1')[0]!;
    assert.equal(run.status, 'interrupted');
    const before = Number(query('SELECT count(*) AS n FROM training_run')[0]!.n);

    const result = await resumeFromPalette();
    assert.ok(result, 'the resumed round finished');
    assert.equal(result.runId, run.id, 'the same store run continued');
    assert.ok(result.resumedAfter >= 2, `resumed after step ${result.resumedAfter}`);
    assert.equal(result.cancelled, false);

    assert.equal(Number(query('SELECT count(*) AS n FROM training_run')[0]!.n), before, 'no new run');
    const finished = query('SELECT status, adapter_id FROM training_run WHERE id = ?', run.id)[0]!;
    assert.deepEqual([finished.status, finished.adapter_id], ['done', result.adapterId]);
    const steps = query(
      "SELECT step, count(*) AS n FROM training_metric WHERE training_run_id = ? AND split = 'train' GROUP BY step ORDER BY step",
      run.id,
    );
    assert.deepEqual(
      steps.map((s) => s.step),
      Array.from({ length: result.steps }, (_, i) => i + 1),
      'every step recorded once',
    );
    const adapter = query('SELECT path, active FROM adapter WHERE id = ?', result.adapterId)[0]!;
    assert.ok(existsSync(join(String(adapter.path), 'adapter_model.safetensors')));
    assert.equal(adapter.active, 1, 'the resumed round’s adapter is active');
    const checkpoints = join(String(adapter.path), '..', '..', 'checkpoints');
    assert.ok(
      !existsSync(join(checkpoints, String(adapter.path).split('/').at(-1)!)),
      'its checkpoint folder is gone',
    );
  });

  test('a cancelled round resumes into the same run; its partial adapter keeps its own folder', async function () {
    this.timeout(120_000);
    const cut = (await vscode.commands.executeCommand('prefer.trainDpoRound', {
      ...crashing,
      simulate: { cancelAfterStep: 3 },
    })) as RoundResult;
    assert.equal(cut.cancelled, true);
    assert.deepEqual(query('SELECT status FROM training_run WHERE id = ?', cut.runId), [
      { status: 'cancelled' },
    ]);

    const result = await resumeFromPalette();
    assert.ok(result && !result.cancelled, 'the resumed round finished');
    assert.equal(result.runId, cut.runId);
    assert.equal(result.resumedAfter, cut.steps, 'it resumed where the cancel checkpointed');
    assert.notEqual(result.adapter, cut.adapter);
    assert.ok(existsSync(join(cut.adapter, 'adapter_model.safetensors')), 'the partial adapter is untouched');
    assert.deepEqual(query('SELECT status, adapter_id FROM training_run WHERE id = ?', cut.runId), [
      { status: 'done', adapter_id: result.adapterId },
    ]);
  });
});
