import * as vscode from 'vscode';
import { type AdaptersView, registerAdapterCommands } from './adapters.ts';
import { registerCompareCommands } from './compare/commands.ts';
import { CompletionSources } from './compare/sources.ts';
import { registerDataCommands } from './data.ts';
import { registerInlineMode } from './inline.ts';
import { registerLabelerCommands } from './labelers.ts';
import { registerModelCommands } from './model.ts';
import { registerStatsCommand } from './stats.ts';
import { PreferStatusBar } from './statusBar.ts';
import { StoreAccess } from './storeAccess.ts';
import { registerTrainCommands } from './train/commands.ts';

/** What the extension offers other extensions (and its own tests). */
export interface PreferApi {
  store: StoreAccess;
  adapters: AdaptersView;
}

export function activate(context: vscode.ExtensionContext): PreferApi {
  const log = vscode.window.createOutputChannel('Prefer', { log: true });
  const store = new StoreAccess(context);
  const statusBar = new PreferStatusBar(store, log);
  context.subscriptions.push(log, store, statusBar);
  const sources = new CompletionSources(context, store, log);
  context.subscriptions.push(sources);
  const adapters = registerAdapterCommands(context, store, log, () => statusBar.refresh());
  const refresh = () => {
    statusBar.refresh();
    adapters.refresh();
  };
  registerCompareCommands(context, store, log, refresh, sources);
  registerInlineMode(context, sources, store, log, refresh);
  registerStatsCommand(context, store);
  registerDataCommands(context, store, log, refresh);
  registerLabelerCommands(context, store, log, refresh);
  registerModelCommands(context);
  registerTrainCommands(context, store, log, refresh);
  log.info(`Prefer activated; store at ${store.databasePath}`);
  return { store, adapters };
}

export function deactivate(): void {}
