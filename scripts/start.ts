// Starts code-server with the packaged Prefer VSIX on a sample workspace and keeps it running.
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { installVsix, repoRoot, startCodeServer } from '../test/harness/codeServer.ts';

const home = join(repoRoot, '.cache', 'start');
const workspace = process.env.PREFER_WORKSPACE ?? join(home, 'workspace');
if (!process.env.PREFER_WORKSPACE && !existsSync(workspace)) {
  cpSync(join(repoRoot, 'examples', 'sample-workspace'), workspace, { recursive: true });
}
mkdirSync(home, { recursive: true });
installVsix(home, join(repoRoot, 'dist-vsix', 'prefer-linux-x64.vsix'));
const port = process.env.PORT ? Number(process.env.PORT) : 8080;
const server = await startCodeServer({ home, workspace, port });
console.log(`Prefer is running in VS Code at ${server.url}/?folder=${encodeURIComponent(workspace)}`);
// VS Code's global storage for this extension (publisher.name), unless prefer.databasePath says otherwise
const store = join(home, 'user-data', 'User', 'globalStorage', 'prefer-dev.prefer', 'prefer.sqlite');
console.log(`Preferences are stored in ${store}`);
console.log(`(code-server log: ${server.logFile}). Ctrl+C stops it; PORT=8081 ./scripts/start.sh picks another port.`);
const stop = () => void server.stop().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
