// The integration tier: mocha inside code-server's real extension host, with this repository loaded as the
// extension under development. Prints the suite's results and exits non-zero on any failure.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeCheckpoint } from '../../scripts/fixtures/make-checkpoints.ts';
import { launchBrowser } from '../harness/browser.ts';
import { assertBrowserTierCanRun, repoRoot, startCodeServer } from '../harness/codeServer.ts';

const timeoutMs = 5 * 60_000;

interface SuiteResults {
  passed: number;
  failed: number;
  tests: { title: string; state: string; error?: string }[];
}

/** One code-server session running the in-host suite; the suite picks its tests by the workspace's trust. */
async function runSession(
  name: 'trusted' | 'untrusted',
  suite: string,
): Promise<{ code: number; results: SuiteResults }> {
  const home = join(repoRoot, '.test-output', 'integration', name);
  rmSync(home, { recursive: true, force: true });
  const workspace = join(home, 'workspace');
  mkdirSync(join(workspace, '.vscode'), { recursive: true });
  const database = join(home, 'prefer.sqlite');
  const model = await makeCheckpoint('llama', join(home, 'model'));
  writeFileSync(
    join(workspace, '.vscode', 'settings.json'),
    // The untrusted session configures no model: Prefer falls back to the default model it ships.
    JSON.stringify({
      'prefer.databasePath': database,
      ...(name === 'trusted' ? { 'prefer.modelPath': model } : {}),
      'prefer.seed': 1234,
      'prefer.maxTokens': 12,
    }),
  );
  writeFileSync(
    join(workspace, 'sample.ts'),
    'export function greet(name: string): string {\n  return \n}\n',
  );
  const resultsFile = join(workspace, '.prefer-test-results.json');

  const server = await startCodeServer({
    home,
    workspace,
    vscodeOptions: ['enable-smoke-test-driver'],
    untrusted: name === 'untrusted',
  });
  const browser = await launchBrowser(home);
  const hostLog: string[] = [];
  try {
    const page = browser.pages()[0] ?? (await browser.newPage());
    page.on('console', (m) => hostLog.push(m.text()));
    let resolveExit: (code: number) => void = () => {};
    const exited = new Promise<number>((r) => (resolveExit = r));
    await page.exposeFunction('codeAutomationExit', (code: number) => resolveExit(code));
    const remote = (path: string) => `vscode-remote://127.0.0.1:${server.port}${path}`;
    const payload = JSON.stringify([
      ['extensionDevelopmentPath', remote(repoRoot)],
      ['extensionTestsPath', remote(suite)],
    ]);
    await page.goto(
      `${server.url}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(payload)}`,
    );
    const code = await Promise.race([
      exited,
      new Promise<number>((_, reject) =>
        setTimeout(
          () => reject(new Error(`the in-host suite did not finish within ${timeoutMs / 1000} s`)),
          timeoutMs,
        ),
      ),
    ]);
    if (!existsSync(resultsFile)) {
      throw new Error(
        `the ${name} in-host suite exited ${code} without writing results; host console:\n${hostLog.slice(-40).join('\n')}`,
      );
    }
    return { code, results: JSON.parse(readFileSync(resultsFile, 'utf8')) as SuiteResults };
  } finally {
    await browser.close();
    await server.stop();
  }
}

async function main(): Promise<number> {
  assertBrowserTierCanRun('integration');
  const suite = join(repoRoot, 'out', 'test', 'suite', 'index.cjs');
  if (!existsSync(suite) || !existsSync(join(repoRoot, 'dist', 'extension.cjs'))) {
    throw new Error('the integration tier needs a build first: npm run build');
  }
  const total: SuiteResults = { passed: 0, failed: 0, tests: [] };
  let ok = true;
  for (const name of ['trusted', 'untrusted'] as const) {
    const { code, results } = await runSession(name, suite);
    for (const t of results.tests) {
      console.log(`${t.state === 'passed' ? '✔' : '✖'} [${name}] ${t.title}`);
      if (t.error)
        console.log(
          t.error
            .split('\n')
            .map((l) => `    ${l}`)
            .join('\n'),
        );
    }
    console.log(
      `${name} workspace: ${results.passed} passed, ${results.failed} failed (extension host exit code ${code})`,
    );
    ok &&= results.failed === 0 && code === 0 && results.passed > 0;
    total.passed += results.passed;
    total.failed += results.failed;
    total.tests.push(...results.tests);
  }
  writeFileSync(join(repoRoot, '.test-output', 'integration-counts.json'), JSON.stringify(total));
  console.log(`integration: ${total.passed} passed, ${total.failed} failed`);
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`integration tier failed to run: ${(e as Error).message}`);
    process.exit(1);
  },
);
