import assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { activate, compareHere, judge, openSampleAtEndOfLine, query } from './helpers.ts';

suite('Labelers from the palette (trusted workspace)', () => {
  suiteSetup(async () => {
    await activate();
    // Candidates to label: one judged comparison at a prompt of its own.
    await openSampleAtEndOfLine(2);
    await judge(await compareHere(), { kind: 'skip' });
  });

  test('the parse labeler scores every stored candidate', async () => {
    const result = (await vscode.commands.executeCommand('prefer.runLabelers', { labeler: 'parse' })) as {
      labelerRunId: number;
      candidatesScored: number;
    };
    assert.ok(result.candidatesScored >= 4, `scored ${result.candidatesScored}`);
    const run = query(
      'SELECT labeler, status, candidates_scored FROM labeler_run WHERE id = ?',
      result.labelerRunId,
    )[0]!;
    assert.equal(run.labeler, 'parse');
    assert.equal(run.status, 'done');
  });

  test('a test-command labeler runs the workspace command on a copy with each candidate', async () => {
    // Passes when the file with the candidate applied still starts with the function: every candidate does.
    const script =
      "process.exit(require('fs').readFileSync(process.argv[1], 'utf8').startsWith('export function greet') ? 0 : 1)";
    const result = (await vscode.commands.executeCommand('prefer.runLabelers', {
      labeler: 'test',
      command: [process.execPath, '-e', script, '{file}'],
    })) as { labelerRunId: number; candidatesScored: number; pairsAdded: number };
    assert.ok(result.candidatesScored >= 4);
    assert.equal(result.pairsAdded, 0, 'all pass: no preference');
    const scores = query(
      'SELECT DISTINCT score FROM label_score WHERE labeler_run_id = ?',
      result.labelerRunId,
    );
    assert.deepEqual(scores, [{ score: 0 }], 'every candidate passed the command');
  });
});
