import { realpathSync } from 'node:fs';
import { dirname } from 'node:path';
import { bundledModelDir } from '../engine/hf/bundledModel.ts';

/** Where this CLI's code lies: dist/ for the bundle, src/cli/ (or the test that imports it) for the sources. */
function codeDir(): string {
  // __dirname only exists inside the CommonJS bundle; the sources run as ES modules
  if (typeof __dirname === 'string') return __dirname;
  try {
    return dirname(realpathSync(process.argv[1] ?? '.'));
  } catch {
    return process.cwd(); // started without a script file (node -e)
  }
}

const bundled = bundledModelDir(codeDir());

/** `--model` of `prefer sample` and `prefer train`: defaults to the model shipped in the package, as in the editor. */
export const MODEL_FLAG: { type: 'string'; default?: string } = bundled
  ? { type: 'string', default: bundled }
  : { type: 'string' };
