import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ESLint } from 'eslint';

const root = join(import.meta.dirname, '..', '..', '..');
const eslint = new ESLint({ cwd: root });
const importsVscode = "import * as vscode from 'vscode';\nexport const x = vscode.version;\n";

async function layeringErrors(filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(importsVscode, { filePath: join(root, filePath) });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('layering lint rule', () => {
  for (const file of ['src/store/leak.ts', 'src/engine/graph/leak.ts', 'src/cli/leak.ts', 'webview/compare/leak.ts']) {
    it(`rejects importing vscode from ${file}`, async () => {
      const errors = await layeringErrors(file);
      assert.equal(errors.length, 1);
      assert.match(errors[0]!, /Only src\/extension\/ may import 'vscode'/);
    });
  }

  it('allows importing vscode inside src/extension/', async () => {
    assert.deepEqual(await layeringErrors('src/extension/ok.ts'), []);
  });
});
