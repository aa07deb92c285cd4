// Starts a real code-server (VS Code 1.139 in the browser) for the integration and end-to-end tiers.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export const repoRoot = join(import.meta.dirname, '..', '..');
export const codeServerBin = join(repoRoot, 'tools', 'code-server', 'node_modules', '.bin', 'code-server');
export const chromiumPath = process.env.PREFER_CHROMIUM ?? '/usr/bin/chromium';

/** Throws a one-line reason when this machine cannot run a tier that needs VS Code and a browser. */
export function assertBrowserTierCanRun(tier: string): void {
  const missing: string[] = [];
  if (!existsSync(codeServerBin)) missing.push(`code-server (${codeServerBin}; run scripts/setup.sh)`);
  if (!existsSync(chromiumPath)) missing.push(`Chromium (${chromiumPath}; apt-get install chromium)`);
  if (missing.length) throw new Error(`the ${tier} tier cannot run on this machine: missing ${missing.join(' and ')}`);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface CodeServerOptions {
  /** A scratch folder for this run: user data, extensions, XDG dirs and logs go under it. */
  home: string;
  workspace: string;
  /** Extra `--vscode-option` flags passed through to the VS Code server. */
  vscodeOptions?: string[];
  env?: Record<string, string>;
  /** A fixed port; a free one is picked when absent. */
  port?: number;
  /** Open the folder in restricted mode (workspace trust on, folder not trusted). Default: trust is off. */
  untrusted?: boolean;
}

export interface CodeServer {
  url: string;
  port: number;
  extensionsDir: string;
  userDataDir: string;
  logFile: string;
  stop(): Promise<void>;
}

export function codeServerEnv(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  for (const d of ['config', 'data', 'cache', 'runtime']) mkdirSync(join(home, 'xdg', d), { recursive: true, mode: 0o700 });
  return {
    ...process.env,
    HOME: home,
    XDG_CONFIG_HOME: join(home, 'xdg', 'config'),
    XDG_DATA_HOME: join(home, 'xdg', 'data'),
    XDG_CACHE_HOME: join(home, 'xdg', 'cache'),
    XDG_RUNTIME_DIR: join(home, 'xdg', 'runtime'),
    ...extra,
  };
}

/** Installs a VSIX into the extensions folder that `startCodeServer(home)` uses. */
export function installVsix(home: string, vsix: string): void {
  execFileSync(
    codeServerBin,
    ['--user-data-dir', join(home, 'user-data'), '--extensions-dir', join(home, 'extensions'), '--install-extension', vsix, '--force'],
    { env: codeServerEnv(home), stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 },
  );
}

export async function startCodeServer(options: CodeServerOptions): Promise<CodeServer> {
  const { home, workspace } = options;
  const port = options.port ?? (await freePort());
  const userDataDir = join(home, 'user-data');
  const extensionsDir = join(home, 'extensions');
  mkdirSync(join(userDataDir, 'User'), { recursive: true });
  mkdirSync(extensionsDir, { recursive: true });
  // A quiet workbench: no welcome page, no trust prompt, no telemetry, no update or gallery traffic.
  writeFileSync(
    join(userDataDir, 'User', 'settings.json'),
    JSON.stringify({
      'workbench.startupEditor': 'none',
      'workbench.tips.enabled': false,
      'security.workspace.trust.enabled': options.untrusted === true,
      'security.workspace.trust.startupPrompt': 'never',
      'security.workspace.trust.emptyWindow': false,
      'telemetry.telemetryLevel': 'off',
      'update.mode': 'none',
      'extensions.autoCheckUpdates': false,
      'extensions.autoUpdate': false,
      'workbench.enableExperiments': false,
      'chat.disableAIFeatures': true,
      'git.openRepositoryInParentFolders': 'never',
      'workbench.secondarySideBar.defaultVisibility': 'hidden',
    }),
  );
  const logFile = join(home, 'code-server.log');
  const args = [
    '--auth', 'none',
    '--bind-addr', `127.0.0.1:${port}`,
    '--user-data-dir', userDataDir,
    '--extensions-dir', extensionsDir,
    '--disable-telemetry',
    '--disable-update-check',
    ...(options.untrusted ? [] : ['--disable-workspace-trust']),
    '--disable-getting-started-override',
    ...(options.vscodeOptions ?? []).flatMap((o) => ['--vscode-option', o]),
    workspace,
  ];
  const child: ChildProcess = spawn(codeServerBin, args, {
    env: codeServerEnv(home, options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const { createWriteStream } = await import('node:fs');
  const log = createWriteStream(logFile);
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`code-server exited with ${child.exitCode} before listening; see ${logFile}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`code-server did not listen within 60 s; see ${logFile}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    url,
    port,
    extensionsDir,
    userDataDir,
    logFile,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        return;
      }
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      }, 5000);
      await exited;
      clearTimeout(timer);
      log.end();
    },
  };
}
