// What the end-to-end tests do in the workbench page of code-server, shared by every e2e file.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Frame, Page } from 'playwright-core';
import { launchBrowser } from './browser.ts';
import { type CodeServer, assertBrowserTierCanRun, installVsix, repoRoot, startCodeServer } from './codeServer.ts';

/** The VSIX `npm run package` builds: what every e2e file installs. */
export const vsix = join(repoRoot, 'dist-vsix', 'prefer-linux-x64.vsix');

/**
 * An empty e2e home with the folders the tests write to (`workspace/.vscode`, `shots`); fails loudly where the
 * browser tier cannot run or the VSIX was not built.
 */
export function freshHome(home: string, workspace: string, shots: string): void {
  assertBrowserTierCanRun('end-to-end');
  assert.ok(existsSync(vsix), `the VSIX exists (${vsix}); npm run package builds it`);
  rmSync(home, { recursive: true, force: true });
  mkdirSync(join(workspace, '.vscode'), { recursive: true });
  mkdirSync(shots, { recursive: true });
}

export interface Workbench {
  server: CodeServer;
  browser: BrowserContext;
  page: Page;
}

/** The VSIX installed into `home`, code-server started on `workspace`, and the workbench open in Chromium. */
export async function openWorkbench(home: string, workspace: string): Promise<Workbench> {
  installVsix(home, vsix);
  const server = await startCodeServer({ home, workspace });
  const browser = await launchBrowser(home);
  const page = browser.pages()[0] ?? (await browser.newPage());
  await page.goto(`${server.url}/?folder=${encodeURIComponent(workspace)}`);
  await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 60_000 });
  return { server, browser, page };
}

export async function closeWorkbench(workbench: Workbench | undefined): Promise<void> {
  await workbench?.browser.close();
  await workbench?.server.stop();
}

/**
 * Where the e2e run writes the screenshots README shows: media/screenshots/ when PREFER_UPDATE_SCREENSHOTS=1
 * (to regenerate them), else .test-output/screenshots/ beside every other screenshot.
 */
export const readmeScreenshots =
  process.env.PREFER_UPDATE_SCREENSHOTS === '1'
    ? join(repoRoot, 'media', 'screenshots')
    : join(repoRoot, '.test-output', 'screenshots');

/** Palette, screenshot and webview helpers over the page `current()` returns (the e2e files open it in `before`). */
export function workbenchActions(current: () => Page, shots: string) {
  /** Runs a command from the palette; extension commands appear a few seconds after the workbench. */
  async function runFromPalette(title: string): Promise<void> {
    const page = current();
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

  /** Opens a workspace file with Quick Open (Ctrl+P), in the active editor group. */
  async function quickOpen(name: string): Promise<void> {
    const page = current();
    await page.keyboard.press('Control+P');
    await page.locator('.quick-input-widget input').fill(name);
    await page.locator('.quick-input-list .monaco-list-row', { hasText: name }).first().waitFor();
    await page.keyboard.press('Enter');
  }

  /**
   * Picks the first row of the open quick pick that shows `text` by keyboard, as a person does: the arrow keys
   * move the focus down from the top row to it, then Enter.
   */
  async function pickInPalette(text: string): Promise<void> {
    const page = current();
    await page.locator('.quick-input-list .monaco-list-row', { hasText: text }).first().waitFor({ timeout: 15_000 });
    const focused = page.locator('.quick-input-list .monaco-list-row.focused', { hasText: text });
    for (let moves = 0; moves < 40; moves++) {
      if ((await focused.count()) > 0) {
        await page.keyboard.press('Enter');
        return;
      }
      await page.keyboard.press('ArrowDown');
    }
    throw new Error(`the arrow keys never reached a row showing "${text}"`);
  }

  /** Runs `fn`; on failure, saves a screenshot of the workbench next to the others before rethrowing. */
  async function screenshotOnFailure(name: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (e) {
      await current()
        ?.screenshot({ path: join(shots, `${name}.png`) })
        .catch(() => undefined);
      throw e;
    }
  }

  /** The frame of whichever webview shows `selector` (several panels may be open, some hidden). */
  async function webviewFrame(selector: string, timeout = 30_000): Promise<Frame> {
    const page = current();
    const deadline = Date.now() + timeout;
    for (;;) {
      for (const frame of page.frames()) if ((await frame.locator(selector).count().catch(() => 0)) > 0) return frame;
      if (Date.now() > deadline) throw new Error(`no webview shows ${selector}`);
      await page.waitForTimeout(200);
    }
  }

  return { pickInPalette, quickOpen, runFromPalette, screenshotOnFailure, webviewFrame };
}
