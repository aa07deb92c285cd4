import { randomInt } from 'node:crypto';
import * as vscode from 'vscode';
import type { CandidateInput, JudgmentResult, Outcome, PromptInput } from '../../store/store.ts';
import { COMPARE_BODY } from '../../../webview/compare/markup.ts';
import {
  type AbReveal,
  type HostMessage,
  type PanelMode,
  type WebviewMessage,
  parseWebviewMessage,
} from '../../../webview/protocol/compare.ts';
import type { StoreAccess } from '../storeAccess.ts';
import { createPreferPanel, webviewHtml } from '../webviewHtml.ts';
import type { CompletionRequest, CompletionSource } from './completionSource.ts';
import { type Slot, insertAtSlot } from './slot.ts';
import { abReveal } from './abReveal.ts';
import { usesBundledModel } from './sources.ts';

/** One prompt on screen: its candidates in the (random) order shown, and what happened to them. */
interface Round {
  id: number;
  mode: PanelMode;
  prompt: PromptInput;
  slot: Slot | undefined;
  /** Texts so far, by shown position. */
  texts: string[];
  streaming: boolean[];
  /** Complete candidates by shown position, once sampling has finished. */
  candidates: CandidateInput[] | undefined;
  sampled: Promise<void>;
  cancel: vscode.CancellationTokenSource;
  judged: boolean;
}

function shuffled(n: number): number[] {
  const order = [...Array(n).keys()];
  for (let i = n - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

function summary(outcome: Outcome, pairs: number): string {
  const n = `${pairs} preference pair${pairs === 1 ? '' : 's'}`;
  switch (outcome.kind) {
    case 'tie':
      return 'tie recorded (no pairs)';
    case 'both_bad':
      return 'both bad recorded (no pairs)';
    case 'skip':
      return 'skipped';
    default:
      return n;
  }
}

/** The compare panel: shows candidates for one prompt at a time and turns judgments into stored pairs. */
export class ComparePanel {
  static current: ComparePanel | undefined;
  static readonly viewType = 'prefer.compare';

  readonly panel: vscode.WebviewPanel;
  private round: Round | undefined;
  private nextRoundId = 1;
  private ready = false;
  private readonly context: vscode.ExtensionContext;
  private readonly store: StoreAccess;
  private readonly log: vscode.LogOutputChannel;
  private readonly judged = new vscode.EventEmitter<JudgmentResult>();
  readonly onDidJudge = this.judged.event;

  static show(
    context: vscode.ExtensionContext,
    store: StoreAccess,
    log: vscode.LogOutputChannel,
  ): ComparePanel {
    if (ComparePanel.current) {
      // Focus moves into the panel on every compare (new, reused or hidden behind a tab): judging is by keys.
      const { panel } = ComparePanel.current;
      panel.reveal(panel.viewColumn ?? vscode.ViewColumn.Beside, false);
      return ComparePanel.current;
    }
    const panel = createPreferPanel(context, ComparePanel.viewType, 'Prefer: Compare', false);
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
    this.context = context;
    this.store = store;
    this.log = log;
    panel.webview.html = webviewHtml(panel.webview, context.extensionUri, {
      title: 'Prefer: Compare',
      script: 'compare.js',
      style: 'compare.css',
      body: COMPARE_BODY,
    });
    panel.webview.onDidReceiveMessage((m: unknown) => void this.handleMessage(m));
    panel.onDidDispose(() => {
      this.round?.cancel.cancel();
      this.judged.dispose();
      if (ComparePanel.current === this) ComparePanel.current = undefined;
    });
  }

  /** Samples candidates for `prompt` from `source` and streams them into the panel in a random order. */
  startRound(
    prompt: PromptInput,
    slot: Slot | undefined,
    request: Omit<CompletionRequest, 'prompt'>,
    source: CompletionSource,
    mode: PanelMode = 'compare',
  ): Promise<void> {
    this.round?.cancel.cancel();
    const n = request.n;
    const order = shuffled(n); // order[shown] = stream index
    const shownOf = new Map(order.map((stream, shown) => [stream, shown]));
    const cancel = new vscode.CancellationTokenSource();
    const round: Round = {
      id: this.nextRoundId++,
      mode,
      prompt,
      slot,
      texts: Array<string>(n).fill(''),
      streaming: Array<boolean>(n).fill(true),
      candidates: undefined,
      sampled: Promise.resolve(),
      cancel,
      judged: false,
    };
    this.round = round;
    this.sendRound();
    const live = () => this.round === round && !cancel.token.isCancellationRequested;
    round.sampled = source
      .sample(
        { ...request, prompt },
        {
          onDelta: (stream, text) => {
            const shown = shownOf.get(stream);
            if (shown === undefined || !live()) return;
            round.texts[shown] += text;
            this.post({ type: 'delta', roundId: round.id, index: shown, text });
          },
          onDone: (stream) => {
            const shown = shownOf.get(stream);
            if (shown === undefined || !live()) return;
            round.streaming[shown] = false;
            this.post({ type: 'done', roundId: round.id, index: shown });
          },
        },
        cancel.token,
      )
      .then(
        (byStream) => {
          if (this.round !== round) return;
          if (byStream.length !== n)
            throw new Error(`the sampler returned ${byStream.length} of ${n} candidates`);
          round.candidates = order.map((stream) => byStream[stream]!);
          round.texts = round.candidates.map((c) => c.text);
          round.streaming.fill(false);
          this.sendRound();
        },
        (e: unknown) => {
          const message = cancel.token.isCancellationRequested
            ? 'generation cancelled'
            : (e as Error).message;
          this.log.error(`sampling failed: ${message}`);
          this.post({ type: 'error', roundId: round.id, message });
        },
      );
    return round.sampled;
  }

  /** The whole round as it stands: used at start, when sampling finishes, and when the page (re)loads. */
  private sendRound(): void {
    const round = this.round;
    if (!round) return;
    const where = round.prompt.filePath ? vscode.workspace.asRelativePath(round.prompt.filePath) : 'untitled';
    this.post({
      type: 'round',
      roundId: round.id,
      title: `Completions at ${where}`,
      language: round.prompt.language ?? 'plaintext',
      mode: round.mode,
      candidates: round.texts.map((text, i) => ({ text, streaming: round.streaming[i]! })),
      demoModel: usesBundledModel(this.context),
    });
  }

  private post(message: HostMessage): void {
    if (this.ready) void this.panel.webview.postMessage(message);
  }

  /** Every message from the webview is validated; malformed ones are logged and dropped. */
  async handleMessage(raw: unknown): Promise<JudgmentResult | Slot | undefined> {
    const message = parseWebviewMessage(raw);
    if ('invalid' in message) {
      this.log.warn(`compare panel: dropped a malformed message (${message.invalid})`);
      return undefined;
    }
    if (message.type === 'ready') {
      this.ready = true;
      this.sendRound();
      return undefined;
    }
    if (message.type === 'selectModel') {
      await vscode.commands.executeCommand('prefer.selectModel');
      return undefined;
    }
    const round = this.round;
    if (!round || round.id !== message.roundId) {
      this.log.warn(
        `compare panel: dropped ${message.type} for round ${message.roundId}, which is not on screen`,
      );
      return undefined;
    }
    try {
      switch (message.type) {
        case 'judge':
          return this.judge(round, message);
        case 'insert':
          return await this.insert(round, message.what);
        case 'cancel':
          round.cancel.cancel();
          return undefined;
      }
    } catch (e) {
      const text = (e as Error).message;
      this.log.error(`compare panel: ${message.type} failed: ${text}`);
      this.post({ type: 'error', roundId: round.id, message: text });
      if (message.type === 'judge') round.judged = false;
      void vscode.window.showErrorMessage(`Prefer: ${text}`, 'Show Log').then((a) => a && this.log.show());
      return undefined;
    }
  }

  private judge(
    round: Round,
    message: Extract<WebviewMessage, { type: 'judge' }>,
  ): JudgmentResult | undefined {
    const candidates = round.candidates;
    if (!candidates) throw new Error('wait for the candidates to finish before judging');
    if (round.judged) throw new Error('this prompt is already judged');
    const { outcome } = message;
    const k = candidates.length;
    const indices =
      outcome.kind === 'pick' ? [outcome.chosenIndex] : outcome.kind === 'ranking' ? outcome.order : [];
    if (indices.some((i) => i >= k))
      throw new Error(`no candidate ${Math.max(...indices) + 1} (there are ${k})`);
    if (outcome.kind === 'ranking' && outcome.order.length !== k) throw new Error(`rank all ${k} candidates`);
    round.judged = true;
    const store = this.store.get();
    const result = store.recordJudgment({
      prompt: round.prompt,
      candidates,
      outcome,
      rationale: message.rationale,
      decisionMs: message.decisionMs,
      mode: round.mode,
    });
    this.log.info(`comparison ${result.comparisonId} (${outcome.kind}): ${result.pairsAdded} pairs stored`);
    let text = summary(outcome, result.pairsAdded);
    let reveal: AbReveal | undefined;
    const adapterId = candidates.find((c) => c.adapterId !== undefined)?.adapterId;
    if (round.mode === 'blind-ab' && adapterId !== undefined) {
      // Revealed only after judging: which model wrote each card, and the adapter's record so far.
      const winner =
        outcome.kind === 'pick'
          ? candidates[outcome.chosenIndex]
          : outcome.kind === 'ranking'
            ? candidates[outcome.order[0]!]
            : undefined;
      const ab = store.updateAbRecord(adapterId);
      reveal = abReveal(candidates, ab, store.abHistory(adapterId));
      const who = winner
        ? `the ${winner.adapterId === undefined ? 'base model' : 'adapter'} wrote your choice; `
        : '';
      text += ` — ${who}${reveal.record}`;
      this.log.info(`blind A/B: adapter ${adapterId} wins ${ab.wins}, losses ${ab.losses}, ties ${ab.ties}`);
    }
    this.post({
      type: 'saved',
      roundId: round.id,
      comparisonId: result.comparisonId,
      pairsAdded: result.pairsAdded,
      summary: text,
      reveal,
    });
    this.judged.fire(result);
    return result;
  }

  private async insert(round: Round, what: { index: number } | { text: string }): Promise<Slot> {
    if (!round.slot) throw new Error('there is no editor position to insert into');
    const text = 'text' in what ? what.text : round.candidates?.[what.index]?.text;
    if (text === undefined) throw new Error('no such candidate to insert');
    round.slot = await insertAtSlot(round.slot, text);
    this.post({ type: 'inserted', roundId: round.id });
    return round.slot;
  }

  /** Resolves when the current round's sampling has finished (or failed). */
  whenSampled(): Promise<void> {
    return this.round?.sampled ?? Promise.resolve();
  }

  get currentRoundId(): number | undefined {
    return this.round?.id;
  }
}
