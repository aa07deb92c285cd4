import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ESLint } from 'eslint';

const root = join(import.meta.dirname, '..', '..', '..');
const eslint = new ESLint({ cwd: root });

/** The no-restricted-imports messages for a file at `filePath` that imports `from` and exports it again. */
async function restrictedImports(filePath: string, from: string): Promise<string[]> {
  const code = `import * as m from '${from}';\nexport const x = m;\n`;
  const [result] = await eslint.lintText(code, { filePath: join(root, filePath) });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('store lint rule', () => {
  for (const file of ['src/io/leak.ts', 'src/label/leak.ts', 'src/extension/leak.ts', 'test/unit/io/leak.test.ts', 'bench/leak.ts']) {
    it(`rejects importing better-sqlite3 from ${file}`, async () => {
      const errors = await restrictedImports(file, 'better-sqlite3');
      assert.equal(errors.length, 1);
      assert.match(errors[0]!, /Only src\/store\/ may use the database/);
    });
  }

  for (const [file, from] of [
    ['src/io/leak.ts', '../store/pairs.ts'],
    ['src/extension/train/leak.ts', '../../store/connection.ts'],
    ['src/label/leak.ts', '../store/writeTransaction.ts'],
    ['test/unit/dpo/leak.test.ts', '../../../src/store/training.ts'],
  ] as const) {
    it(`rejects importing store internals (${from}) from ${file}`, async () => {
      const errors = await restrictedImports(file, from);
      assert.equal(errors.length, 1);
      assert.match(errors[0]!, /use the store through its entry, src\/store\/store\.ts/);
    });
  }

  it('allows the store entry outside src/store/', async () => {
    assert.deepEqual(await restrictedImports('src/io/ok.ts', '../store/store.ts'), []);
    assert.deepEqual(await restrictedImports('src/extension/ok.ts', '../store/store.ts'), []);
    assert.deepEqual(await restrictedImports('test/unit/io/ok.test.ts', '../../../src/store/store.ts'), []);
  });

  it('allows the database and the internals inside src/store/ and its tests', async () => {
    assert.deepEqual(await restrictedImports('src/store/ok.ts', 'better-sqlite3'), []);
    assert.deepEqual(await restrictedImports('src/store/ok.ts', './pairs.ts'), []);
    assert.deepEqual(await restrictedImports('test/unit/store/ok.test.ts', '../../../src/store/connection.ts'), []);
  });

  it('keeps the vscode ban where the store ban also applies', async () => {
    const errors = await restrictedImports('src/io/leak.ts', 'vscode');
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /Only src\/extension\/ may import 'vscode'/);
    assert.equal((await restrictedImports('src/store/leak.ts', 'vscode')).length, 1);
  });
});
