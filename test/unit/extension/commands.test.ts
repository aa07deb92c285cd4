// Every command the extension registers is in the command palette (contributed in package.json), and every
// contributed command does something (is registered). Internal commands, named `prefer._…`, are neither.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const root = join(import.meta.dirname, '..', '..', '..');
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  contributes: {
    commands: { command: string }[];
    keybindings?: { command: string }[];
    menus?: Record<string, { command: string }[]>;
  };
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name));
}

/** The ids passed to registerCommand in src/extension: string literals, or constants declared in the same file. */
function registeredCommands(files: string[]): { ids: Set<string>; unresolved: string[] } {
  const ids = new Set<string>();
  const unresolved: string[] = [];
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/registerCommand\(\s*([^,)]+)/g)) {
      const argument = m[1]!.trim();
      const literal = /^['"`]([^'"`]+)['"`]$/.exec(argument)?.[1];
      const constant = new RegExp(`const ${argument}\\s*=\\s*['"]([^'"]+)['"]`).exec(text)?.[1];
      const id = literal ?? constant;
      if (id) ids.add(id);
      else unresolved.push(`${file}: registerCommand(${argument}`);
    }
  }
  return { ids, unresolved };
}

const isInternal = (id: string) => id.startsWith('prefer._');
const registered = registeredCommands(sources(join(root, 'src', 'extension')));
const contributed = new Set(manifest.contributes.commands.map((c) => c.command));

test('every registerCommand call names its command so this check can read it', () => {
  assert.deepEqual(registered.unresolved, []);
  assert.ok(registered.ids.size >= 10, `found ${registered.ids.size} registered commands`);
});

test('every command the extension registers is contributed in package.json', () => {
  const missing = [...registered.ids].filter((id) => !isInternal(id) && !contributed.has(id));
  assert.deepEqual(missing, [], 'registered but not in contributes.commands (not in the command palette)');
});

test('every contributed command is registered by the extension', () => {
  const missing = [...contributed].filter((id) => !registered.ids.has(id));
  assert.deepEqual(missing, [], 'in contributes.commands but never registered');
});

test('keybindings and menus name only contributed commands', () => {
  const { keybindings = [], menus = {} } = manifest.contributes;
  const named = [...keybindings, ...Object.values(menus).flat()].map((e) => e.command);
  assert.deepEqual(
    named.filter((id) => !contributed.has(id)),
    [],
  );
});
