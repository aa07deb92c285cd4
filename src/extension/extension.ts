import * as vscode from 'vscode';
import { registerCompareCommands } from './compare/commands.ts';
import { registerModelCommands } from './model.ts';
import { registerPendingCommands } from './pending.ts';
import { registerStatsCommand } from './stats.ts';
import { StoreAccess } from './storeAccess.ts';

export function activate(context: vscode.ExtensionContext): { store: StoreAccess } {
  const log = vscode.window.createOutputChannel('Prefer', { log: true });
  const store = new StoreAccess(context);
  context.subscriptions.push(log, store);
  registerCompareCommands(context, store, log);
  registerStatsCommand(context, store);
  registerModelCommands(context);
  registerPendingCommands(context);
  log.info(`Prefer activated; store at ${store.databasePath}`);
  return { store };
}

export function deactivate(): void {}
