/** What every panel's charts share: the editor theme's colours and font, so charts follow light, dark and high contrast. */
import { Chart } from 'chart.js';

/** A theme colour (a --vscode-* variable) or, outside the editor, `fallback`. */
export const themeColor = (name: string, fallback: string) =>
  getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;

/** Text, grid lines and font of every chart on the page from the theme; call once before making charts. */
export function applyChartTheme(): void {
  Chart.defaults.color = themeColor('--vscode-foreground', '#ccc');
  Chart.defaults.borderColor = themeColor('--vscode-panel-border', '#8884');
  Chart.defaults.font.family = themeColor('--vscode-font-family', 'sans-serif');
}
