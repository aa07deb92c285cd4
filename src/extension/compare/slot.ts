import * as vscode from 'vscode';
import type { PromptInput } from '../../store/store.ts';

/** Where a completion goes: the cursor, or the selection it replaces, in one document. */
export interface Slot {
  uri: vscode.Uri;
  range: vscode.Range;
}

/** The prompt for a slot in a document: the text before it (prefix) and after it (suffix). */
export function promptAt(
  doc: vscode.TextDocument,
  start: vscode.Position,
  end: vscode.Position,
): { prompt: PromptInput; slot: Slot } {
  const docEnd = doc.lineAt(doc.lineCount - 1).range.end;
  return {
    prompt: {
      workspace: vscode.workspace.getWorkspaceFolder(doc.uri)?.name,
      filePath: doc.uri.scheme === 'file' ? doc.uri.fsPath : doc.uri.toString(),
      language: doc.languageId,
      prefix: doc.getText(new vscode.Range(new vscode.Position(0, 0), start)),
      suffix: doc.getText(new vscode.Range(end, docEnd)),
    },
    slot: { uri: doc.uri, range: new vscode.Range(start, end) },
  };
}

/** The prompt around the cursor; a selection is the slot to replace. */
export function promptAtCursor(editor: vscode.TextEditor): { prompt: PromptInput; slot: Slot } {
  return promptAt(editor.document, editor.selection.start, editor.selection.end);
}

/** Replaces the slot's text with `text` and returns the slot now covering the inserted text. */
export async function insertAtSlot(slot: Slot, text: string): Promise<Slot> {
  const doc = await vscode.workspace.openTextDocument(slot.uri);
  const edit = new vscode.WorkspaceEdit();
  edit.replace(slot.uri, slot.range, text);
  if (!(await vscode.workspace.applyEdit(edit)))
    throw new Error(`could not edit ${vscode.workspace.asRelativePath(slot.uri)}`);
  const start = slot.range.start;
  const end = doc.positionAt(doc.offsetAt(start) + text.length);
  const editor = vscode.window.visibleTextEditors.find(
    (e) => e.document.uri.toString() === slot.uri.toString(),
  );
  if (editor) editor.selection = new vscode.Selection(end, end);
  return { uri: slot.uri, range: new vscode.Range(start, end) };
}
