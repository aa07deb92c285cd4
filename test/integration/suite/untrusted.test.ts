import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as vscode from 'vscode';
import { activate, compareHere, databasePath, judge, openSampleAtEndOfLine, query } from './helpers.ts';

suite('Prefer in an untrusted workspace (restricted mode)', () => {
  suiteSetup(activate);

  test('the workspace really is untrusted', () => {
    assert.equal(vscode.workspace.isTrusted, false);
  });

  test('comparing and judging still work, on the bundled default model when none is configured', async () => {
    assert.equal(vscode.workspace.getConfiguration('prefer').get('modelPath'), '');
    await openSampleAtEndOfLine(1);
    const result = await judge(await compareHere(), { kind: 'pick', chosenIndex: 0 });
    assert.ok(result.pairsAdded >= 1);
    const models = query(
      'SELECT DISTINCT model_id FROM candidate WHERE id IN (SELECT value FROM json_each(?))',
      JSON.stringify(result.candidateIds),
    );
    assert.deepEqual(models, [{ model_id: 'default' }]);
  });

  test('labelers that run workspace commands are refused and run nothing', async () => {
    const marker = `${databasePath()}.ran`;
    const script = `require('fs').writeFileSync(${JSON.stringify(marker)}, 'ran')`;
    for (const labeler of ['test', 'metric'] as const) {
      await assert.rejects(
        Promise.resolve(
          vscode.commands.executeCommand('prefer.runLabelers', {
            labeler,
            command: [process.execPath, '-e', script],
          }),
        ),
        /needs a trusted workspace/,
      );
    }
    assert.equal(existsSync(marker), false, 'the command never ran');
    assert.deepEqual(query("SELECT count(*) AS n FROM labeler_run WHERE labeler IN ('test', 'metric')"), [
      { n: 0 },
    ]);
  });

  test('labelers that run nothing from the workspace are allowed', async () => {
    const result = (await vscode.commands.executeCommand('prefer.runLabelers', { labeler: 'parse' })) as {
      candidatesScored: number;
    };
    assert.ok(result.candidatesScored >= 4);
  });
});
