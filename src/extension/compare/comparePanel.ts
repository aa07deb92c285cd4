import * as vscode from 'vscode';
import { placeholderCandidates } from '../../engine/sample/placeholder.ts';
import type { CandidateInput, PromptInput } from '../../store/store.ts';
import { type HostMessage, parseWebviewMessage } from '../../../webview/protocol.ts';
import type { StoreAccess } from '../storeAccess.ts';
import { webviewHtml } from '../webviewHtml.ts';

interface Round {
  prompt: PromptInput;
  candidates: CandidateInput[];
}

/** The compare panel: shows candidates for one prompt, turns the user's pick into stored pairs. */
export class ComparePanel {
  static current: ComparePanel | undefined;
  static readonly viewType = 'prefer.compare';

  readonly panel: vscode.WebviewPanel;
  private round: Round | undefined;
  private ready = false;
  private readonly store: StoreAccess;
  private readonly log: vscode.LogOutputChannel;

  static show(context: vscode.ExtensionContext, store: StoreAccess, log: vscode.LogOutputChannel): ComparePanel {
    if (ComparePanel.current) {
      ComparePanel.current.panel.reveal(vscode.ViewColumn.Beside, true);
      return ComparePanel.current;
    }
    const panel = vscode.window.createWebviewPanel(
      ComparePanel.viewType,
      'Prefer: Compare',
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
      {
        enableScripts: true,
        retainContextWhenHidden: true,
        localResourceRoots: [
          vscode.Uri.joinPath(context.extensionUri, 'dist', 'webview'),
          vscode.Uri.joinPath(context.extensionUri, 'media'),
        ],
      },
    );
    ComparePanel.current = new ComparePanel(panel, context, store, log);
    return ComparePanel.current;
  }

  private constructor(
    panel: vscode.WebviewPanel,
    context: vscode.ExtensionContext,
    store: StoreAccess,
    log: vscode.LogOutputChannel,
  ) {
    this.panel = panel;
    this.store = store;
    this.log = log;
    panel.webview.html = webviewHtml(panel.webview, context.extensionUri, {
      title: 'Prefer: Compare',
      script: 'compare.js',
      style: 'compare.css',
      body: '<h2 id="title"></h2><div id="status" role="status" aria-live="polite"></div><div id="candidates"></div>',
    });
    panel.webview.onDidReceiveMessage((m: unknown) => this.handleMessage(m));
    panel.onDidDispose(() => {
      if (ComparePanel.current === this) ComparePanel.current = undefined;
    });
  }

  /** Starts a round for `prompt`. Candidates come from the placeholder until the sampler lands. */
  startRound(prompt: PromptInput, n: number): void {
    this.round = { prompt, candidates: placeholderCandidates(n) };
    this.sendRound();
  }

  private sendRound(): void {
    if (!this.ready || !this.round) return;
    const where = this.round.prompt.filePath ? vscode.workspace.asRelativePath(this.round.prompt.filePath) : 'untitled';
    this.post({ type: 'candidates', title: `Completions at ${where}`, candidates: this.round.candidates });
  }

  private post(message: HostMessage): void {
    void this.panel.webview.postMessage(message);
  }

  /** Every message from the webview is validated; malformed ones are logged and dropped. */
  handleMessage(raw: unknown): { comparisonId: number; pairsAdded: number } | undefined {
    const message = parseWebviewMessage(raw);
    if ('invalid' in message) {
      this.log.warn(`compare panel: dropped message (${message.invalid})`);
      return undefined;
    }
    switch (message.type) {
      case 'ready':
        this.ready = true;
        this.sendRound();
        return undefined;
      case 'pick': {
        const round = this.round;
        if (!round || message.index >= round.candidates.length) {
          this.log.warn(`compare panel: dropped pick ${message.index} with no such candidate`);
          return undefined;
        }
        try {
          const result = this.store
            .get()
            .recordPick({ ...round, chosenIndex: message.index, decisionMs: message.decisionMs });
          this.log.info(`comparison ${result.comparisonId}: ${result.pairsAdded} pairs stored`);
          this.post({ type: 'saved', ...result });
          return result;
        } catch (e) {
          const text = (e as Error).message;
          this.log.error(`compare panel: could not store the pick: ${text}`);
          this.post({ type: 'error', message: text });
          void vscode.window.showErrorMessage(`Prefer: could not store the judgment: ${text}`);
          return undefined;
        }
      }
    }
  }
}

/** Prompt = the text before and after the cursor (or around the selection) in the active editor. */
export function promptAtCursor(editor: vscode.TextEditor): PromptInput {
  const doc = editor.document;
  const sel = editor.selection;
  const end = doc.lineAt(doc.lineCount - 1).range.end;
  return {
    workspace: vscode.workspace.getWorkspaceFolder(doc.uri)?.name,
    filePath: doc.uri.scheme === 'file' ? doc.uri.fsPath : doc.uri.toString(),
    language: doc.languageId,
    prefix: doc.getText(new vscode.Range(new vscode.Position(0, 0), sel.start)),
    suffix: doc.getText(new vscode.Range(sel.end, end)),
  };
}
