// End to end, the first hour on the bundled default model: Show Stats over a store of known judgments, runs and
// blind A/B records; the compare panel's demo-model notice; a round trained on the default model. The packaged
// VSIX in code-server, driven through Debian Chromium. With PREFER_UPDATE_SCREENSHOTS=1 it writes README's
// screenshots (compare panel, training dashboard, stats view) into media/screenshots/.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { Frame, Page } from 'playwright-core';
import { HELD_OUT_PAIRS, type Outcome, openStore, type Store } from '../../src/store/store.ts';
import { type Workbench, closeWorkbench, freshHome, openWorkbench, readmeScreenshots, workbenchActions } from '../harness/workbench.ts';
import { repoRoot } from '../harness/codeServer.ts';

const home = join(repoRoot, '.test-output', 'e2e-stats');
const workspace = join(home, 'workspace');
const database = join(home, 'prefer.sqlite');
const shots = join(repoRoot, '.test-output', 'screenshots');

let workbench: Workbench | undefined;
let page: Page;

const { quickOpen, runFromPalette, screenshotOnFailure, webviewFrame } = workbenchActions(() => page, shots);

const judge = (store: Store, prefix: string, language: string, texts: string[], outcome: Outcome, adapterId?: number) =>
  store.recordJudgment({
    prompt: { prefix, language, filePath: join(workspace, 'seed.ts') },
    candidates: texts.map((text, i) => ({ text, modelId: 'default', ...(adapterId !== undefined && i === 1 ? { adapterId } : {}) })),
    outcome,
    mode: adapterId === undefined ? 'compare' : 'blind-ab',
  });

/**
 * A store with known contents. Pairs: 3 picks of 4 (9, typescript), a ranking of 3 (3, python), a tie (none),
 * 4 decided blind A/B picks (4, typescript), 60 imported (typescript): 76 on three days. One finished round:
 * adapter v1, held-out accuracy 0.75 of 8. Its blind A/B: 3 wins, 1 loss, 1 tie.
 */
function seedStore(): void {
  const store = openStore(database);
  for (let i = 0; i < 3; i++)
    judge(store, `const id${i} = `, 'typescript', ['1;', '2;', '3;', '4;'], { kind: 'pick', chosenIndex: i });
  judge(store, 'def f():\n    ', 'python', ['pass', 'return 1', 'return None'], { kind: 'ranking', order: [1, 2, 0] });
  judge(store, 'let tied = ', 'typescript', ['a;', 'b;'], { kind: 'tie' });
  const run = store.startTrainingRun({ baseModelHash: 'seed' });
  for (let step = 1; step <= 12; step++) store.recordTrainingStep(run, 'train', step, { loss: 0.69 - step * 0.02 });
  store.recordTrainingStep(run, 'eval', 12, { loss: 0.5, 'rewards/accuracies': 0.75 });
  const adapter = store.registerAdapter({ path: join(home, 'adapters', 'v1'), baseModelHash: 'seed', metrics: { [HELD_OUT_PAIRS]: 8 } });
  store.finishTrainingRun(run, 'done', adapter.id);
  const ab: Outcome[] = [1, 1, 0, 1].map((chosenIndex) => ({ kind: 'pick', chosenIndex }));
  ab.push({ kind: 'tie' });
  ab.forEach((outcome, i) => judge(store, `const ab${i} = `, 'typescript', [`base${i};`, `tuned${i};`], outcome, adapter.id));
  const add = store.pairImporter({ source: 'imported', confidence: 1, modelId: 'file' });
  add(Array.from({ length: 60 }, (_, i) => ({ prefix: `const value${i} = `, suffix: '', chosen: `'single ${i}';`, rejected: `"double ${i}";`, language: 'typescript' })));
  store.close();
  // Spread over three days, for the chart: imports two days ago, the judgments yesterday, blind A/B today.
  const db = new Database(database);
  db.prepare("UPDATE pair SET created_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-2 days') WHERE source = 'imported'").run();
  db.prepare("UPDATE pair SET created_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 days') WHERE comparison_id IN (SELECT id FROM comparison WHERE mode = 'compare')").run();
  db.close();
}

describe('the first hour on the bundled default model: stats, the demo notice, README screenshots', () => {
  before(async () => {
    freshHome(home, workspace, shots);
    mkdirSync(readmeScreenshots, { recursive: true });
    seedStore();
    // No prefer.modelPath: the extension samples and trains the model it ships (models/default).
    writeFileSync(
      join(workspace, '.vscode', 'settings.json'),
      JSON.stringify({ 'prefer.databasePath': database, 'prefer.seed': 1234, 'prefer.maxTokens': 24 }),
    );
    writeFileSync(join(workspace, 'greet.ts'), 'export function greet(name: string): string {\n  \n}\n');
    workbench = await openWorkbench(home, workspace);
    page = workbench.page;
  });

  after(() => closeWorkbench(workbench));

  const rowsOf = (frame: Frame, table: string) =>
    frame.locator(`#${table} tbody tr`).evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));

  /** Waits until the view has shown more than `after` updates; returns the count. */
  async function updated(frame: Frame, after: number): Promise<number> {
    for (let i = 0; i < 100; i++) {
      const n = Number((await frame.locator('body').getAttribute('data-updates')) ?? 0);
      if (n > after) return n;
      await page.waitForTimeout(100);
    }
    throw new Error(`the stats view did not update after ${after}`);
  }

  it('Show Stats, opened from the palette by keyboard, shows the known numbers and follows the store', () =>
    screenshotOnFailure('stats-failure', showKnownStats));

  async function showKnownStats(): Promise<void> {
    await runFromPalette('Prefer: Show Stats');
    const stats = await webviewFrame('#chart-pairs');
    let updates = await updated(stats, 0);
    assert.equal(await stats.locator('#totals').textContent(), '76 pairs from 10 comparisons over 70 prompts · 1 adapter');
    assert.deepEqual(await rowsOf(stats, 'by-source'), [['imported', '60'], ['human', '16']]);
    assert.deepEqual(await rowsOf(stats, 'by-outcome'), [['none', '60'], ['pick', '13'], ['ranking', '3']]);
    assert.deepEqual(await rowsOf(stats, 'by-language'), [['typescript', '73'], ['python', '3']]);
    const [run] = await rowsOf(stats, 'runs');
    assert.deepEqual([run![0], run![1], run![3], run![4], run![5]], ['1', 'done', '12', 'v1', '75 % of 8 (95 % interval 41–93 %)']);
    assert.deepEqual(await rowsOf(stats, 'ab'), [['v1', '3', '1', '1', '75 % of 4 (95 % interval 30–95 %)']]);
    assert.equal(await stats.locator('canvas#chart-pairs').getAttribute('data-points'), '3', 'three days of pairs');
    assert.equal(await stats.locator('#db-path').textContent(), database);
    assert.equal(await stats.locator('#reveal').isVisible(), true);

    // Keyboard: Tab reaches Refresh, Enter reads the store again.
    for (let i = 0; i < 10 && (await stats.evaluate(() => document.activeElement?.id)) !== 'refresh'; i++) await page.keyboard.press('Tab');
    assert.equal(await stats.evaluate(() => document.activeElement?.id), 'refresh', 'Refresh is reachable with Tab');
    await page.keyboard.press('Enter');
    updates = await updated(stats, updates);
    // …and Reveal: a browser-hosted editor has no file manager, so the path is said instead.
    for (let i = 0; i < 10 && (await stats.evaluate(() => document.activeElement?.id)) !== 'reveal'; i++) await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.locator('.notification-toast', { hasText: `Prefer: the database is ${database}` }).waitFor({ timeout: 15_000 });

    // Another process writes the store: the view follows without being asked.
    const store = openStore(database);
    store.pairImporter({ source: 'imported', confidence: 1, modelId: 'file' })([{ prefix: 'const late = ', suffix: '', chosen: '1;', rejected: '2;' }]);
    store.close();
    await updated(stats, updates);
    await stats.locator('#totals', { hasText: /^77 pairs/ }).waitFor({ timeout: 10_000 });
  }

  it('the compare panel says the bundled demo model is in use and offers the user their own; Select Model refuses an empty folder and goes back to the default', () =>
    screenshotOnFailure('demo-notice-failure', demoNotice));

  async function demoNotice(): Promise<void> {
    await quickOpen('greet.ts');
    await page.locator('.monaco-editor .view-line').nth(1).click();
    await page.keyboard.press('End');
    await runFromPalette('Prefer: Compare Completions');
    const panel = await webviewFrame('#candidates');
    await panel.locator('body[data-round="1"] vscode-button.pick:not([disabled])').first().waitFor({ timeout: 60_000 });
    const notice = panel.locator('#demo-notice');
    assert.equal(await notice.isVisible(), true, 'the notice is shown');
    assert.match((await notice.textContent()) ?? '', /Demo model:.*tiny model bundled with Prefer/s);
    assert.equal(await panel.locator('.candidate').count(), 4);
    await page.keyboard.press('2');
    await panel.locator('.candidate.selected').waitFor();
    await clearNotifications();
    await page.screenshot({ path: join(readmeScreenshots, 'compare-panel.png') });
    await page.keyboard.press('Enter');
    await panel.locator('#status[data-saved]').waitFor({ timeout: 15_000 });

    await panel.locator('#use-own-model').click();
    await page.locator('.quick-input-widget', { hasText: 'Prefer: choose a model' }).waitFor({ timeout: 15_000 });
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Use the bundled default' }).waitFor();

    // Select Model checks a folder before taking it: an empty one is refused with its reason, the model unchanged.
    const empty = join(home, 'empty-model');
    mkdirSync(empty, { recursive: true });
    await page.keyboard.type('Browse for a checkpoint');
    await page.locator('.quick-input-list .monaco-list-row.focused', { hasText: 'Browse for a checkpoint folder' }).waitFor();
    await page.keyboard.press('Enter');
    await page.locator('.quick-input-widget', { hasText: 'Use this model' }).waitFor({ timeout: 15_000 });
    // the dialog fills in its starting folder once it has read it: type the path again until it stays
    const path = page.locator('.quick-input-widget input');
    for (let attempt = 0; attempt < 20 && (await path.inputValue()) !== `${empty}/`; attempt++) {
      await path.fill(`${empty}/`);
      await page.waitForTimeout(500);
    }
    assert.equal(await path.inputValue(), `${empty}/`);
    const refused = page.locator('.notification-toast', { hasText: 'The model is unchanged' });
    // the simple file dialog may first open the typed folder, then take it
    for (let i = 0; i < 3 && !(await refused.isVisible()); i++) {
      await page.keyboard.press('Enter');
      await refused.waitFor({ timeout: 5000 }).catch(() => undefined);
    }
    assert.match((await refused.textContent()) ?? '', /empty-model/);
    assert.equal(await page.locator('.statusbar-item', { hasText: 'demo model' }).count(), 1, 'still the demo model');

    // and the way back is one pick away
    await clearNotifications();
    await runFromPalette('Prefer: Select Model');
    await page.locator('.quick-input-widget', { hasText: 'Prefer: choose a model' }).waitFor({ timeout: 15_000 });
    await page.keyboard.type('Use the bundled default');
    await page.locator('.quick-input-list .monaco-list-row.focused', { hasText: 'Use the bundled default' }).waitFor();
    await page.keyboard.press('Enter');
    await page.locator('.notification-toast', { hasText: 'Prefer: using the bundled demo model.' }).waitFor({ timeout: 15_000 });
    await page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
    await page.locator('.monaco-editor .view-line').nth(1).click(); // the palette opens from the editor again
  }

  async function clearNotifications(): Promise<void> {
    if ((await page.locator('.notification-toast').count()) === 0) return;
    await runFromPalette('Notifications: Clear All Notifications');
    await page.locator('.notification-toast').first().waitFor({ state: 'detached', timeout: 5000 });
    await page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
  }

  it('a round on the default model: the training dashboard, then the stats view with the new run', () =>
    screenshotOnFailure('first-round-failure', firstRound));

  async function firstRound(): Promise<void> {
    await runFromPalette('Prefer: Train DPO Round');
    const row = page.locator('.quick-input-list .monaco-list-row', { hasText: 'Train with defaults' }).first();
    await row.waitFor({ timeout: 15_000 });
    await row.click();
    const dashboard = await webviewFrame('canvas#chart-loss');
    await dashboard.locator('body[data-finished="done"]').waitFor({ timeout: 300_000 });
    assert.match((await dashboard.locator('#status').textContent()) ?? '', /^Done: adapter v2 after \d+ steps/);
    await clearNotifications();
    await page.screenshot({ path: join(readmeScreenshots, 'training-dashboard.png') });

    // The round changed the store: the stats view, brought forward, already lists it above the seeded one.
    await page.locator('.tab', { hasText: 'Prefer: Stats' }).click();
    const stats = await webviewFrame('#chart-pairs');
    await stats.locator('#runs tbody tr:nth-child(2)').waitFor({ timeout: 15_000 });
    const [newest] = await rowsOf(stats, 'runs');
    assert.deepEqual([newest![0], newest![1], newest![4]], ['2', 'done', 'v2']);
    assert.match(newest![5] ?? '', /^\d+ % of \d+ \(95 % interval \d+–\d+ %\)$/);
    await clearNotifications();
    await runFromPalette('View: Toggle Maximize Editor Group'); // the whole view, at the width of the window
    await page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
    await stats.locator('#db-path').waitFor({ state: 'visible' });
    await page.mouse.move(700, 880); // no tab tooltip in the picture
    await page.waitForTimeout(500); // the chart resizes itself to its new width
    await page.screenshot({ path: join(readmeScreenshots, 'stats-view.png') });
  }
});
