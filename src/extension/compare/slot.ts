import * as vscode from 'vscode';
import type { PromptInput } from '../../store/store.ts';
import { type Indentation, textToInsert } from './completionText.ts';

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

/** The editor's indentation for `doc`: the visible editor's (detected per file), else the settings'. */
function indentationOf(doc: vscode.TextDocument, editor: vscode.TextEditor | undefined): Indentation {
  const settings = vscode.workspace.getConfiguration('editor', doc);
  const options = editor?.options;
  const tabSize = Number(options?.tabSize ?? settings.get<number>('tabSize', 4));
  const indentSize = Number(options?.indentSize ?? tabSize);
  return {
    insertSpaces: Boolean(options?.insertSpaces ?? settings.get<boolean>('insertSpaces', true)),
    tabSize,
    indentSize: Number.isFinite(indentSize) ? indentSize : tabSize,
  };
}

/**
 * What the editor puts in `doc` at `position` for a completion: its text re-indented to that line, in the
 * document's line endings.
 */
export function insertedAt(
  doc: vscode.TextDocument,
  position: vscode.Position,
  editor: vscode.TextEditor | undefined,
): (text: string) => string {
  const targetLine = /^[ \t]*/.exec(doc.lineAt(position.line).text)![0];
  const eol = doc.eol === vscode.EndOfLine.CRLF ? '\r\n' : '\n';
  const indentation = indentationOf(doc, editor);
  return (text) => textToInsert(text, targetLine, indentation, eol);
}

/**
 * Replaces the slot's text with `text`, re-indented to the slot's line and in the document's line endings, as
 * one edit (one undo step); returns the slot now covering the inserted text.
 */
export async function insertAtSlot(slot: Slot, text: string): Promise<Slot> {
  const doc = await vscode.workspace.openTextDocument(slot.uri);
  const editor = vscode.window.visibleTextEditors.find(
    (e) => e.document.uri.toString() === slot.uri.toString(),
  );
  const start = slot.range.start;
  const inserted = insertedAt(doc, start, editor)(text);
  const edit = new vscode.WorkspaceEdit();
  edit.replace(slot.uri, slot.range, inserted);
  if (!(await vscode.workspace.applyEdit(edit)))
    throw new Error(`could not edit ${vscode.workspace.asRelativePath(slot.uri)}`);
  const end = doc.positionAt(doc.offsetAt(start) + inserted.length);
  if (editor) editor.selection = new vscode.Selection(end, end);
  return { uri: slot.uri, range: new vscode.Range(start, end) };
}
