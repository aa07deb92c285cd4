// Refuses a Node older than 22 in one line, before anything loads: better-sqlite3 13 crashes on Node 20 (a
// segfault) and Node 20 cannot run the TypeScript sources. Preloaded by the npm scripts (`node -r`) and inlined
// by scripts/build.mjs at the top of dist/cli.cjs. Plain CommonJS in a block, so that any Node can parse it.
{
  const needed = 22;
  if (Number(process.versions.node.split('.')[0]) < needed) {
    process.stderr.write(
      `prefer: found Node ${process.versions.node} (${process.execPath}), needs Node >= ${needed}: run \`source scripts/env.sh\` first (it puts Node 24 on PATH)\n`,
    );
    process.exit(2);
  }
}
