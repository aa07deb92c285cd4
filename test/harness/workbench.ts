// What the end-to-end tests do in the workbench page of code-server, shared by every e2e file.
import { join } from 'node:path';
import type { Frame, Page } from 'playwright-core';
import { repoRoot } from './codeServer.ts';

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

  return { pickInPalette, runFromPalette, screenshotOnFailure, webviewFrame };
}
