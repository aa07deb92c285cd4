// The compare panel's page in a real browser (Debian Chromium), outside VS Code: the built bundle, the same
// markup and a CSP as strict as the extension's, with acquireVsCodeApi recording what the page posts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { COMPARE_BODY } from '../../webview/compare/markup.ts';
import type { HostMessage } from '../../webview/protocol/compare.ts';
import { launchBrowser } from '../harness/browser.ts';
import { assertBrowserTierCanRun, repoRoot } from '../harness/codeServer.ts';

const nonce = 'test-nonce-0123456789';
const page_ = `<!DOCTYPE html><html><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'self' 'nonce-${nonce}'; script-src 'nonce-${nonce}'">
<link rel="stylesheet" href="/compare.css" nonce="${nonce}"></head><body>${COMPARE_BODY}
<script nonce="${nonce}">
  window.posted = [];
  window.acquireVsCodeApi = () => ({ postMessage: (m) => window.posted.push(JSON.parse(JSON.stringify(m))) });
</script>
<script type="module" nonce="${nonce}" src="/compare.js"></script></body></html>`;

const hostile = [
  '<img src=x onerror="window.pwned = \'img\'">',
  '<script>window.pwned = "script"</script>',
  '</textarea><script>window.pwned = "textarea"</script><textarea>',
  '<a href="javascript:window.pwned = \'link\'" id="evil">click me</a>',
  '\u202Eevil\u202C 𝕦𝕟𝕚𝕔𝕠𝕕𝕖 👩‍👩‍👧 Z̷̢̛a̸l̵g̶o̷ ' + 'ﷺ'.repeat(200) + 'x'.repeat(20_000),
];

let server: Server;
let browser: BrowserContext;
let page: Page;
let origin: string;

async function send(message: HostMessage): Promise<void> {
  await page.evaluate((m) => window.postMessage(m, '*'), message);
}

async function round(texts: string[], language = 'typescript', roundId = 1): Promise<void> {
  await send({
    type: 'round',
    roundId,
    title: 'Completions at test.ts',
    language,
    mode: 'compare',
    candidates: texts.map((text) => ({ text, streaming: false })),
  });
  await page.locator(`body[data-round="${roundId}"] .candidate`).first().waitFor();
}

const posted = () => page.evaluate(() => (window as unknown as { posted: unknown[] }).posted);
const lastPosted = async () => (await posted()).at(-1) as Record<string, unknown>;

describe('compare panel page in Chromium', () => {
  before(async () => {
    assertBrowserTierCanRun('webview');
    const files: Record<string, [string, string]> = {
      '/': ['text/html', page_],
      '/compare.js': ['text/javascript', readFileSync(join(repoRoot, 'dist', 'webview', 'compare.js'), 'utf8')],
      '/compare.css': ['text/css', readFileSync(join(repoRoot, 'media', 'compare.css'), 'utf8')],
    };
    server = createServer((req, res) => {
      const file = files[req.url ?? ''];
      if (!file) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': file[0] }).end(file[1]);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    origin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    browser = await launchBrowser(join(repoRoot, '.test-output'));
  });

  after(async () => {
    await browser?.close();
    server?.close();
  });

  beforeEach(async () => {
    page = await browser.newPage();
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => (window as unknown as { posted: { type: string }[] }).posted.some((m) => m.type === 'ready'));
  });

  for (const language of ['plaintext', 'typescript', 'html']) {
    it(`renders hostile candidates as literal text and runs none of them (${language})`, async () => {
      let dialogs = 0;
      page.on('dialog', (d) => {
        dialogs++;
        void d.dismiss();
      });
      await round(hostile, language);
      for (const [i, text] of hostile.entries()) {
        assert.equal(await page.locator(`.candidate[data-index="${i}"] pre`).textContent(), text, `candidate ${i} verbatim`);
      }
      const injected = '#candidates img, #candidates script, #candidates a, #candidates textarea, #candidates iframe';
      assert.equal(await page.locator(injected).count(), 0);
      await page.locator('.candidate[data-index="3"] pre').click();
      await page.waitForTimeout(300);
      assert.equal(await page.evaluate(() => (window as unknown as { pwned?: string }).pwned), undefined);
      assert.equal(dialogs, 0);
      assert.equal(page.url(), `${origin}/`);
      if (language === 'plaintext') {
        await page.screenshot({ path: join(repoRoot, '.test-output', 'screenshots', 'webview-hostile.png') });
      }
      await page.close();
    });
  }

  it('highlights syntax and marks what differs from the other candidate', async () => {
    await round(["const greeting = 'hello';", 'let greeting = "hello";']);
    const second = page.locator('.candidate[data-index="1"] pre');
    assert.ok((await second.locator('.token.keyword').count()) >= 1, 'keywords are tokens');
    const marked = await second.locator('mark.diff').allTextContents();
    assert.ok(marked.some((t) => t.includes('let')), `"let" is marked as a difference (${marked})`);
    assert.ok(!marked.some((t) => t.includes('greeting')), 'the shared identifier is not marked');
    await page.close();
  });

  it('judges with the keyboard: 1–9 selects, Enter confirms, I inserts', async () => {
    await round(['a()', 'b()', 'c()']);
    await page.keyboard.press('2');
    assert.ok(await page.locator('.candidate[data-index="1"].selected').isVisible());
    await page.keyboard.press('Enter');
    const judged = await lastPosted();
    assert.equal(judged.type, 'judge');
    assert.deepEqual(judged.outcome, { kind: 'pick', chosenIndex: 1 });
    assert.equal(typeof judged.decisionMs, 'number');
    await page.keyboard.press('i');
    assert.deepEqual(await lastPosted(), { type: 'insert', roundId: 1, what: { index: 1 } });
    await page.close();
  });

  it('ranks all with R, undoes with Backspace, and sends the rationale', async () => {
    await round(['a()', 'b()', 'c()']);
    await page.keyboard.press('r');
    for (const key of ['3', '1', 'Backspace', '2']) await page.keyboard.press(key);
    await page.keyboard.press('Enter');
    assert.equal((await lastPosted()).type, 'ready', 'an incomplete ranking is not sent');
    await page.locator('#rationale').click();
    await page.keyboard.type('shorter is better');
    await page.keyboard.press('Escape');
    await page.keyboard.press('1'); // ranks the last one
    await page.keyboard.press('Enter');
    const judged = await lastPosted();
    assert.deepEqual(judged.outcome, { kind: 'ranking', order: [2, 1, 0] });
    assert.equal(judged.rationale, 'shorter is better');
    await page.close();
  });

  it('T, B and S record tie, both bad and skip', async () => {
    for (const [i, [key, kind]] of ([['t', 'tie'], ['b', 'both_bad'], ['s', 'skip']] as const).entries()) {
      await round(['x', 'y'], 'typescript', 7 + i);
      await page.keyboard.press(key);
      await page.keyboard.press('Enter');
      assert.deepEqual((await lastPosted()).outcome, { kind });
    }
    await page.close();
  });

  it('E edits an answer of my own, Ctrl+Enter confirms it', async () => {
    await round(['return 1;', 'return 2;']);
    await page.keyboard.press('2');
    await page.keyboard.press('e');
    const edit = page.locator('#edit');
    await edit.waitFor({ state: 'visible' });
    assert.equal(await edit.evaluate((e) => (e as HTMLElement & { value: string }).value), 'return 2;');
    await page.keyboard.press('Control+A');
    await page.keyboard.type('return 42; // <b>mine</b>');
    await page.keyboard.press('Control+Enter');
    assert.deepEqual((await lastPosted()).outcome, { kind: 'edited', text: 'return 42; // <b>mine</b>' });
    await page.close();
  });

  it('shows streamed text as it arrives and allows judging only when done', async () => {
    await send({
      type: 'round',
      roundId: 3,
      title: 't',
      language: 'typescript',
      mode: 'compare',
      candidates: [
        { text: '', streaming: true },
        { text: '', streaming: true },
      ],
    });
    await page.locator('body[data-round="3"] .candidate.streaming').first().waitFor();
    await send({ type: 'delta', roundId: 3, index: 0, text: 'const <b>' });
    await send({ type: 'delta', roundId: 3, index: 0, text: 'x</b> = 1;' });
    await send({ type: 'delta', roundId: 99, index: 1, text: 'stale round' });
    await page.locator('.candidate[data-index="0"] pre', { hasText: 'x</b> = 1;' }).waitFor();
    await page.keyboard.press('1');
    await page.keyboard.press('Enter');
    assert.equal((await lastPosted()).type, 'ready', 'no judgment while generating');
    await send({ type: 'delta', roundId: 3, index: 1, text: 'let y = 2;' });
    await send({ type: 'done', roundId: 3, index: 0 });
    await send({ type: 'done', roundId: 3, index: 1 });
    await page.locator('.candidate.streaming').first().waitFor({ state: 'detached' });
    assert.equal(await page.locator('.candidate[data-index="0"] pre').textContent(), 'const <b>x</b> = 1;');
    assert.equal(await page.locator('.candidate[data-index="1"] pre').textContent(), 'let y = 2;');
    await page.keyboard.press('1');
    await page.keyboard.press('Enter');
    assert.deepEqual((await lastPosted()).outcome, { kind: 'pick', chosenIndex: 0 });
    await page.close();
  });
});
