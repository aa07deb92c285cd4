/** The training dashboard's static markup; every value shown is set as text from the metrics messages. */
export const DASHBOARD_BODY = `
<header class="top">
  <h2 id="title">Prefer: training</h2>
  <vscode-button id="cancel" secondary>Cancel</vscode-button>
</header>
<div id="details"></div>
<div id="status" role="status" aria-live="polite">Starting…</div>
<div id="warning" role="alert" hidden></div>
<div class="charts">
  <figure><figcaption>loss</figcaption><canvas id="chart-loss" data-points="0"></canvas></figure>
  <figure><figcaption>rewards/accuracies</figcaption><canvas id="chart-accuracies" data-points="0"></canvas></figure>
  <figure><figcaption>rewards/margins</figcaption><canvas id="chart-margins" data-points="0"></canvas></figure>
</div>
<table id="latest"><thead><tr><th>metric</th><th>train (last step)</th><th>held-out</th></tr></thead><tbody></tbody></table>`;
