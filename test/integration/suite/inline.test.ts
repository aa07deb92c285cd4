import assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { activate, openSampleAtEndOfLine, query } from './helpers.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

suite('Inline mode', () => {
  suiteSetup(async () => {
    await activate();
    await vscode.workspace
      .getConfiguration('prefer')
      .update('inlineMode', true, vscode.ConfigurationTarget.Workspace);
  });
  suiteTeardown(async () => {
    await vscode.workspace
      .getConfiguration('prefer')
      .update('inlineMode', undefined, vscode.ConfigurationTarget.Workspace);
    await vscode.commands.executeCommand('workbench.action.files.revert');
  });

  test('accepting the second ghost text stores it over the first as an implicit pair', async () => {
    const editor = await openSampleAtEndOfLine(1);
    await vscode.commands.executeCommand('workbench.action.focusActiveEditorGroup');
    const before = editor.document.getText();
    const implicitBefore = Number(query("SELECT count(*) AS n FROM pair WHERE source = 'implicit'")[0]!.n);
    let accepted = false;
    for (let attempt = 0; attempt < 10 && !accepted; attempt++) {
      await vscode.commands.executeCommand('editor.action.inlineSuggest.trigger');
      await sleep(1500);
      await vscode.commands.executeCommand('editor.action.inlineSuggest.showNext');
      await sleep(500);
      await vscode.commands.executeCommand('editor.action.inlineSuggest.commit');
      await sleep(500);
      accepted = editor.document.getText() !== before;
    }
    assert.ok(accepted, 'a ghost text was accepted into the document');
    const implicit = query(
      `SELECT pair.confidence, c.text AS chosen FROM pair JOIN candidate c ON c.id = pair.chosen_id
       WHERE pair.source = 'implicit' ORDER BY pair.id DESC`,
    );
    assert.equal(
      implicit.length,
      implicitBefore + 1,
      'one implicit pair: the accepted one over the one cycled past',
    );
    assert.equal(implicit[0]!.confidence, 0.5);
    const chosen = String(implicit[0]!.chosen);
    const text = editor.document.getText();
    assert.ok(
      text.includes(chosen),
      `the stored choice is the text inserted: ${JSON.stringify(chosen)} in ${JSON.stringify(text)}`,
    );
  });
});
