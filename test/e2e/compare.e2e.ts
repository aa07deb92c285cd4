// End to end: the packaged VSIX installed in code-server, driven through Debian Chromium like a user would.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { BrowserContext, FrameLocator, Page } from 'playwright-core';
import { launchBrowser } from '../harness/browser.ts';
import { type CodeServer, assertBrowserTierCanRun, installVsix, repoRoot, startCodeServer } from '../harness/codeServer.ts';

const vsix = join(repoRoot, 'dist-vsix', 'prefer-linux-x64.vsix');
const home = join(repoRoot, '.test-output', 'e2e');
const workspace = join(home, 'workspace');
const database = join(home, 'prefer.sqlite');
const shots = join(repoRoot, '.test-output', 'screenshots');

let server: CodeServer;
let browser: BrowserContext;
let page: Page;

/** Runs a command from the palette; extension commands appear a few seconds after the workbench. */
async function runFromPalette(title: string): Promise<void> {
  for (let attempt = 0; attempt < 15; attempt++) {
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible' });
    await input.fill(`>${title}`);
    const row = page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
    if (await row.isVisible({ timeout: 2000 }).catch(() => false)) {
      await page.keyboard.press('Enter');
      return;
    }
    await page.keyboard.press('Escape');
    await page.waitForTimeout(1000);
  }
  throw new Error(`command "${title}" never appeared in the palette`);
}

function comparePanel(): FrameLocator {
  return page.frameLocator('iframe.webview.ready').frameLocator('iframe#active-frame');
}

describe('Prefer in code-server, through the browser', () => {
  before(async () => {
    assertBrowserTierCanRun('end-to-end');
    assert.ok(existsSync(vsix), `the VSIX exists (${vsix}); npm run package builds it`);
    rmSync(home, { recursive: true, force: true });
    mkdirSync(join(workspace, '.vscode'), { recursive: true });
    mkdirSync(shots, { recursive: true });
    writeFileSync(join(workspace, '.vscode', 'settings.json'), JSON.stringify({ 'prefer.databasePath': database }));
    writeFileSync(join(workspace, 'greet.ts'), 'export function greet(name: string): string {\n  \n}\n');
    installVsix(home, vsix);
    server = await startCodeServer({ home, workspace });
    browser = await launchBrowser(home);
    page = browser.pages()[0] ?? (await browser.newPage());
    await page.goto(`${server.url}/?folder=${encodeURIComponent(workspace)}`);
    await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 60_000 });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('Compare Completions from the palette, Pick in the webview, row in the SQLite file', async () => {
    // Open greet.ts with Quick Open and put the cursor inside the function body.
    await page.keyboard.press('Control+P');
    await page.locator('.quick-input-widget input').fill('greet.ts');
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'greet.ts' }).first().waitFor();
    await page.keyboard.press('Enter');
    await page.locator('.monaco-editor .view-lines').first().waitFor();
    await page.locator('.monaco-editor .view-line').nth(1).click();
    await page.keyboard.press('End');

    await runFromPalette('Prefer: Compare Completions');
    const panel = comparePanel();
    const picks = panel.locator('vscode-button.pick');
    await picks.first().waitFor({ state: 'visible', timeout: 30_000 });
    assert.equal(await picks.count(), 4, 'four candidates (the default prefer.numCandidates)');
    const chosenText = await panel.locator('.candidate[data-index="1"] pre').textContent();
    await picks.nth(1).click();
    await panel.locator('#status[data-saved]').waitFor({ timeout: 15_000 });
    assert.match((await panel.locator('#status').textContent()) ?? '', /Saved: 3 preference pairs/);
    await page.screenshot({ path: join(shots, 'compare-panel.png') });

    const db = new Database(database, { readonly: true });
    try {
      const rows = db
        .prepare(
          `SELECT c.text AS chosen, p.file_path, p.prefix FROM pair
           JOIN candidate c ON c.id = pair.chosen_id JOIN prompt p ON p.id = pair.prompt_id`,
        )
        .all() as { chosen: string; file_path: string; prefix: string }[];
      assert.equal(rows.length, 3);
      assert.ok(rows.every((r) => r.chosen === chosenText));
      assert.equal(rows[0]!.file_path, join(workspace, 'greet.ts'));
      assert.equal(rows[0]!.prefix, 'export function greet(name: string): string {\n  ');
    } finally {
      db.close();
    }
  });
});
