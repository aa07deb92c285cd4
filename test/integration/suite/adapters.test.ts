import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { PreferApi } from '../../../src/extension/extension.ts';
import { databasePath, extensionId, query } from './helpers.ts';

suite('Adapters view', () => {
  test('lists the versions, exports, rolls back, activates and deletes', async () => {
    const api = vscode.extensions.getExtension<PreferApi>(extensionId)!.exports;
    const items = api.adapters.getChildren();
    const v1 = items.find((i) => i.label === 'v1');
    assert.ok(v1?.adapter, `the trained adapter is listed (${items.map((i) => i.label)})`);
    assert.match(String(v1.description), /active · held-out acc \d\.\d\d/);
    assert.equal(items.at(-1)!.label, 'Base model');
    const id = v1.adapter.id;

    const target = join(databasePath(), '..', 'exported-v1');
    await vscode.commands.executeCommand('prefer.adapters.export', { id, target });
    assert.ok(
      existsSync(join(target, 'adapter_config.json')) &&
        existsSync(join(target, 'adapter_model.safetensors')),
    );

    // llama.cpp's LoRA GGUF, and a folder Ollama builds a model from
    const gguf = join(databasePath(), '..', 'exported-v1.gguf');
    await vscode.commands.executeCommand('prefer.adapters.export', { id, target: gguf, format: 'gguf' });
    assert.equal(readFileSync(gguf).subarray(0, 4).toString('latin1'), 'GGUF');
    const ollama = join(databasePath(), '..', 'exported-v1-ollama');
    await vscode.commands.executeCommand('prefer.adapters.export', { id, target: ollama, format: 'ollama' });
    assert.match(readFileSync(join(ollama, 'Modelfile'), 'utf8'), /^ADAPTER \.\/adapter\.gguf$/m);

    await vscode.commands.executeCommand('prefer.adapters.rollBack');
    assert.deepEqual(query('SELECT id FROM adapter WHERE active = 1'), [], 'rolled back to the base model');
    assert.equal(api.adapters.getChildren().at(-1)!.description, 'active');

    await vscode.commands.executeCommand('prefer.adapters.activate', { id });
    assert.deepEqual(query('SELECT id FROM adapter WHERE active = 1'), [{ id }]);

    await vscode.commands.executeCommand('prefer.adapters.delete', { id, confirmed: true });
    assert.equal(existsSync(v1.adapter.path), false, 'its files are gone');
    assert.deepEqual(
      query('SELECT active, deleted_at IS NOT NULL AS deleted FROM adapter WHERE id = ?', id),
      [{ active: 0, deleted: 1 }],
    );
    assert.deepEqual(
      api.adapters.getChildren().map((i) => i.label),
      ['Base model'],
    );
  });
});
