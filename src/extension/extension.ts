import * as vscode from 'vscode';
import { type AdaptersView, registerAdapterCommands } from './adapters.ts';
import { registerCompareCommands } from './compare/commands.ts';
import { CompletionSources } from './compare/sources.ts';
import { registerDataCommands } from './data.ts';
import { registerFeedbackImport } from './feedback.ts';
import { registerInlineMode } from './inline.ts';
import { registerLabelerCommands } from './labelers.ts';
import { offerOwnModel, registerModelCommands } from './model.ts';
import { registerStatsCommand } from './stats.ts';
import { PreferStatusBar } from './statusBar.ts';
import type { Services } from './services.ts';
import { configuredPath } from './settingsPath.ts';
import { StoreAccess } from './storeAccess.ts';
import { registerTrainCommands } from './train/commands.ts';

/** What the extension offers other extensions (and its own tests). */
export interface PreferApi {
  store: StoreAccess;
  adapters: AdaptersView;
  statusBar: PreferStatusBar;
}

export function activate(context: vscode.ExtensionContext): PreferApi {
  const log = vscode.window.createOutputChannel('Prefer', { log: true });
  const store = new StoreAccess(context);
  const statusBar = new PreferStatusBar(context, store, log);
  const sources = new CompletionSources(context, store, log);
  context.subscriptions.push(log, store, statusBar, sources);
  const services: Services = {
    context,
    store,
    log,
    onChanged: () => {
      statusBar.refresh();
      adapters.refresh();
      stats.refresh();
    },
  };
  const adapters = registerAdapterCommands(services);
  const stats = registerStatsCommand(services);
  registerCompareCommands(services, sources);
  registerInlineMode(services, sources);
  registerDataCommands(services);
  registerFeedbackImport(services);
  registerLabelerCommands(services);
  registerTrainCommands(services);
  registerModelCommands(services);
  offerOwnModel(context, configuredPath('modelPath') === undefined).catch((e: unknown) =>
    log.warn(`could not look for models on disk: ${(e as Error).message}`),
  );
  log.info(`Prefer activated; store at ${store.databasePath}`);
  return { store, adapters, statusBar };
}

export function deactivate(): void {}
