// Builds the bundles (extension host, engine worker, webview, CLI) and, unless --production, the in-host test suite.
import { readFileSync } from 'node:fs';
import * as esbuild from 'esbuild';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

/**
 * Native and host-provided modules stay outside the bundles and ship in node_modules; so does typescript,
 * whose compiler finds its lib.*.d.ts files next to itself (the labelers type-check with them).
 */
const external = ['vscode', 'better-sqlite3', 'onnxruntime-node', 'typescript'];

const node = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node22',
  external,
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
};

const builds = [
  { ...node, entryPoints: { extension: 'src/extension/extension.ts' }, outdir: 'dist', outExtension: { '.js': '.cjs' } },
  // The engine's worker threads (sampling, training), loaded by path from the extension and the CLI bundles.
  {
    ...node,
    entryPoints: { 'engine-worker': 'src/engine/sample/worker.ts', 'train-worker': 'src/rounds/trainWorker.ts' },
    outdir: 'dist',
    outExtension: { '.js': '.cjs' },
  },
  {
    ...node,
    entryPoints: { cli: 'src/cli/cli.ts' },
    outdir: 'dist',
    outExtension: { '.js': '.cjs' },
    // The Node version check runs first, before the bundle requires better-sqlite3 (which crashes Node 20).
    banner: { js: `#!/usr/bin/env node\n${readFileSync(new URL('require-node.cjs', import.meta.url), 'utf8')}` },
  },
  {
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    entryPoints: { compare: 'webview/compare/main.ts', dashboard: 'webview/dashboard/main.ts' },
    outdir: 'dist/webview',
    sourcemap: !production,
    minify: production,
    logLevel: 'warning',
  },
];
if (!production) {
  builds.push({
    ...node,
    external: [...external, 'mocha'],
    entryPoints: { index: 'test/integration/suite/index.ts' },
    outdir: 'out/test/suite',
    outExtension: { '.js': '.cjs' },
  });
}

if (watch) {
  for (const options of builds) await (await esbuild.context(options)).watch();
  console.log('watching for changes…');
} else {
  const started = Date.now();
  await Promise.all(builds.map((options) => esbuild.build(options)));
  console.log(`built ${builds.length} bundles in ${Date.now() - started} ms${production ? ' (production)' : ''}`);
}
