/** The compare panel's static markup (no model output ever goes here; candidates are added as text). */
export const COMPARE_BODY = `
<header class="top">
  <h2 id="title">Prefer</h2>
  <span id="mode"></span>
</header>
<div id="demo-notice" role="note" hidden>
  <span><strong>Demo model:</strong> these candidates come from the tiny model bundled with Prefer, enough to try
  judging and training but not to write useful code.</span>
  <vscode-button id="use-own-model" secondary>Use your own model</vscode-button>
</div>
<div id="status" role="status" aria-live="polite"></div>
<div id="candidates" tabindex="-1"></div>
<section id="reveal" hidden>
  <p id="ab-record"></p>
  <figure class="ab-history"><figcaption>Adapter win-rate over blind A/B judgments (95 % interval)</figcaption><canvas id="ab-history"></canvas></figure>
</section>
<div class="controls">
  <vscode-button id="do-rank" secondary>Rank all (R)</vscode-button>
  <vscode-button id="do-tie" secondary>Tie (T)</vscode-button>
  <vscode-button id="do-both-bad" secondary>Both bad (B)</vscode-button>
  <vscode-button id="do-skip" secondary>Skip (S)</vscode-button>
  <vscode-button id="do-edit" secondary>Write my own (E)</vscode-button>
  <vscode-button id="do-confirm">Confirm (Enter)</vscode-button>
  <vscode-button id="do-insert" secondary>Insert (I)</vscode-button>
</div>
<section id="edit-section" hidden>
  <label for="edit">Your answer (preferred over every candidate)</label>
  <vscode-textarea id="edit" rows="6" monospace resize="vertical"></vscode-textarea>
</section>
<label for="rationale">Why (optional)</label>
<vscode-textarea id="rationale" rows="2" resize="vertical" placeholder="What made the difference?"></vscode-textarea>
<p class="keys">1–9 pick · R rank all (then 1–9 in order, Backspace undoes) · T tie · B both bad · S skip ·
E write your own (Ctrl+Enter confirms) · Enter confirm · I insert · Esc cancel generation</p>`;
