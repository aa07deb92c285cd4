// Builds the bundles (extension host, engine worker, webview, CLI) and, unless --production, the in-host test suite.
import { readFileSync } from 'node:fs';
import * as esbuild from 'esbuild';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

/**
 * The bundles hold all their JavaScript, the packages' too; what those load at run time stays in node_modules and
 * is all the VSIX ships from there (.vscodeignore): better-sqlite3's addon (handed to it by src/store/storeFile.ts),
 * onnxruntime-node's addon with the libonnxruntime it links, TypeScript's lib.*.d.ts (src/label/typescriptProgram.ts).
 */
const external = ['vscode'];

/**
 * onnxruntime-node requires its addon by a path relative to its own dist/ folder, which a bundle does not have:
 * the require is pointed at the installed package, found from the bundle as Node finds packages.
 */
const onnxruntimeAddon = {
  name: 'onnxruntime-addon',
  setup(build) {
    build.onLoad({ filter: /[\\/]onnxruntime-node[\\/]dist[\\/]binding\.js$/ }, ({ path }) => {
      const source = readFileSync(path, 'utf8');
      const relative = '`../bin/napi-v6/${process.platform}/${process.arch}/onnxruntime_binding.node`';
      if (!source.includes(relative))
        throw new Error(`${path}: its addon's require changed; update scripts/build.mjs`);
      const installed =
        "require('node:path').join(require('node:path').dirname(require('node:module').createRequire(__filename)" +
        ".resolve('onnxruntime-node/package.json')), 'bin', 'napi-v6', process.platform, process.arch, " +
        "'onnxruntime_binding.node')";
      return { contents: source.replace(relative, installed), loader: 'js' };
    });
  },
};

const node = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node22',
  external,
  plugins: [onnxruntimeAddon],
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
    entryPoints: { compare: 'webview/compare/main.ts', dashboard: 'webview/dashboard/main.ts', stats: 'webview/stats/main.ts' },
    outdir: 'dist/webview',
    sourcemap: !production,
    minify: production,
    logLevel: 'warning',
  },
];
if (!production) {
  builds.push({
    ...node,
    // The suite runs from the repository, and its helpers open better-sqlite3 themselves: the packages load whole.
    external: [...external, 'better-sqlite3', 'onnxruntime-node', 'typescript', 'mocha'],
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
