import * as path from 'node:path';
import * as vscode from 'vscode';
import { openStore, type Store } from '../store/store.ts';
import { configuredPath } from './settingsPath.ts';

/** The one open store of this window, reopened when `prefer.databasePath` changes. */
export class StoreAccess implements vscode.Disposable {
  private store: Store | undefined;
  private readonly context: vscode.ExtensionContext;
  private readonly listener: vscode.Disposable;

  constructor(context: vscode.ExtensionContext) {
    this.context = context;
    this.listener = vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('prefer.databasePath')) this.close();
    });
  }

  get databasePath(): string {
    return configuredPath('databasePath') ?? path.join(this.context.globalStorageUri.fsPath, 'prefer.sqlite');
  }

  get(): Store {
    this.store ??= openStore(this.databasePath);
    return this.store;
  }

  private close(): void {
    this.store?.close();
    this.store = undefined;
  }

  dispose(): void {
    this.close();
    this.listener.dispose();
  }
}
