/** The stats view's static markup; every number and name shown is set as text from the host's message. */
const breakdown = (id: string, caption: string, label: string) =>
  `<table id="${id}" class="breakdown"><caption>${caption}</caption>` +
  `<thead><tr><th scope="col">${label}</th><th scope="col">pairs</th></tr></thead><tbody></tbody></table>`;

export const STATS_BODY = `
<header class="top">
  <h2>Prefer: Stats</h2>
  <vscode-button id="refresh" secondary>Refresh</vscode-button>
</header>
<div id="status" role="status" aria-live="polite">Reading the store…</div>
<p id="totals"></p>
<figure><figcaption>Pairs over time</figcaption><canvas id="chart-pairs" data-points="0"></canvas></figure>
<div class="breakdowns">
  ${breakdown('by-source', 'Pairs by source', 'source')}
  ${breakdown('by-outcome', 'Pairs by judgment', 'outcome')}
  ${breakdown('by-language', 'Pairs by language', 'language')}
</div>
<h3>Training runs</h3>
<table id="runs">
  <thead><tr><th scope="col">run</th><th scope="col">status</th><th scope="col">started (UTC)</th><th scope="col">steps</th><th scope="col">adapter</th><th scope="col">held-out accuracy</th></tr></thead>
  <tbody></tbody>
</table>
<p id="no-runs" class="empty" hidden>No training runs yet: Prefer: Train DPO Round.</p>
<h3>Blind A/B: adapter against the base model</h3>
<table id="ab">
  <thead><tr><th scope="col">adapter</th><th scope="col">wins</th><th scope="col">losses</th><th scope="col">ties</th><th scope="col">win-rate</th></tr></thead>
  <tbody></tbody>
</table>
<p id="no-ab" class="empty" hidden>No blind A/B judgments yet: Prefer: Compare Completions (Blind A/B: Adapter vs Base).</p>
<h3>Database</h3>
<p class="database"><code id="db-path"></code>
<vscode-button id="reveal" secondary>Reveal in file explorer</vscode-button></p>`;
