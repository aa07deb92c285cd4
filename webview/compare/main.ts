import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-badge/index.js';
import type { HostMessage, WebviewMessage } from '../protocol.ts';

declare function acquireVsCodeApi(): { postMessage(message: WebviewMessage): void };

const vscode = acquireVsCodeApi();
const list = document.getElementById('candidates')!;
const status = document.getElementById('status')!;
const title = document.getElementById('title')!;
let shownAt = performance.now();
let judged = false;

function post(message: WebviewMessage): void {
  vscode.postMessage(message);
}

// Model output is untrusted: it only ever reaches the page through textContent.
function renderCandidates(candidates: { text: string }[]): void {
  list.replaceChildren();
  judged = false;
  candidates.forEach((candidate, index) => {
    const card = document.createElement('section');
    card.className = 'candidate';
    card.dataset.index = String(index);
    const header = document.createElement('header');
    const badge = document.createElement('vscode-badge');
    badge.textContent = String(index + 1);
    const pick = document.createElement('vscode-button');
    pick.textContent = 'Pick';
    pick.className = 'pick';
    pick.setAttribute('aria-label', `Pick candidate ${index + 1}`);
    pick.addEventListener('click', () => choose(index));
    header.append(badge, pick);
    const code = document.createElement('pre');
    code.textContent = candidate.text;
    card.append(header, code);
    list.append(card);
  });
  shownAt = performance.now();
}

function choose(index: number): void {
  if (judged) return;
  judged = true;
  for (const b of list.querySelectorAll('vscode-button')) b.setAttribute('disabled', '');
  list.querySelector(`[data-index="${index}"]`)?.classList.add('chosen');
  status.textContent = 'Saving…';
  post({ type: 'pick', index, decisionMs: performance.now() - shownAt });
}

window.addEventListener('message', (event: MessageEvent<HostMessage>) => {
  const message = event.data;
  switch (message.type) {
    case 'candidates':
      title.textContent = message.title;
      status.textContent = 'Pick the completion you prefer.';
      renderCandidates(message.candidates);
      break;
    case 'saved':
      status.textContent = `Saved: ${message.pairsAdded} preference pairs (comparison #${message.comparisonId}).`;
      status.dataset.saved = String(message.comparisonId);
      break;
    case 'error':
      status.textContent = `Error: ${message.message}`;
      judged = false;
      for (const b of list.querySelectorAll('vscode-button')) b.removeAttribute('disabled');
      break;
  }
});

post({ type: 'ready' });
