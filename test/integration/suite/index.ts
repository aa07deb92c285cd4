// Runs inside code-server's extension host: mocha over the suites below, results also written to a file
// because the host's console only reaches the browser.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Mocha from 'mocha';
import * as vscode from 'vscode';

export async function run(): Promise<void> {
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  if (!folder) throw new Error('integration tests need a workspace folder');
  const resultsFile = join(folder, '.prefer-test-results.json');
  const mocha = new Mocha({ ui: 'tdd', timeout: 30_000, color: false, reporter: 'spec' });
  mocha.suite.emit('pre-require', globalThis, 'prefer-integration', mocha);
  // The same suite runs in a trusted and in an untrusted (restricted mode) workspace.
  if (vscode.workspace.isTrusted) {
    await import('./extension.test.ts');
    await import('./labelers.test.ts');
    await import('./inline.test.ts');
    await import('./train.test.ts');
    await import('./adapters.test.ts');
    await import('./resume.test.ts');
    await import('./model.test.ts');
    await import('./feedback.test.ts');
  } else {
    await import('./untrusted.test.ts');
  }

  const results: { title: string; state: string; error?: string }[] = [];
  return new Promise((resolve, reject) => {
    const runner = mocha.run((failures) => {
      const passed = results.filter((r) => r.state === 'passed').length;
      writeFileSync(resultsFile, JSON.stringify({ passed, failed: failures, tests: results }, null, 2));
      if (failures > 0) reject(new Error(`${failures} integration tests failed`));
      else resolve();
    });
    runner.on('pass', (t) => results.push({ title: t.fullTitle(), state: 'passed' }));
    runner.on('fail', (t, err: Error) =>
      results.push({ title: t.fullTitle(), state: 'failed', error: String(err?.stack ?? err) }),
    );
  });
}
