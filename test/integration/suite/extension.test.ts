import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import * as vscode from 'vscode';
import type { ComparePanel } from '../../../src/extension/compare/comparePanel.ts';

const extensionId = 'prefer-dev.prefer';
const commands = [
  'prefer.compareCompletions',
  'prefer.trainDpoRound',
  'prefer.exportPairs',
  'prefer.importPairs',
  'prefer.selectModel',
  'prefer.showStats',
];

function databasePath(): string {
  const configured = vscode.workspace.getConfiguration('prefer').get<string>('databasePath', '');
  assert.ok(configured, 'the test workspace sets prefer.databasePath');
  return configured;
}

async function openSampleAtEndOfLine(line: number): Promise<vscode.TextEditor> {
  const folder = vscode.workspace.workspaceFolders![0]!.uri;
  const doc = await vscode.workspace.openTextDocument(vscode.Uri.joinPath(folder, 'sample.ts'));
  const editor = await vscode.window.showTextDocument(doc);
  const end = doc.lineAt(line).range.end;
  editor.selection = new vscode.Selection(end, end);
  return editor;
}

suite('Prefer in a real VS Code', () => {
  suiteSetup(async () => {
    const extension = vscode.extensions.getExtension(extensionId);
    assert.ok(extension, `${extensionId} is installed in the host`);
    await extension.activate();
  });

  test('activates and registers every Prefer command', async () => {
    const registered = new Set(await vscode.commands.getCommands(true));
    for (const id of commands) assert.ok(registered.has(id), `${id} is registered`);
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
    const expectedPrefix = editor.document.getText(new vscode.Range(new vscode.Position(0, 0), editor.selection.active));
    const panel = (await vscode.commands.executeCommand('prefer.compareCompletions')) as ComparePanel;
    panel.handleMessage({ type: 'ready' });
    const result = panel.handleMessage({ type: 'pick', index: 2, decisionMs: 321 });
    assert.ok(result, 'the pick was stored');
    assert.ok(result.pairsAdded >= 1);

    const file = databasePath();
    assert.ok(existsSync(file), `${file} exists`);
    const db = new Database(file, { readonly: true });
    try {
      const row = db
        .prepare(
          `SELECT c.outcome, c.decision_ms, p.prefix, p.language, p.file_path FROM comparison c
           JOIN prompt p ON p.id = c.prompt_id WHERE c.id = ?`,
        )
        .get(result.comparisonId) as Record<string, unknown>;
      assert.equal(row.outcome, 'pick');
      assert.equal(row.decision_ms, 321);
      assert.equal(row.prefix, expectedPrefix);
      assert.equal(row.language, 'typescript');
      assert.equal(row.file_path, join(vscode.workspace.workspaceFolders![0]!.uri.fsPath, 'sample.ts'));
      const pairs = db.prepare('SELECT count(*) AS n FROM pair WHERE comparison_id = ?').get(result.comparisonId) as {
        n: number;
      };
      assert.equal(pairs.n, result.pairsAdded);
    } finally {
      db.close();
    }
  });

  test('malformed messages from the webview are dropped and store nothing', async () => {
    const panel = (await vscode.commands.executeCommand('prefer.compareCompletions')) as ComparePanel;
    const before = (await vscode.commands.executeCommand('prefer.showStats')) as { comparisons: number };
    for (const bad of [null, 'pick', { type: 'pick', index: '1', decisionMs: 1 }, { type: 'pick', index: 99, decisionMs: 1 }, { type: 'eval', code: 'x' }, { type: 'pick', index: 0, decisionMs: 1, extra: true }]) {
      assert.equal(panel.handleMessage(bad), undefined, `dropped ${JSON.stringify(bad)}`);
    }
    const after = (await vscode.commands.executeCommand('prefer.showStats')) as { comparisons: number };
    assert.equal(after.comparisons, before.comparisons);
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
