// End to end: the packaged VSIX installed in code-server, driven through Debian Chromium like a user would.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { Frame, FrameLocator, Page } from 'playwright-core';
import { makeCheckpoint } from '../../scripts/fixtures/make-checkpoints.ts';
import { type Workbench, closeWorkbench, freshHome, openWorkbench, workbenchActions } from '../harness/workbench.ts';
import { repoRoot } from '../harness/codeServer.ts';

const home = join(repoRoot, '.test-output', 'e2e');
const workspace = join(home, 'workspace');
const database = join(home, 'prefer.sqlite');
const shots = join(repoRoot, '.test-output', 'screenshots');

let workbench: Workbench | undefined;
let page: Page;

const { pickInPalette, quickOpen, runFromPalette, screenshotOnFailure, webviewFrame } = workbenchActions(() => page, shots);

function comparePanel(): FrameLocator {
  return page.frameLocator('iframe.webview.ready').frameLocator('iframe#active-frame');
}

describe('Prefer in code-server, through the browser', () => {
  before(async () => {
    freshHome(home, workspace, shots);
    const model = await makeCheckpoint('llama', join(home, 'model'));
    writeFileSync(
      join(workspace, '.vscode', 'settings.json'),
      JSON.stringify({ 'prefer.databasePath': database, 'prefer.modelPath': model, 'prefer.seed': 1234, 'prefer.maxTokens': 12 }),
    );
    writeFileSync(join(workspace, 'greet.ts'), 'export function greet(name: string): string {\n  \n}\n');
    writeFileSync(join(workspace, 'other.ts'), 'export const other = 1;\n');
    workbench = await openWorkbench(home, workspace);
    page = workbench.page;
  });

  after(() => closeWorkbench(workbench));

  async function cursorAtEndOfLine(line: number): Promise<void> {
    await page.locator('.monaco-editor .view-line').nth(line).click();
    await page.keyboard.press('End');
  }

  async function compareAndWait(): Promise<FrameLocator> {
    const before = await page.locator('iframe.webview.ready').count();
    await runFromPalette('Prefer: Compare Completions');
    const panel = comparePanel();
    if (before > 0) await panel.locator('#status:not([data-saved])').waitFor({ timeout: 30_000 });
    await panel.locator('vscode-button.pick:not([disabled])').first().waitFor({ state: 'visible', timeout: 30_000 });
    return panel; // no click: the compare itself puts keyboard focus in the panel
  }

  async function saved(panel: FrameLocator): Promise<string> {
    await panel.locator('#status[data-saved]').waitFor({ timeout: 15_000 });
    return (await panel.locator('#status').textContent()) ?? '';
  }

  it('judges from the palette and the keyboard — pick, rank, tie, edit, insert — into the SQLite file', () =>
    screenshotOnFailure('compare-failure', judgeEverything));

  async function judgeEverything(): Promise<void> {
    const mine = 'return "Hi, " + name;';
    await quickOpen('greet.ts');
    await page.locator('.monaco-editor .view-lines').first().waitFor();

    // 1. Pick with the mouse.
    await cursorAtEndOfLine(1);
    let panel = await compareAndWait();
    const picks = panel.locator('vscode-button.pick');
    assert.equal(await picks.count(), 4, 'four candidates (the default prefer.numCandidates)');
    const pickedText = await panel.locator('.candidate[data-index="1"] pre').textContent();
    await picks.nth(1).click();
    assert.match(await saved(panel), /Saved: 3 preference pairs/);
    await page.screenshot({ path: join(shots, 'compare-panel.png') });

    // 2. Rank all four with the keyboard: R 4 2 1 3 Enter (each round at a new cursor position: a new prompt).
    await cursorAtEndOfLine(0);
    panel = await compareAndWait();
    for (const key of ['r', '4', '2', '1', '3']) await page.keyboard.press(key);
    assert.match((await panel.locator('#status').textContent()) ?? '', /Ranking #4 > #2 > #1 > #3/);
    await page.keyboard.press('Enter');
    assert.match(await saved(panel), /Saved: 6 preference pairs/);

    // 3. Tie.
    await cursorAtEndOfLine(2);
    panel = await compareAndWait();
    await page.keyboard.press('t');
    await page.keyboard.press('Enter');
    assert.match(await saved(panel), /tie recorded/);

    // 4. Write my own answer, confirm with Ctrl+Enter, insert it with I.
    await cursorAtEndOfLine(1);
    panel = await compareAndWait();
    await page.keyboard.press('e');
    await panel.locator('#edit').waitFor({ state: 'visible' });
    await page.keyboard.press('Control+A');
    await page.keyboard.type(mine);
    await page.keyboard.press('Control+Enter');
    assert.match(await saved(panel), /Saved: 4 preference pairs/);
    const beforeInsert = await page.locator('.monaco-editor .view-lines').first().innerText();
    await page.keyboard.press('Escape');
    await page.keyboard.press('i');
    await panel.locator('#status[data-inserted]').waitFor({ timeout: 15_000 });
    await page.locator('.monaco-editor .view-line', { hasText: mine }).first().click();
    // The insert is one undo step: one Ctrl+Z gives back the text before it, Ctrl+Shift+Z the insert.
    await page.keyboard.press('Control+Z');
    await page.locator('.monaco-editor .view-line', { hasText: mine }).first().waitFor({ state: 'detached' });
    assert.equal(await page.locator('.monaco-editor .view-lines').first().innerText(), beforeInsert);
    await page.keyboard.press('Control+Shift+Z');
    await page.locator('.monaco-editor .view-line', { hasText: mine }).first().waitFor();
    await page.keyboard.press('Control+S');
    await page.screenshot({ path: join(shots, 'compare-inserted.png') });

    const db = new Database(database, { readonly: true });
    try {
      const outcomes = db.prepare('SELECT outcome FROM comparison ORDER BY id').all().map((r) => (r as { outcome: string }).outcome);
      assert.deepEqual(outcomes, ['pick', 'ranking', 'tie', 'edited']);
      const pairs = db.prepare(
        `SELECT c.text AS chosen, p.file_path, p.prefix, cmp.outcome FROM pair
         JOIN candidate c ON c.id = pair.chosen_id JOIN prompt p ON p.id = pair.prompt_id
         JOIN comparison cmp ON cmp.id = pair.comparison_id ORDER BY pair.id`,
      ).all() as { chosen: string; file_path: string; prefix: string; outcome: string }[];
      assert.equal(pairs.length, 3 + 6 + 4);
      const picked = pairs.filter((r) => r.outcome === 'pick');
      assert.ok(picked.every((r) => r.chosen === pickedText));
      assert.equal(picked[0]!.file_path, join(workspace, 'greet.ts'));
      assert.equal(picked[0]!.prefix, 'export function greet(name: string): string {\n  ');
      assert.ok(pairs.filter((r) => r.outcome === 'edited').every((r) => r.chosen === mine));
    } finally {
      db.close();
    }
    const expected = `export function greet(name: string): string {\n  ${mine}\n}\n`;
    const file = join(workspace, 'greet.ts');
    for (let i = 0; i < 50 && readFileSync(file, 'utf8') !== expected; i++) await page.waitForTimeout(100);
    assert.equal(readFileSync(file, 'utf8'), expected, 'the inserted answer is saved in greet.ts');
  }

  it('trains a round from the palette: the dashboard charts update while the editor and the extension stay responsive', () =>
    screenshotOnFailure('train-failure', trainFromPalette));

  async function trainFromPalette(): Promise<void> {
    // Enough pairs that the round outlasts the checks below: imported through the palette (TRL JSONL).
    const pairsFile = join(workspace, 'style-pairs.jsonl');
    const lines = Array.from({ length: 1200 }, (_, i) =>
      JSON.stringify({ prompt: `const value${i} = `, chosen: `'single ${i}';`, rejected: `"double ${i}";` }),
    );
    writeFileSync(pairsFile, lines.join('\n') + '\n{"prompt": "broken"\n');
    await runFromPalette('Prefer: Import Pairs');
    // The simple file dialog fills in the workspace folder itself once ready: type the path after that.
    const path = page.locator('.quick-input-widget input');
    await path.waitFor();
    for (let attempt = 0; attempt < 20 && (await path.inputValue()) !== pairsFile; attempt++) {
      await path.fill(pairsFile);
      await page.waitForTimeout(500);
    }
    assert.equal(await path.inputValue(), pairsFile);
    await page.keyboard.press('Enter');
    await page.locator('.notification-toast', { hasText: /imported 1200 pairs \(trl\), 0 already stored; 1 bad lines/ }).first().waitFor({ timeout: 30_000 });

    await runFromPalette('Prefer: Train DPO Round');
    await pickInPalette('Choose data, loss');
    await pickInPalette('All pairs');
    await pickInPalette('sigmoid');
    await page.locator('.quick-input-widget', { hasText: 'Prefer: β' }).waitFor();
    await page.keyboard.press('Enter'); // β 0.1
    await pickInPalette('5');
    const dashboard = await webviewFrame('canvas#chart-loss');
    await dashboard.locator('canvas#chart-loss:not([data-points="0"])').waitFor({ timeout: 60_000 });

    // While it trains: type in the editor, and sample a comparison (extension host + engine worker).
    const compare = await webviewFrame('#candidates');
    const roundBefore = Number(await compare.locator('body').getAttribute('data-round'));
    await page.locator('.monaco-editor .view-line').nth(2).click();
    await page.keyboard.press('End');
    await page.keyboard.type(' // typed while training');
    await runFromPalette('Prefer: Compare Completions');
    await compare.locator(`body[data-round="${roundBefore + 1}"] vscode-button.pick:not([disabled])`).first().waitFor({ timeout: 30_000 });
    const status = () => {
      const db = new Database(database, { readonly: true });
      try {
        return (db.prepare('SELECT status FROM training_run ORDER BY id DESC LIMIT 1').get() as { status: string }).status;
      } finally {
        db.close();
      }
    };
    assert.equal(status(), 'running', 'new candidates were sampled while the round was still training');
    await page.locator('.monaco-editor .view-line', { hasText: '// typed while training' }).first().waitFor();

    await page.locator('.tab', { hasText: 'Prefer: Training' }).click();
    await dashboard.locator('body[data-finished="done"]').waitFor({ timeout: 400_000 });
    const points = Number(await dashboard.locator('canvas#chart-loss').getAttribute('data-points'));
    assert.ok(points >= 5, `the loss chart has its points (${points})`);
    assert.match((await dashboard.locator('#status').textContent()) ?? '', /Done: adapter v1 after \d+ steps/);
    assert.equal(status(), 'done');
    await page.screenshot({ path: join(shots, 'training-dashboard.png') });

    const db = new Database(database, { readonly: true });
    try {
      assert.deepEqual(db.prepare('SELECT version, active FROM adapter').all(), [{ version: 1, active: 1 }]);
      assert.deepEqual(db.prepare("SELECT count(*) AS n FROM pair WHERE source = 'imported'").get(), { n: 1200 });
    } finally {
      db.close();
    }
  }
  it('three compares in a row from the editor shortcut, judged with keys only: the file is untouched, the judgments stored', () =>
    screenshotOnFailure('keyboard-failure', judgeThreeByKeys));

  /** The group that shows `tab` as its active tab. */
  const groupShowing = (tab: string) =>
    page.locator('.editor-group-container', { has: page.locator('.tab.active', { hasText: tab }) });

  /** Ctrl+Alt+P in greet.ts, then waits for the next round's candidates without touching the panel. */
  async function compareFromEditor(line: number): Promise<Frame> {
    const greet = groupShowing('greet.ts');
    await greet.locator('.monaco-editor .view-line').nth(line).click();
    await page.keyboard.press('End');
    const shown = await webviewFrame('#candidates', 0).catch(() => undefined);
    const before = shown ? Number(await shown.locator('body').getAttribute('data-round')) : 0;
    await page.keyboard.press('Control+Alt+P');
    const frame = shown ?? (await webviewFrame('#candidates'));
    await frame.locator(`body[data-round="${before + 1}"] vscode-button.pick:not([disabled])`).first().waitFor({ timeout: 30_000 });
    return frame;
  }

  async function savedIn(frame: Frame): Promise<void> {
    await frame.locator('#status[data-saved]').waitFor({ timeout: 15_000 });
    // Saved: every judging control is off until the next compare.
    for (const control of ['#do-rank', '#do-tie', '#do-both-bad', '#do-skip', '#do-edit', '#do-confirm', 'vscode-button.pick'])
      for (const element of await frame.locator(control).all()) assert.equal(await element.getAttribute('disabled'), '', `${control} is disabled after saving`);
  }

  async function judgeThreeByKeys(): Promise<void> {
    if ((await groupShowing('greet.ts').count()) === 0) await quickOpen('greet.ts');
    const file = join(workspace, 'greet.ts');
    const onDisk = readFileSync(file, 'utf8');
    const shown = await groupShowing('greet.ts').locator('.monaco-editor .view-lines').innerText();
    const storedOutcomes = () => {
      if (!existsSync(database)) return [];
      const db = new Database(database, { readonly: true });
      try {
        return db.prepare('SELECT outcome FROM comparison ORDER BY id').all().map((r) => (r as { outcome: string }).outcome);
      } finally {
        db.close();
      }
    };
    const earlier = storedOutcomes().length;

    // 1. Pick the second candidate: 2 Enter.
    let frame = await compareFromEditor(1);
    await page.keyboard.press('2');
    await page.keyboard.press('Enter');
    await savedIn(frame);

    // 2. Rank all four (the keys that once went into the file): R 3 4 1 2 Enter; badges say 1st, 2nd …
    frame = await compareFromEditor(0);
    for (const key of ['r', '3', '4', '1', '2']) await page.keyboard.press(key);
    assert.match((await frame.locator('#status').textContent()) ?? '', /Ranking #3 > #4 > #1 > #2/);
    assert.equal(await frame.locator('.candidate[data-index="2"] .rank').textContent(), 'ranked 1st');
    assert.equal(await frame.locator('.candidate[data-index="1"] .rank').textContent(), 'ranked 4th');
    await page.keyboard.press('Enter');
    await savedIn(frame);

    // 3. With the panel hidden behind another file in its group: a tie, T Enter.
    await quickOpen('other.ts');
    await page.locator('.editor-group-container', { has: page.locator('.tab', { hasText: 'Prefer: Compare' }) }).locator('.tab.active', { hasText: 'other.ts' }).waitFor();
    frame = await compareFromEditor(2);
    await page.keyboard.press('t');
    await page.keyboard.press('Enter');
    await savedIn(frame);

    assert.deepEqual(storedOutcomes().slice(earlier), ['pick', 'ranking', 'tie']);
    await exportWithDefaults();
    assert.equal(await page.locator('.tab.dirty', { hasText: 'greet.ts' }).count(), 0, 'greet.ts has no unsaved changes');
    assert.equal(await groupShowing('greet.ts').locator('.monaco-editor .view-lines').innerText(), shown, 'the editor shows the same text');
    assert.equal(readFileSync(file, 'utf8'), onDisk);
  }

  /** Export Pairs with every default: the file names neither the files nor the workspace the pairs came from. */
  async function exportWithDefaults(): Promise<void> {
    const target = join(home, 'exported.trl.jsonl');
    await runFromPalette('Prefer: Export Pairs');
    await pickInPalette('TRL (prompt');
    await page.locator('.quick-input-widget', { hasText: 'Prefer: export options' }).waitFor();
    await page.keyboard.press('Enter');
    const path = page.locator('.quick-input-widget input');
    await path.waitFor();
    for (let attempt = 0; attempt < 20 && (await path.inputValue()) !== target; attempt++) {
      await path.fill(target);
      await page.waitForTimeout(500);
    }
    await page.keyboard.press('Enter');
    await page.locator('.notification-toast', { hasText: /exported \d+ pairs to exported\.trl\.jsonl/ }).first().waitFor({ timeout: 30_000 });
    const text = readFileSync(target, 'utf8');
    assert.ok(text.trim().split('\n').length >= 3, 'the pairs are exported');
    assert.ok(!text.includes('greet.ts') && !text.includes(workspace) && !text.includes('file_path'), 'private by default');
  }
});
