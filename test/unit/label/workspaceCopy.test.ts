import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { testCommandLabeler } from '../../../src/label/command.ts';
import { SkipPrompt } from '../../../src/label/labeler.ts';
import { runLabeler } from '../../../src/label/runLabeler.ts';
import { SKIP, placement, safeSegment, writeInCopy } from '../../../src/label/workspaceCopy.ts';
import { pairsOf, storeWith, tempDir } from './helpers.ts';

const dir = tempDir('label-copy');
let n = 0;
const node = process.execPath;
const cli = join(import.meta.dirname, '../../../src/cli/cli.ts');

/** Every file's hash and every link's target below `root`, by relative path. */
function snapshot(root: string, rel = '', seen = new Map<string, string>()): Map<string, string> {
  for (const name of readdirSync(join(root, rel))) {
    const path = join(rel, name);
    const stat = lstatSync(join(root, path));
    if (stat.isSymbolicLink()) seen.set(path, `link → ${readlinkSync(join(root, path))}`);
    else if (stat.isDirectory()) snapshot(root, path, seen.set(path, 'folder'));
    else
      seen.set(
        path,
        createHash('sha256')
          .update(readFileSync(join(root, path)))
          .digest('hex'),
      );
  }
  return seen;
}

/**
 * A workspace whose links lead (a) to a file in it, relatively; (b) to a file outside it, absolutely;
 * (c) to folders inside and outside it, to itself and to the folder holding it; with node_modules beside them.
 */
function linkedWorkspace(): { root: string; outside: string } {
  const base = join(dir, `case${n++}`);
  const root = join(base, 'ws');
  const outside = join(base, 'outside');
  mkdirSync(join(root, 'src'), { recursive: true });
  mkdirSync(join(root, 'node_modules', 'dep'), { recursive: true });
  mkdirSync(join(outside, 'data'), { recursive: true });
  writeFileSync(join(root, 'src', 'add.js'), 'module.exports = 0;\n');
  writeFileSync(join(root, 'node_modules', 'dep', 'index.js'), 'module.exports = 2;\n');
  writeFileSync(join(outside, 'secret.js'), 'module.exports = "secret";\n');
  writeFileSync(join(outside, 'data', 'x.js'), 'module.exports = "x";\n');
  symlinkSync('add.js', join(root, 'src', 'alias.js'));
  symlinkSync(join(outside, 'secret.js'), join(root, 'secret.js'));
  symlinkSync('src', join(root, 'lib'), 'dir');
  symlinkSync(join(outside, 'data'), join(root, 'ext'), 'dir');
  symlinkSync('.', join(root, 'loop'), 'dir');
  symlinkSync('..', join(root, 'up'), 'dir');
  return { root, outside };
}

/**
 * Appends to every file it can reach from the copy, following links (but not into node_modules), then passes
 * when the completed document reads "good": whatever leads out of the copy would change a real file.
 */
const TAMPER = `
const fs = require('fs'), path = require('path');
const walk = (d, depth) => { if (depth > 4) return; for (const e of fs.readdirSync(d)) {
  if (e === 'node_modules') continue; const p = path.join(d, e); const s = fs.statSync(p);
  if (s.isDirectory()) walk(p, depth + 1); else if (s.isFile() && p !== process.argv[1]) fs.appendFileSync(p, '// tampered');
} };
const ok = fs.readFileSync(process.argv[1], 'utf8').includes('good');
walk(process.cwd(), 0);
process.exit(ok ? 0 : 1);`;

describe('the temporary copy of a workspace with links', () => {
  it('changes no real file, whether the document or a folder on its way is a link, and skips node_modules', async () => {
    const { root, outside } = linkedWorkspace();
    const before = [snapshot(root), snapshot(outside)];
    const prompt = (file: string) => ({
      prompt: {
        language: 'javascript',
        filePath: join(root, file),
        prefix: 'module.exports = ',
        suffix: ';\n',
      },
      texts: ['"good"', '"bad"'],
    });
    const store = storeWith(join(dir, `s${n++}.sqlite`), [
      prompt('src/alias.js'), // (d) a relative link to a file of the workspace
      prompt('secret.js'), // (d) an absolute link to a file outside it
      prompt('lib/add.js'), // (c) through a linked folder inside
      prompt('ext/x.js'), // (c) through a linked folder outside
      prompt('loop/src/add.js'), // through a link to the workspace itself
      prompt('node_modules/dep/index.js'), // the linked dependency folder: never written
    ]);
    const labeler = testCommandLabeler({
      command: [node, '-e', TAMPER, '{file}'],
      trusted: true,
      workspaceRoot: root,
    });
    const result = await runLabeler(store, labeler);
    assert.deepEqual([snapshot(root), snapshot(outside)], before, 'every real file and link is as it was');
    assert.equal(result.prompts, 5);
    assert.equal(result.pairsAdded, 5, 'the command saw each completion in the copy');
    assert.deepEqual(
      result.skipped.map((s) => s.reason),
      [SKIP.leavesCopy],
    );
    assert.equal(result.skipped[0]!.filePath, join(root, 'node_modules/dep/index.js'));
    assert.deepEqual(pairsOf(store, 'test')[0], ['"good"', '"bad"']);
    store.close();
  });

  it('refuses to write or make a folder through a link that leads out of the copy', () => {
    const copy = join(dir, `copy${n++}`);
    const outside = join(dir, `out${n++}`);
    mkdirSync(copy);
    mkdirSync(outside);
    symlinkSync(outside, join(copy, 'out'), 'dir');
    symlinkSync(join(outside, 'file.js'), join(copy, 'dangling.js'));
    for (const rel of ['out/x.js', 'out/new/deeper/x.js', 'dangling.js']) {
      assert.throws(
        () => writeInCopy(copy, rel, 'text'),
        (e) => e instanceof SkipPrompt && e.message === SKIP.leavesCopy,
        rel,
      );
    }
    assert.deepEqual(readdirSync(outside), [], 'nothing was created outside the copy');
    assert.equal(readFileSync(writeInCopy(copy, 'in/side.js', 'text'), 'utf8'), 'text');
  });
});

describe('where the document goes in the copy', () => {
  const root = join(dir, 'placement');
  mkdirSync(join(root, 'src'), { recursive: true });
  writeFileSync(join(root, 'src', 'my file.ts'), '');
  const skipped = (filePath: string, workspace: string | undefined, reason: string) =>
    assert.throws(
      () => placement(filePath, workspace),
      (e) => e instanceof SkipPrompt && e.message === reason,
      filePath,
    );

  it('makes every segment safe on a command line, keeping the extension', () => {
    assert.equal(safeSegment('-rf $(touch x) `y`;.ts'), '_rf___touch_x___y__.ts');
    assert.equal(safeSegment('ok-name_1.tsx'), 'ok-name_1.tsx');
    assert.equal(safeSegment('é.py'), '_.py');
    assert.equal(safeSegment(`${'a'.repeat(300)}.rs`).length, 120);
    assert.match(safeSegment(`${'a'.repeat(300)}.rs`), /\.rs$/);
    assert.deepEqual(placement('/anywhere/$(touch x).js', undefined), { relative: '__touch_x_.js' });
    assert.deepEqual(placement(null, root), { relative: 'completion.txt' });
  });

  it('keeps a path inside the workspace, relative or absolute, and renames a new file with an unsafe name', () => {
    assert.deepEqual(placement(join(root, 'src/a.ts'), root), { relative: 'src/a.ts', workspaceRoot: root });
    assert.deepEqual(placement('src/a.ts', root), { relative: 'src/a.ts', workspaceRoot: root });
    assert.deepEqual(placement(join(root, 'src/$(x).ts'), root), {
      relative: 'src/__x_.ts',
      workspaceRoot: root,
    });
  });

  it('skips a path that climbs, leaves the workspace, names no file, or renames a file the project has', () => {
    skipped('/x/..', undefined, SKIP.climbs);
    skipped('../escape.js', root, SKIP.climbs);
    skipped(`${root}/../escape.js`, root, SKIP.climbs);
    skipped('/etc/passwd', root, SKIP.outside);
    skipped(`${root}-sibling/a.js`, root, SKIP.outside);
    skipped(root, root, SKIP.noFile);
    skipped('/', undefined, SKIP.noFile);
    skipped('/x/.', undefined, SKIP.noFile);
    skipped(join(root, 'src/my file.ts'), root, SKIP.unsafeName);
    assert.ok(!existsSync(join(root, 'src/my_file.ts')));
  });
});

describe('a run with unusable file paths', () => {
  it('skips each with its reason, runs nothing they hold, and goes on with the rest', async () => {
    const root = join(dir, `paths${n++}`);
    mkdirSync(join(root, 'src'), { recursive: true });
    const marker = join(dir, `PWNED${n++}`);
    const prompt = (filePath: string) => ({
      prompt: { language: 'javascript', filePath, prefix: 'say ' },
      texts: ['good', 'bad'],
    });
    const store = storeWith(join(dir, `s${n++}.sqlite`), [
      prompt(join(root, 'src', '$(touch $PREFER_TEST_MARKER).js')),
      prompt('/x/..'),
      prompt('/elsewhere/a.js'),
      prompt(join(root, 'src')), // a folder: the document cannot be written there
      prompt(join(root, 'src', 'ok.js')),
    ]);
    process.env.PREFER_TEST_MARKER = marker;
    const script = 'grep -q good {file} && test "{dir}/src" = "$(dirname {file})"';
    const result = await runLabeler(
      store,
      testCommandLabeler({ command: ['sh', '-c', script], trusted: true, workspaceRoot: root }),
    );
    assert.deepEqual(
      result.skipped.map((s) => [s.filePath, s.reason]),
      [
        ['/x/..', SKIP.climbs],
        ['/elsewhere/a.js', SKIP.outside],
        [join(root, 'src'), `${SKIP.notAFile} (EISDIR)`],
      ],
    );
    assert.equal(result.prompts, 2);
    assert.equal(result.pairsAdded, 2, 'the unsafe name was labeled under its safe one, and ok.js as it is');
    assert.ok(!existsSync(marker), 'nothing in a file path ran');
    store.close();
  });
});

describe('a workspace that cannot be copied', () => {
  it('stops the run with an error naming the file', () => {
    const root = join(dir, `unreadable${n++}`);
    mkdirSync(root);
    writeFileSync(join(root, 'private.js'), '');
    chmodSync(join(root, 'private.js'), 0o000);
    const db = join(dir, `s${n++}.sqlite`);
    storeWith(db, [{ prompt: { filePath: join(root, 'a.js'), prefix: '' }, texts: ['a', 'b'] }]).close();
    // root reads any file: the run goes as another user, for whom private.js really is unreadable
    const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    for (const path of [dir, root, db]) chmodSync(path, 0o777);
    const r = spawnSync(
      node,
      [cli, 'label', '--db', db, '--labeler', 'test', '--trust', '--workspace', root, '--', node, '-e', '0'],
      { encoding: 'utf8', ...asUser },
    );
    assert.notEqual(r.status, 0, r.stdout);
    assert.match(r.stderr.trim(), /copying the workspace .*: EACCES.*private\.js/);
  });
});
