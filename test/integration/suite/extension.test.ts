import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { ComparePanel } from '../../../src/extension/compare/comparePanel.ts';
import { activate, compareHere, judge, openSampleAtEndOfLine, query } from './helpers.ts';

const commands = [
  'prefer.compareCompletions',
  'prefer.trainDpoRound',
  'prefer.exportPairs',
  'prefer.importPairs',
  'prefer.selectModel',
  'prefer.showStats',
  'prefer.runLabelers',
  'prefer.compareBlindAB',
];

suite('Prefer in a real VS Code', () => {
  suiteSetup(activate);

  test('activates and registers every Prefer command', async () => {
    const registered = new Set(await vscode.commands.getCommands(true));
    for (const id of commands) assert.ok(registered.has(id), `${id} is registered`);
  });

  test('contributes a getting-started walkthrough whose steps name real commands', async () => {
    const manifest = vscode.extensions.getExtension('prefer-dev.prefer')!.packageJSON as {
      contributes: { walkthroughs: { steps: { description: string; media: { markdown: string } }[] }[] };
    };
    const steps = manifest.contributes.walkthroughs[0]!.steps;
    assert.equal(steps.length, 4);
    const registered = new Set(await vscode.commands.getCommands(true));
    for (const step of steps) {
      const command = /\(command:([\w.]+)\)/.exec(step.description)?.[1];
      assert.ok(command && registered.has(command), `step links a registered command (${command})`);
      const media = vscode.Uri.joinPath(
        vscode.extensions.getExtension('prefer-dev.prefer')!.extensionUri,
        step.media.markdown,
      );
      assert.ok((await vscode.workspace.fs.stat(media)).size > 0, `${step.media.markdown} exists`);
    }
  });

  test('contributes its settings with their defaults', () => {
    const config = vscode.workspace.getConfiguration('prefer');
    assert.equal(config.inspect('numCandidates')?.defaultValue, 4);
    assert.equal(config.inspect('device')?.defaultValue, 'auto');
    assert.equal(config.inspect('maxTokens')?.defaultValue, 64);
    assert.equal(config.inspect('modelPath')?.defaultValue, '');
  });

  test('Compare Completions opens the compare panel with a strict CSP', async () => {
    await openSampleAtEndOfLine(1);
    const panel = (await vscode.commands.executeCommand('prefer.compareCompletions')) as ComparePanel;
    assert.ok(panel, 'the command returns its panel');
    assert.equal(panel.panel.viewType, 'prefer.compare');
    assert.equal(panel.panel.webview.options.enableScripts, true);
    const roots = (panel.panel.webview.options.localResourceRoots ?? []).map((u) => u.path);
    assert.ok(roots.length > 0 && roots.every((r) => /\/(dist\/webview|media)$/.test(r)), `roots ${roots}`);
    const html = panel.panel.webview.html;
    assert.match(html, /default-src 'none'/);
    const nonce = /script-src 'nonce-([^']+)'/.exec(html)?.[1];
    assert.ok(nonce, 'scripts are limited to a nonce');
    assert.ok(html.includes(`<script type="module" nonce="${nonce}"`), 'the page script carries the nonce');
  });

  test('a pick in the panel stores a comparison and its pairs in the SQLite file', async () => {
    const editor = await openSampleAtEndOfLine(1);
    const expectedPrefix = editor.document.getText(
      new vscode.Range(new vscode.Position(0, 0), editor.selection.active),
    );
    const panel = await compareHere();
    const result = await judge(panel, { kind: 'pick', chosenIndex: 2 }, 321);
    assert.equal(result.pairsAdded, 3);

    const row = query(
      `SELECT c.outcome, c.decision_ms, p.prefix, p.language, p.file_path FROM comparison c
       JOIN prompt p ON p.id = c.prompt_id WHERE c.id = ?`,
      result.comparisonId,
    )[0]!;
    assert.equal(row.outcome, 'pick');
    assert.equal(row.decision_ms, 321);
    assert.equal(row.prefix, expectedPrefix);
    assert.equal(row.language, 'typescript');
    assert.equal(row.file_path, join(vscode.workspace.workspaceFolders![0]!.uri.fsPath, 'sample.ts'));
    assert.equal(
      query('SELECT count(*) AS n FROM pair WHERE comparison_id = ?', result.comparisonId)[0]!.n,
      3,
    );

    // The candidates come from the configured model, sampled in the engine's worker, with their provenance.
    const candidates = query(
      `SELECT model_id, token_count, logprob, seed, sampling_params FROM candidate
       WHERE id IN (SELECT value FROM json_each((SELECT shown_order FROM comparison WHERE id = ?)))`,
      result.comparisonId,
    );
    assert.equal(candidates.length, 4);
    for (const c of candidates) {
      assert.equal(c.model_id, 'model');
      assert.equal(c.seed, 1234);
      assert.ok(Number(c.token_count) >= 1 && Number(c.token_count) <= 12, `token count ${c.token_count}`);
      assert.ok(Number(c.logprob) < 0, `summed log-prob ${c.logprob}`);
      assert.equal(JSON.parse(String(c.sampling_params)).maxTokens, 12);
    }
  });

  test('a full ranking of four stores its six pairs, best first', async () => {
    await openSampleAtEndOfLine(0); // a prompt no earlier test judged, so no pair is a duplicate
    const panel = await compareHere();
    const result = await judge(panel, { kind: 'ranking', order: [3, 1, 0, 2] });
    assert.equal(result.pairsAdded, 6);
    const shown = JSON.parse(
      String(query('SELECT shown_order FROM comparison WHERE id = ?', result.comparisonId)[0]!.shown_order),
    ) as number[];
    const pairs = query(
      'SELECT chosen_id, rejected_id FROM pair WHERE comparison_id = ? ORDER BY id',
      result.comparisonId,
    );
    const rank = (id: unknown) => [3, 1, 0, 2].indexOf(shown.indexOf(Number(id)));
    assert.ok(
      pairs.every((p) => rank(p.chosen_id) < rank(p.rejected_id)),
      'every pair prefers the better-ranked one',
    );
  });

  test('tie, both bad and skip are stored as comparisons without pairs', async () => {
    await openSampleAtEndOfLine(1);
    for (const kind of ['tie', 'both_bad', 'skip'] as const) {
      const panel = await compareHere();
      const result = await judge(panel, { kind });
      assert.equal(result.pairsAdded, 0);
      assert.equal(
        query('SELECT outcome FROM comparison WHERE id = ?', result.comparisonId)[0]!.outcome,
        kind,
      );
    }
  });

  test('an edited answer is chosen over every candidate and Insert puts it in the document', async () => {
    const editor = await openSampleAtEndOfLine(1);
    const panel = await compareHere();
    const mine = 'return `Hello, ${name}!`;';
    const result = await judge(panel, { kind: 'edited', text: mine });
    assert.equal(result.pairsAdded, 4);
    const chosen = query(
      'SELECT DISTINCT c.text FROM pair JOIN candidate c ON c.id = pair.chosen_id WHERE comparison_id = ?',
      result.comparisonId,
    );
    assert.deepEqual(chosen, [{ text: mine }]);

    await panel.handleMessage({ type: 'insert', roundId: panel.currentRoundId, what: { text: mine } });
    assert.equal(editor.document.lineAt(1).text, `  return ${mine}`);
    // A second insert replaces the first one instead of stacking up.
    await panel.handleMessage({ type: 'insert', roundId: panel.currentRoundId, what: { index: 0 } });
    assert.ok(!editor.document.getText().includes(mine));
    await vscode.commands.executeCommand('workbench.action.files.revert');
  });

  test('malformed messages from the webview are dropped and store nothing', async () => {
    await openSampleAtEndOfLine(1);
    const panel = await compareHere();
    const roundId = panel.currentRoundId;
    const before = query('SELECT count(*) AS n FROM comparison')[0]!.n;
    for (const bad of [
      null,
      'judge',
      { type: 'judge', roundId, outcome: { kind: 'pick', chosenIndex: '1' }, decisionMs: 1 },
      { type: 'judge', roundId, outcome: { kind: 'pick', chosenIndex: 99 }, decisionMs: 1 },
      { type: 'judge', roundId, outcome: { kind: 'ranking', order: [0, 0, 1, 2] }, decisionMs: 1 },
      { type: 'judge', roundId, outcome: { kind: 'pick', chosenIndex: 0 }, decisionMs: 1, extra: true },
      { type: 'judge', roundId: roundId! + 100, outcome: { kind: 'tie' }, decisionMs: 1 },
      { type: 'eval', code: 'process.exit(1)' },
    ]) {
      assert.equal(await panel.handleMessage(bad), undefined, `dropped ${JSON.stringify(bad)}`);
    }
    assert.equal(query('SELECT count(*) AS n FROM comparison')[0]!.n, before);
  });

  test('Show Stats reads the same store', async () => {
    const stats = (await vscode.commands.executeCommand('prefer.showStats')) as {
      comparisons: number;
      pairsBySource: Record<string, number>;
    };
    assert.ok(stats.comparisons >= 1);
    assert.ok((stats.pairsBySource.human ?? 0) >= 1);
  });
});
