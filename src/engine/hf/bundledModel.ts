/**
 * The small default model shipped in the package (models/default): what the editor and the CLI sample from and
 * train when no model is named. Both find it from where their code lies, by walking up to the package root: the
 * bundles sit in dist/, the TypeScript sources in src/<layer>/.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** models/default in the package that holds `from`, or undefined when it is not shipped there. */
export function bundledModelDir(from: string): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    const model = join(dir, 'models', 'default');
    if (existsSync(join(model, 'config.json'))) return model;
    if (existsSync(join(dir, 'package.json')) || dirname(dir) === dir) return undefined;
  }
}
