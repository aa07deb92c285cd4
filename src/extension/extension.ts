import * as vscode from 'vscode';
import { registerCompareCommands } from './compare/commands.ts';
import { registerDataCommands } from './data.ts';
import { registerLabelerCommands } from './labelers.ts';
import { registerModelCommands } from './model.ts';
import { registerPendingCommands } from './pending.ts';
import { registerStatsCommand } from './stats.ts';
import { PreferStatusBar } from './statusBar.ts';
import { StoreAccess } from './storeAccess.ts';

export function activate(context: vscode.ExtensionContext): { store: StoreAccess } {
  const log = vscode.window.createOutputChannel('Prefer', { log: true });
  const store = new StoreAccess(context);
  const statusBar = new PreferStatusBar(store, log);
  context.subscriptions.push(log, store, statusBar);
  registerCompareCommands(context, store, log, () => statusBar.refresh());
  registerStatsCommand(context, store);
  registerDataCommands(context, store, log, () => statusBar.refresh());
  registerLabelerCommands(context, store, log, () => statusBar.refresh());
  registerModelCommands(context);
  registerPendingCommands(context);
  log.info(`Prefer activated; store at ${store.databasePath}`);
  return { store };
}

export function deactivate(): void {}
