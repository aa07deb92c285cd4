import '@vscode-elements/elements/dist/vscode-button/index.js';
import {
  CategoryScale,
  Chart,
  Legend,
  LineController,
  LineElement,
  LinearScale,
  PointElement,
  Tooltip,
} from 'chart.js';
import { applyChartTheme, themeColor } from '../charts.ts';
import type { DashboardMessage, FromDashboard, TrainSplit } from '../protocol/dashboard.ts';

Chart.register(LineController, LineElement, PointElement, LinearScale, CategoryScale, Legend, Tooltip);

declare function acquireVsCodeApi(): { postMessage(message: FromDashboard): void };
const vscode = acquireVsCodeApi();
const $ = (id: string) => document.getElementById(id)!;

const colors = {
  train: themeColor('--vscode-charts-blue', '#3794ff'),
  eval: themeColor('--vscode-charts-orange', '#d18616'),
};
applyChartTheme();

const CHARTS = { loss: 'loss', accuracies: 'rewards/accuracies', margins: 'rewards/margins' } as const;
const TABLE = [
  'loss',
  'rewards/accuracies',
  'rewards/margins',
  'rewards/chosen',
  'rewards/rejected',
  'logps/chosen',
  'logps/rejected',
  'grad_norm',
  'learning_rate',
];

function makeChart(id: string): Chart<'line', { x: number; y: number }[]> {
  const canvas = $(`chart-${id}`) as HTMLCanvasElement;
  return new Chart(canvas, {
    type: 'line',
    data: {
      datasets: (['train', 'eval'] as const).map((split) => ({
        label: split === 'train' ? 'train' : 'held-out',
        data: [],
        borderColor: colors[split],
        backgroundColor: colors[split],
        pointRadius: split === 'eval' ? 4 : 0,
        borderWidth: 2,
        showLine: split === 'train',
      })),
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      parsing: false,
      scales: {
        // whole steps only; 0…1 until the planned total stretches it (no 0.94–1.06 around a lone first point)
        x: { type: 'linear', title: { display: true, text: 'step' }, suggestedMin: 0, suggestedMax: 1, ticks: { precision: 0 } },
        y: { type: 'linear' },
      },
      plugins: { legend: { position: 'bottom' } },
    },
  });
}

const charts = Object.fromEntries(Object.keys(CHARTS).map((id) => [id, makeChart(id)])) as Record<
  keyof typeof CHARTS,
  ReturnType<typeof makeChart>
>;
const latest: Record<TrainSplit, Record<string, number>> = { train: {}, eval: {} };

/** The x axes run to the round's planned total; one tick per step while they fit. */
function stretchAxes(totalSteps: number): void {
  for (const chart of Object.values(charts)) {
    const x = chart.options.scales!.x!;
    x.suggestedMax = totalSteps;
    if (totalSteps <= 20) x.ticks = { ...x.ticks, stepSize: 1 };
    chart.update('none');
  }
}

function renderTable(): void {
  const rows = TABLE.filter((name) => name in latest.train || name in latest.eval).map((name) => {
    const tr = document.createElement('tr');
    for (const text of [name, format(latest.train[name]), format(latest.eval[name])]) {
      const td = document.createElement('td');
      td.textContent = text;
      tr.append(td);
    }
    return tr;
  });
  $('latest')
    .querySelector('tbody')!
    .replaceChildren(...rows);
}

const format = (v: number | undefined) =>
  v === undefined ? '' : Math.abs(v) < 1e-3 && v !== 0 ? v.toExponential(2) : v.toFixed(4);

window.addEventListener('message', (event: MessageEvent<DashboardMessage>) => {
  const m = event.data;
  switch (m.type) {
    case 'start':
      $('title').textContent = m.title;
      $('details').textContent = m.details;
      if (m.totalSteps !== null) stretchAxes(m.totalSteps);
      break;
    case 'plan':
      stretchAxes(m.totalSteps);
      if (m.warning) {
        $('warning').textContent = m.warning;
        $('warning').hidden = false;
      }
      break;
    case 'phase':
      $('status').textContent = m.text;
      break;
    case 'metrics': {
      latest[m.split] = m.metrics;
      for (const [id, name] of Object.entries(CHARTS) as [keyof typeof CHARTS, string][]) {
        const value = m.metrics[name];
        if (value === undefined) continue;
        const chart = charts[id];
        chart.data.datasets[m.split === 'train' ? 0 : 1]!.data.push({ x: m.step, y: value });
        chart.update('none');
        chart.canvas.dataset.points = String(chart.data.datasets.reduce((n, d) => n + d.data.length, 0));
      }
      renderTable();
      break;
    }
    case 'done':
    case 'error':
      $('status').textContent = m.text;
      document.body.dataset.finished = m.type;
      $('cancel').setAttribute('disabled', '');
      break;
  }
});

$('cancel').addEventListener('click', () => {
  vscode.postMessage({ type: 'cancel' });
  $('status').textContent = 'Cancelling after the current step…';
});
vscode.postMessage({ type: 'ready' });
