/** Blind A/B, once judged: each card labelled with its model, the adapter's record, and its win-rate over time. */
import { Chart, Legend, LineController, LineElement, LinearScale, PointElement, Tooltip } from 'chart.js';
import { themeColor } from '../charts.ts';
import type { AbReveal } from '../protocol/compare.ts';

Chart.register(LineController, LineElement, PointElement, LinearScale, Legend, Tooltip);

const $ = (id: string) => document.getElementById(id)!;

let chart: Chart<'line', { x: number; y: number }[]> | undefined;

export function hideReveal(): void {
  $('reveal').hidden = true;
}

export function showReveal(cards: HTMLElement, reveal: AbReveal): void {
  for (const card of cards.querySelectorAll<HTMLElement>('.candidate')) {
    const source = reveal.sources[Number(card.dataset.index)];
    if (!source) continue;
    card.dataset.source = source;
    card.querySelector('.source')!.textContent = source === 'adapter' ? 'adapter' : 'base model';
  }
  $('ab-record').textContent = reveal.record;
  $('reveal').hidden = false;
  drawHistory(reveal.history);
}

function drawHistory(history: AbReveal['history']): void {
  const canvas = $('ab-history') as HTMLCanvasElement;
  canvas.dataset.points = String(history.length);
  const color = themeColor('--vscode-charts-blue', '#3794ff');
  const faint = themeColor('--vscode-descriptionForeground', '#8888');
  const series = (label: string, y: (h: AbReveal['history'][number]) => number, main: boolean) => ({
    label,
    data: history.map((h) => ({ x: h.judgment, y: 100 * y(h) })),
    borderColor: main ? color : faint,
    backgroundColor: main ? color : faint,
    borderDash: main ? [] : [4, 4],
    borderWidth: main ? 2 : 1,
    pointRadius: main ? 3 : 0,
  });
  const datasets = [series('win-rate', (h) => h.winRate, true), series('95 % low', (h) => h.low, false), series('95 % high', (h) => h.high, false)];
  if (chart) {
    chart.data.datasets = datasets;
    chart.options.scales!.x!.suggestedMax = Math.max(1, history.length);
    chart.update('none');
    return;
  }
  chart = new Chart(canvas, {
    type: 'line',
    data: { datasets },
    options: {
      animation: false,
      maintainAspectRatio: false,
      parsing: false,
      scales: {
        x: { type: 'linear', title: { display: true, text: 'decided judgment' }, suggestedMin: 1, suggestedMax: Math.max(1, history.length), ticks: { precision: 0 } },
        y: { type: 'linear', min: 0, max: 100, title: { display: true, text: '% won by the adapter' } },
      },
      plugins: { legend: { display: false } },
    },
  });
}
