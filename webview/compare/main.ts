import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-textarea/index.js';
import type { CandidateView, HostMessage, Outcome, PanelMode, WebviewMessage } from '../protocol/compare.ts';
import { changedRanges, renderCode as paintCode } from './highlight.ts';
import { hideReveal, showReveal } from './reveal.ts';

declare function acquireVsCodeApi(): { postMessage(message: WebviewMessage): void };
const vscode = acquireVsCodeApi();

type TextArea = HTMLElement & { value: string };

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const list = $('candidates');
const status = $('status');
const title = $('title');
const modeLabel = $('mode');
const rationale = $<TextArea>('rationale');
const editBox = $<TextArea>('edit');
const editSection = $('edit-section');
/** Every control that judges: off while candidates stream and once the judgment is saved, until the next compare. */
const judgingControls = ['do-rank', 'do-tie', 'do-both-bad', 'do-skip', 'do-edit', 'do-confirm'].map((id) =>
  $(id),
);
const insertButton = $('do-insert');

/** What the user has chosen so far, before Enter: an outcome, its ranking or own answer maybe unfinished. */
type Selection =
  | Exclude<Outcome, { kind: 'ranking' | 'edited' }>
  | { kind: 'ranking'; order: number[] }
  | { kind: 'edited' };

interface Round {
  id: number;
  language: string;
  mode: PanelMode;
  candidates: CandidateView[];
  selection: Selection | undefined;
  shownAt: number;
  saved: boolean;
  /** What I inserts once judged: a shown candidate or the user's own text. */
  chosen: { index: number } | { text: string } | undefined;
}

let round: Round | undefined;

function post(message: WebviewMessage): void {
  vscode.postMessage(message);
}

function say(text: string): void {
  status.textContent = text;
}

const streaming = () => round?.candidates.some((c) => c.streaming) ?? false;

/** "1st", "2nd", "3rd", "4th" … for rank badges. */
function ordinal(n: number): string {
  const teen = n % 100 >= 11 && n % 100 <= 13;
  const suffix = teen ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${suffix}`;
}

// ---- rendering (model output only ever reaches the page through textContent) ----

function renderCandidates(): void {
  if (!round) return;
  const r = round;
  const cards = r.candidates.map((candidate, index) => {
    const card = document.createElement('section');
    card.className = 'candidate';
    card.dataset.index = String(index);
    card.setAttribute('aria-label', `Candidate ${index + 1}`);
    const header = document.createElement('header');
    const badge = document.createElement('vscode-badge');
    badge.textContent = `#${index + 1}`;
    const rank = document.createElement('span');
    rank.className = 'rank';
    const pick = document.createElement('vscode-button');
    pick.textContent = 'Pick';
    pick.className = 'pick';
    pick.setAttribute('aria-label', `Pick candidate ${index + 1}`);
    pick.addEventListener('click', () => {
      select({ kind: 'pick', chosenIndex: index });
      confirm();
    });
    const source = document.createElement('span');
    source.className = 'source';
    header.append(badge, source, rank, pick);
    const code = document.createElement('pre');
    code.className = 'code';
    card.append(header, code);
    return card;
  });
  list.replaceChildren(...cards);
  r.candidates.forEach((_, i) => renderCandidate(i));
  renderSelection();
}

/** Candidate i, highlighted, with what differs from the candidate shown first (or second, for the first). */
function renderCandidate(i: number): void {
  if (!round) return;
  const card = list.querySelector<HTMLElement>(`.candidate[data-index="${i}"]`);
  const code = card?.querySelector<HTMLElement>('pre.code');
  const candidate = round.candidates[i];
  if (!card || !code || !candidate) return;
  const reference = round.candidates[i === 0 ? 1 : 0]?.text ?? candidate.text;
  const done = !streaming();
  // Shown with \n breaks whatever the model wrote; Insert writes the document's own line endings.
  paintCode(
    code,
    candidate.text.replace(/\r\n?/g, '\n'),
    round.language,
    done ? changedRanges(reference, candidate.text) : [],
  );
  card.classList.toggle('streaming', candidate.streaming);
}

function renderSelection(): void {
  if (!round) return;
  const sel = round.selection;
  for (const card of list.querySelectorAll<HTMLElement>('.candidate')) {
    const i = Number(card.dataset.index);
    const rankPos = sel?.kind === 'ranking' ? sel.order.indexOf(i) : -1;
    card.classList.toggle('selected', (sel?.kind === 'pick' && sel.chosenIndex === i) || rankPos === 0);
    card.querySelector('.rank')!.textContent = rankPos >= 0 ? `ranked ${ordinal(rankPos + 1)}` : '';
  }
  renderControls();
  editSection.hidden = sel?.kind !== 'edited';
  document.body.dataset.selection = sel?.kind ?? '';
  if (round.saved) return;
  if (streaming()) return say('Generating…  (Esc cancels)');
  const k = round.candidates.length;
  switch (sel?.kind) {
    case undefined:
      return say(
        `Pick with 1–${k}, R rank all, T tie, B both bad, S skip, E write your own. Enter confirms.`,
      );
    case 'pick':
      return say(`Selected #${sel.chosenIndex + 1}. Enter confirms, I inserts it.`);
    case 'ranking':
      return say(
        sel.order.length < k
          ? `Ranking: ${sel.order.map((i) => `#${i + 1}`).join(' > ') || '…'} — press the next best (Backspace undoes).`
          : `Ranking ${sel.order.map((i) => `#${i + 1}`).join(' > ')}. Enter confirms.`,
      );
    case 'tie':
      return say('Tie: no preference between the candidates. Enter confirms.');
    case 'both_bad':
      return say('All candidates are bad. Enter confirms.');
    case 'skip':
      return say('Skip this prompt. Enter confirms.');
    case 'edited':
      return say(
        'Write your own answer; it is preferred over every candidate. Ctrl+Enter confirms, Esc leaves.',
      );
  }
}

function renderControls(): void {
  const closed = !round || round.saved || streaming();
  for (const control of [
    ...judgingControls,
    ...list.querySelectorAll('vscode-button.pick'),
    rationale,
    editBox,
  ])
    control.toggleAttribute('disabled', closed);
  insertButton.toggleAttribute('disabled', !round || streaming());
}

/** Keys go to the panel, not to a field or the editor: each compare is judged from the keyboard at once. */
function takeFocus(): void {
  (document.activeElement as HTMLElement | null)?.blur();
  window.focus();
  list.focus();
}

// ---- judging ----

function select(selection: Selection): void {
  if (!round || round.saved || streaming()) return;
  const previous = round.selection;
  round.selection = selection;
  renderSelection();
  if (selection.kind === 'edited') {
    // Start from the selected candidate (or the first): editing is usually a small fix.
    if (!editBox.value)
      editBox.value = round.candidates[previous?.kind === 'pick' ? previous.chosenIndex : 0]?.text ?? '';
    editBox.focus();
  }
}

function rankNext(index: number): void {
  if (!round || round.selection?.kind !== 'ranking') return;
  const order = round.selection.order;
  if (!order.includes(index) && index < round.candidates.length) order.push(index);
  renderSelection();
}

function outcomeOf(selection: Selection | undefined): Outcome | string {
  if (!round) return 'nothing to judge';
  const k = round.candidates.length;
  if (!selection) return 'choose first: a number, R, T, B, S or E';
  switch (selection.kind) {
    case 'pick':
      return { kind: 'pick', chosenIndex: selection.chosenIndex };
    case 'ranking':
      return selection.order.length === k
        ? { kind: 'ranking', order: [...selection.order] }
        : `rank all ${k} candidates first`;
    case 'edited': {
      const text = editBox.value;
      return text.trim() ? { kind: 'edited', text } : 'write your answer first';
    }
    default:
      return { kind: selection.kind };
  }
}

function confirm(): void {
  if (!round || round.saved || streaming()) return;
  const outcome = outcomeOf(round.selection);
  if (typeof outcome === 'string') return say(outcome[0]!.toUpperCase() + outcome.slice(1) + '.');
  const note = rationale.value.trim();
  round.chosen =
    outcome.kind === 'pick'
      ? { index: outcome.chosenIndex }
      : outcome.kind === 'ranking'
        ? { index: outcome.order[0]! }
        : outcome.kind === 'edited'
          ? { text: outcome.text }
          : undefined;
  round.saved = true;
  say('Saving…');
  renderSelection();
  post({
    type: 'judge',
    roundId: round.id,
    outcome,
    decisionMs: performance.now() - round.shownAt,
    ...(note ? { rationale: note } : {}),
  });
}

function insert(): void {
  if (!round) return;
  let what = round.chosen;
  if (!what && round.selection?.kind === 'pick') what = { index: round.selection.chosenIndex };
  if (!what && round.selection?.kind === 'edited' && editBox.value.trim()) what = { text: editBox.value };
  if (!what) return say('Nothing chosen to insert yet.');
  post({ type: 'insert', roundId: round.id, what });
}

// ---- keyboard ----

// Keys typed in a text field stay in it: neither the panel's shortcuts nor VS Code's keybindings (which a
// webview forwards keydown events to) may see them — Ctrl+A would select all in the editor behind the panel.
for (const field of [rationale, editBox]) {
  field.addEventListener('keydown', (event) => {
    event.stopPropagation();
    if (event.key === 'Escape') {
      field.blur();
      if (round?.selection?.kind === 'edited' && !round.saved) {
        round.selection = undefined;
        renderSelection();
      }
      event.preventDefault();
    } else if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      confirm();
      event.preventDefault();
    }
  });
}

window.addEventListener('keydown', (event) => {
  if (!round) return;
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const key = event.key;
  const ranking = round.selection?.kind === 'ranking';
  if (/^[1-9]$/.test(key)) {
    const index = Number(key) - 1;
    if (index >= round.candidates.length) return;
    if (ranking) rankNext(index);
    else select({ kind: 'pick', chosenIndex: index });
  } else if (key === 'Escape' && streaming()) {
    post({ type: 'cancel', roundId: round.id });
  } else if (key === 'Backspace' && ranking && round.selection?.kind === 'ranking') {
    round.selection.order.pop();
    renderSelection();
  } else if (key === 'Enter') {
    confirm();
  } else {
    switch (key.toLowerCase()) {
      case 'r':
        select({ kind: 'ranking', order: [] });
        break;
      case 't':
        select({ kind: 'tie' });
        break;
      case 'b':
        select({ kind: 'both_bad' });
        break;
      case 's':
        select({ kind: 'skip' });
        break;
      case 'e':
        select({ kind: 'edited' });
        break;
      case 'i':
        insert();
        break;
      default:
        return;
    }
  }
  event.preventDefault();
});

for (const [id, action] of Object.entries({
  'do-tie': () => select({ kind: 'tie' }),
  'do-both-bad': () => select({ kind: 'both_bad' }),
  'do-skip': () => select({ kind: 'skip' }),
  'do-rank': () => select({ kind: 'ranking', order: [] }),
  'do-edit': () => select({ kind: 'edited' }),
  'do-confirm': confirm,
  'do-insert': insert,
  'use-own-model': () => post({ type: 'selectModel' }),
})) {
  $(id).addEventListener('click', action);
}

// ---- messages from the extension ----

window.addEventListener('message', (event: MessageEvent<HostMessage>) => {
  const message = event.data;
  if (message.type !== 'round' && message.type !== 'error' && message.roundId !== round?.id) return;
  switch (message.type) {
    case 'round':
      round = {
        id: message.roundId,
        language: message.language,
        mode: message.mode,
        candidates: message.candidates.map((c) => ({ ...c })),
        selection: undefined,
        shownAt: performance.now(),
        saved: false,
        chosen: undefined,
      };
      title.textContent = message.title;
      document.body.dataset.round = String(message.roundId);
      modeLabel.textContent = message.mode === 'blind-ab' ? 'Blind A/B: base and adapter, order hidden' : '';
      $('demo-notice').hidden = !message.demoModel;
      rationale.value = '';
      editBox.value = '';
      delete status.dataset.saved;
      hideReveal();
      renderCandidates();
      takeFocus();
      break;
    case 'delta': {
      const c = round!.candidates[message.index];
      if (!c) return;
      c.text += message.text;
      renderCandidate(message.index);
      break;
    }
    case 'done': {
      const c = round!.candidates[message.index];
      if (!c) return;
      c.streaming = false;
      if (!streaming()) {
        round!.shownAt = performance.now();
        renderCandidates();
      } else renderCandidate(message.index);
      break;
    }
    case 'saved':
      say(
        `Saved: ${message.summary}. Comparison #${message.comparisonId}.${round?.chosen ? ' I inserts the chosen text.' : ''}`,
      );
      status.dataset.saved = String(message.comparisonId);
      if (message.reveal) showReveal(list, message.reveal);
      break;
    case 'inserted':
      say('Inserted into the editor.');
      status.dataset.inserted = 'true';
      break;
    case 'error':
      say(`Error: ${message.message}`);
      if (round && message.roundId === round.id) {
        round.saved = false;
        renderSelection();
        status.textContent = `Error: ${message.message}`;
      }
      break;
  }
});

post({ type: 'ready' });
