import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import * as vscode from 'vscode';
import type { ComparePanel } from '../../../src/extension/compare/comparePanel.ts';
import type { JudgmentResult, Outcome } from '../../../src/store/store.ts';

export const extensionId = 'prefer-dev.prefer';

export function databasePath(): string {
  const configured = vscode.workspace.getConfiguration('prefer').get<string>('databasePath', '');
  assert.ok(configured, 'the test workspace sets prefer.databasePath');
  return configured;
}

export function query(sql: string, ...params: unknown[]): Record<string, unknown>[] {
  const file = databasePath();
  assert.ok(existsSync(file), `${file} exists`);
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(sql).all(...params) as Record<string, unknown>[];
  } finally {
    db.close();
  }
}

export async function activate(): Promise<void> {
  const extension = vscode.extensions.getExtension(extensionId);
  assert.ok(extension, `${extensionId} is installed in the host`);
  await extension.activate();
}

export async function openSampleAtEndOfLine(line: number): Promise<vscode.TextEditor> {
  const folder = vscode.workspace.workspaceFolders![0]!.uri;
  const doc = await vscode.workspace.openTextDocument(vscode.Uri.joinPath(folder, 'sample.ts'));
  const editor = await vscode.window.showTextDocument(doc);
  const end = doc.lineAt(line).range.end;
  editor.selection = new vscode.Selection(end, end);
  return editor;
}

export async function compareHere(): Promise<ComparePanel> {
  const panel = (await vscode.commands.executeCommand('prefer.compareCompletions')) as ComparePanel;
  assert.ok(panel, 'the command returns its panel');
  await panel.whenSampled();
  return panel;
}

export async function judge(
  panel: ComparePanel,
  outcome: Outcome,
  decisionMs = 100,
): Promise<JudgmentResult> {
  const result = await panel.handleMessage({
    type: 'judge',
    roundId: panel.currentRoundId,
    outcome,
    decisionMs,
  });
  assert.ok(result && 'comparisonId' in result, `the ${outcome.kind} was stored`);
  return result;
}
