import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { PreferApi } from '../../../src/extension/extension.ts';
import type { ModelChoice } from '../../../src/extension/model.ts';
import { activate, databasePath, extensionId } from './helpers.ts';

const modelPath = () => vscode.workspace.getConfiguration('prefer').get<string>('modelPath', '');

/** The status bar refreshes on the configuration event, which may come after the update resolves. */
async function statusBarShows(api: PreferApi, pattern: RegExp): Promise<void> {
  for (let i = 0; i < 50 && !pattern.test(api.statusBar.text); i++) await new Promise((r) => setTimeout(r, 100));
  assert.match(api.statusBar.text, pattern);
}

suite('Select Model', () => {
  test('refuses an empty folder with the reason and leaves the model setting as it was', async () => {
    await activate();
    const before = modelPath();
    assert.ok(before, 'the trusted workspace configures the fixture model');
    const empty = join(databasePath(), '..', 'empty-model');
    mkdirSync(empty, { recursive: true });
    const result = (await vscode.commands.executeCommand('prefer.selectModel', { path: empty })) as ModelChoice;
    assert.equal(result.accepted, false);
    assert.match(
      !result.accepted ? result.reason : '',
      /empty-model is empty: choose a folder with config\.json, \*\.safetensors and tokenizer\.json, or a \.gguf file/,
    );
    assert.equal(modelPath(), before, 'the setting is unchanged');
  });

  test('"Use the bundled default" clears the setting, the status bar says the demo model is in use and the adapter of another base is not applied; choosing the model again restores it', async () => {
    const api = vscode.extensions.getExtension<PreferApi>(extensionId)!.exports;
    const fixture = modelPath();
    const active = api.store.get().activeAdapter();
    assert.ok(active, 'the training suites leave an adapter trained on the fixture model active');
    await statusBarShows(api, new RegExp(`^\\$\\(checklist\\) model · adapter v${active.version} · `));

    const reset = (await vscode.commands.executeCommand('prefer.selectModel', { bundled: true })) as ModelChoice;
    assert.deepEqual(reset, { accepted: true, modelPath: '' });
    assert.equal(modelPath(), '', 'no model configured: the bundled default applies');
    await statusBarShows(api, new RegExp(`demo model · adapter v${active.version} not applied · `));
    assert.match(api.statusBar.tooltip, /the small demo model bundled with Prefer/);
    assert.match(api.statusBar.tooltip, new RegExp(`adapter v${active.version} was trained on .*model, not on .*models/default`));

    const restored = (await vscode.commands.executeCommand('prefer.selectModel', { path: fixture })) as ModelChoice;
    assert.deepEqual(restored, { accepted: true, modelPath: fixture });
    assert.equal(modelPath(), fixture);
    await statusBarShows(api, new RegExp(`^\\$\\(checklist\\) model · adapter v${active.version} · `));
  });
});
