// End to end, the first round as a new user meets it: a round on a handful of pairs says its metrics are
// unreliable and gives held-out accuracy with its n; a blind A/B then labels every card and gives the win-rate
// with n, ties and an interval. The packaged VSIX in code-server, driven through Debian Chromium.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { makeCheckpoint } from '../../scripts/fixtures/make-checkpoints.ts';
import { type Workbench, closeWorkbench, freshHome, openWorkbench, workbenchActions } from '../harness/workbench.ts';
import { repoRoot } from '../harness/codeServer.ts';

const home = join(repoRoot, '.test-output', 'e2e-feedback');
const workspace = join(home, 'workspace');
const database = join(home, 'prefer.sqlite');
const shots = join(repoRoot, '.test-output', 'screenshots');

let workbench: Workbench | undefined;
let page: Page;

const { pickInPalette, quickOpen, runFromPalette, screenshotOnFailure, webviewFrame } = workbenchActions(() => page, shots);

describe('honest feedback on a first round and a blind A/B, through the browser', () => {
  before(async () => {
    freshHome(home, workspace, shots);
    const model = await makeCheckpoint('llama', join(home, 'model'));
    writeFileSync(
      join(workspace, '.vscode', 'settings.json'),
      JSON.stringify({ 'prefer.databasePath': database, 'prefer.modelPath': model, 'prefer.seed': 1234, 'prefer.maxTokens': 12 }),
    );
    writeFileSync(join(workspace, 'greet.ts'), 'export function greet(name: string): string {\n  \n}\n');
    workbench = await openWorkbench(home, workspace);
    page = workbench.page;
  });

  after(() => closeWorkbench(workbench));

  it('a round on 13 pairs warns that its metrics are unreliable and gives held-out accuracy with its n', () =>
    screenshotOnFailure('small-round-failure', trainOnFewPairs));

  async function trainOnFewPairs(): Promise<void> {
    const pairsFile = join(workspace, 'few-pairs.jsonl');
    const lines = Array.from({ length: 13 }, (_, i) =>
      JSON.stringify({ prompt: `const value${i} = `, chosen: `'single ${i}';`, rejected: `"double ${i}";` }),
    );
    writeFileSync(pairsFile, lines.join('\n') + '\n');
    await runFromPalette('Prefer: Import Pairs');
    const path = page.locator('.quick-input-widget input');
    await path.waitFor();
    for (let attempt = 0; attempt < 20 && (await path.inputValue()) !== pairsFile; attempt++) {
      await path.fill(pairsFile);
      await page.waitForTimeout(500);
    }
    await page.keyboard.press('Enter');
    await page.locator('.notification-toast', { hasText: /imported 13 pairs/ }).first().waitFor({ timeout: 30_000 });

    await runFromPalette('Prefer: Train DPO Round');
    await pickInPalette('Train with defaults');
    const dashboard = await webviewFrame('canvas#chart-loss');
    const warning = dashboard.locator('#warning:not([hidden])');
    await warning.waitFor({ timeout: 60_000 });
    assert.match((await warning.textContent()) ?? '', /^Metrics are unreliable: 13 pairs, \d+ held out/);
    await dashboard.locator('body[data-finished]').waitFor({ timeout: 300_000 });
    const done = (await dashboard.locator('#status').textContent()) ?? '';
    assert.match(done, /^Done: adapter v1 after (\d+) steps, held-out accuracy \d+ % of (\d+) \(95 % interval \d+–\d+ %\)\. Metrics are unreliable/);
    assert.doesNotMatch(done, /compile|reference:|step:/, 'no internal phase keys');
    await page.locator('.notification-toast', { hasText: /adapter v1 is now active, held-out accuracy .* of \d+ .*Metrics are unreliable/ }).first().waitFor({ timeout: 15_000 });
    await page.screenshot({ path: join(shots, 'training-few-pairs.png') });
  }

  it('a blind A/B labels every card adapter or base after judging, with the win-rate, its n, ties and interval', () =>
    screenshotOnFailure('blind-ab-failure', blindAb));

  async function blindAb(): Promise<void> {
    await quickOpen('greet.ts');
    await page.locator('.monaco-editor .view-line').nth(1).click();
    await page.keyboard.press('End');

    // 1. Pick the first card with keys alone: 1 Enter.
    await runFromPalette('Blind A/B: Adapter vs Base');
    const panel = await webviewFrame('#candidates');
    await panel.locator('body[data-round="1"] vscode-button.pick:not([disabled])').first().waitFor({ timeout: 60_000 });
    assert.equal(await panel.locator('.candidate[data-source]').count(), 0, 'hidden before judging');
    assert.equal(await panel.locator('#reveal').isHidden(), true);
    await page.keyboard.press('1');
    await page.keyboard.press('Enter');
    await panel.locator('#status[data-saved]').waitFor({ timeout: 15_000 });
    await panel.locator('#reveal:not([hidden])').waitFor();
    const sources = await panel.locator('.candidate').evaluateAll((cards) => cards.map((c) => (c as HTMLElement).dataset.source));
    assert.deepEqual([...sources].sort(), ['adapter', 'adapter', 'base', 'base'], 'every card labelled: two from each model');
    const labels = await panel.locator('.candidate .source').allTextContents();
    assert.deepEqual(labels, sources.map((s) => (s === 'adapter' ? 'adapter' : 'base model')));
    assert.match((await panel.locator('#ab-record').textContent()) ?? '', /^adapter vs base: wins (0|100) % of 1 \(95 % interval \d+–\d+ %\), 0 ties$/);
    assert.equal(await panel.locator('canvas#ab-history').getAttribute('data-points'), '1');
    await page.screenshot({ path: join(shots, 'blind-ab-reveal.png') });

    // 2. A tie: counted as a tie, not as a decided judgment; the labels of the last round are gone until judged.
    await page.locator('.monaco-editor .view-line').nth(0).click();
    await page.keyboard.press('End');
    await runFromPalette('Blind A/B: Adapter vs Base');
    await panel.locator('body[data-round="2"] vscode-button.pick:not([disabled])').first().waitFor({ timeout: 60_000 });
    assert.equal(await panel.locator('.candidate[data-source]').count(), 0);
    await page.keyboard.press('t');
    await page.keyboard.press('Enter');
    await panel.locator('#status[data-saved]').waitFor({ timeout: 15_000 });
    await panel.locator('#reveal:not([hidden])').waitFor();
    assert.equal(await panel.locator('.candidate[data-source]').count(), 4);
    assert.match((await panel.locator('#ab-record').textContent()) ?? '', /of 1 \(95 % interval \d+–\d+ %\), 1 tie$/);
    assert.equal(await panel.locator('canvas#ab-history').getAttribute('data-points'), '1');
  }
});
