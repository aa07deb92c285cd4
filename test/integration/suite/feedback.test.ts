import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { query } from './helpers.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Two completions Continue logged for one prompt: one accepted, one rejected (its autocomplete schema 0.2.0). */
function continueLine(completionId: string, completion: string, accepted: boolean): string {
  return JSON.stringify({
    eventName: 'autocomplete',
    schema: '0.2.0',
    prefix: 'function total(xs: number[]): number {\n  return ',
    suffix: '\n}\n',
    completion,
    accepted,
    modelName: 'qwen2.5-coder:1.5b',
    modelProvider: 'ollama',
    filepath: 'file:///work/project/src/total.ts',
    completionId,
    uniqueId: completionId,
    time: 412,
    cacheHit: false,
    gitRepo: 'project',
    timestamp: '2026-12-01T10:00:00.000Z',
  });
}

/** Runs the command, accepting each quick pick it shows with Enter (all logs are ticked at first). */
async function importFromPalette(): Promise<unknown> {
  let settled = false;
  const pending = Promise.resolve(vscode.commands.executeCommand('prefer.importFeedback')).finally(() => (settled = true));
  const deadline = Date.now() + 60_000;
  while (!settled && Date.now() < deadline) {
    await sleep(300);
    await vscode.commands.executeCommand('workbench.action.acceptSelectedQuickOpenItem');
  }
  return pending;
}

suite('Import Feedback from Continue / Tabby', () => {
  const saved = process.env.CONTINUE_GLOBAL_DIR;
  suiteTeardown(() => {
    if (saved === undefined) delete process.env.CONTINUE_GLOBAL_DIR;
    else process.env.CONTINUE_GLOBAL_DIR = saved;
  });

  test("finds Continue's log, imports the accepted and the rejected completion and their pair, and adds nothing the second time", async function () {
    this.timeout(120_000);
    const home = mkdtempSync(join(tmpdir(), 'prefer-continue-'));
    mkdirSync(join(home, 'dev_data', '0.2.0'), { recursive: true });
    writeFileSync(
      join(home, 'dev_data', '0.2.0', 'autocomplete.jsonl'),
      `${continueLine('it-1', 'xs.reduce((a, b) => a + b, 0);', true)}\n${continueLine('it-2', 'xs.length;', false)}\n`,
    );
    // the extension host reads its environment when the command runs
    process.env.CONTINUE_GLOBAL_DIR = home;
    const count = (sql: string) => Number(query(sql)[0]!.n);
    const pairsBefore = count("SELECT count(*) AS n FROM pair WHERE source = 'continue'");

    const results = (await importFromPalette()) as { imported: number; pairsAdded: number }[] | undefined;
    assert.ok(results, 'the import ran');
    assert.deepEqual(
      query("SELECT completion, desirable, model FROM feedback WHERE source = 'continue' ORDER BY desirable DESC"),
      [
        { completion: 'xs.reduce((a, b) => a + b, 0);', desirable: 1, model: 'qwen2.5-coder:1.5b' },
        { completion: 'xs.length;', desirable: 0, model: 'qwen2.5-coder:1.5b' },
      ],
    );
    assert.equal(count("SELECT count(*) AS n FROM pair WHERE source = 'continue'"), pairsBefore + 1, 'the two form a pair');

    const again = (await importFromPalette()) as { imported: number }[] | undefined;
    assert.equal(again?.reduce((n, r) => n + r.imported, 0), 0, 'a second import adds nothing');
    assert.equal(count("SELECT count(*) AS n FROM feedback WHERE source = 'continue'"), 2);
  });
});
