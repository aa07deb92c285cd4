import type * as vscode from 'vscode';
import type { StoreAccess } from './storeAccess.ts';

/** What every Prefer feature registers against: the extension, its store, its log, and a change signal. */
export interface Services {
  context: vscode.ExtensionContext;
  store: StoreAccess;
  log: vscode.LogOutputChannel;
  /** Pairs, adapters or the active model changed: views and the status bar refresh. */
  onChanged(): void;
}
