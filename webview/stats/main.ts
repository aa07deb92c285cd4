import '@vscode-elements/elements/dist/vscode-button/index.js';
import { BarController, BarElement, CategoryScale, Chart, Legend, LineController, LineElement, LinearScale, PointElement, Tooltip } from 'chart.js';
import { applyChartTheme, themeColor } from '../charts.ts';
import type { FromStats, StatsMessage, StatsView } from '../protocol/stats.ts';

Chart.register(BarController, BarElement, LineController, LineElement, PointElement, CategoryScale, LinearScale, Legend, Tooltip);
applyChartTheme();

declare function acquireVsCodeApi(): { postMessage(message: FromStats): void };
const vscode = acquireVsCodeApi();
const $ = (id: string) => document.getElementById(id)!;

/** A table body of rows of text cells (textContent only: labels come from stored data). */
function fill(tableId: string, rows: (string | number)[][]): void {
  const trs = rows.map((cells) => {
    const tr = document.createElement('tr');
    for (const cell of cells) {
      const td = document.createElement('td');
      td.textContent = String(cell);
      tr.append(td);
    }
    return tr;
  });
  $(tableId).querySelector('tbody')!.replaceChildren(...trs);
}

const blue = themeColor('--vscode-charts-blue', '#3794ff');
const faint = themeColor('--vscode-charts-lines', '#8888');
const chart = new Chart<'bar' | 'line', number[], string>($('chart-pairs') as HTMLCanvasElement, {
  type: 'bar',
  data: {
    labels: [],
    datasets: [
      { type: 'line', label: 'all pairs', data: [], borderColor: blue, backgroundColor: blue, pointRadius: 3 },
      { type: 'bar', label: 'new that day', data: [], backgroundColor: faint },
    ],
  },
  options: {
    animation: false,
    maintainAspectRatio: false,
    scales: { y: { type: 'linear', beginAtZero: true, ticks: { precision: 0 } } },
    plugins: { legend: { position: 'bottom' } },
  },
});

function drawPairs(days: StatsView['pairsByDay']): void {
  let total = 0;
  chart.data.labels = days.map((d) => d.day);
  chart.data.datasets[0]!.data = days.map((d) => (total += d.pairs));
  chart.data.datasets[1]!.data = days.map((d) => d.pairs);
  chart.update('none');
  chart.canvas.dataset.points = String(days.length);
}

const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;

function show(view: StatsView): void {
  const t = view.totals;
  $('totals').textContent =
    `${count(t.pairs, 'pair')} from ${count(t.comparisons, 'comparison')} over ${count(t.prompts, 'prompt')} · ` +
    count(t.adapters, 'adapter');
  drawPairs(view.pairsByDay);
  fill('by-source', view.bySource);
  fill('by-outcome', view.byOutcome);
  fill('by-language', view.byLanguage);
  fill('runs', view.runs.map((r) => [r.id, r.status, r.startedAt, r.steps, r.adapter, r.heldOutAccuracy]));
  $('no-runs').hidden = view.runs.length > 0;
  fill('ab', view.ab.map((a) => [a.adapter, a.wins, a.losses, a.ties, a.winRate]));
  $('no-ab').hidden = view.ab.length > 0;
  $('db-path').textContent = view.databasePath;
}

let updates = 0;
window.addEventListener('message', (event: MessageEvent<StatsMessage>) => {
  const m = event.data;
  if (m.type === 'stats') {
    show(m.view);
    $('status').textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } else $('status').textContent = `Could not read the store: ${m.message}`;
  document.body.dataset.updates = String(++updates);
});

$('refresh').addEventListener('click', () => vscode.postMessage({ type: 'refresh' }));
$('reveal').addEventListener('click', () => vscode.postMessage({ type: 'reveal' }));
vscode.postMessage({ type: 'ready' });
