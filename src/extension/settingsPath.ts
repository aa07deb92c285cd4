import * as path from 'node:path';
import * as vscode from 'vscode';

/** A `prefer.*` path setting, resolved against the first workspace folder when relative; undefined when empty. */
export function configuredPath(setting: 'databasePath' | 'modelPath'): string | undefined {
  const configured = vscode.workspace.getConfiguration('prefer').get<string>(setting, '').trim();
  if (!configured) return undefined;
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  return path.isAbsolute(configured) || !folder ? configured : path.join(folder, configured);
}
