/**
 * The bundles (dist/*.cjs) inline the JavaScript of better-sqlite3, onnxruntime-node and typescript, but not the
 * files those load at run time (native addons, TypeScript's lib.*.d.ts): these stay in the installed package, in
 * node_modules beside dist/ (the repository and the VSIX have the same layout; the package.json marks the folder).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * The folder of an installed package, found from the running bundle as Node finds packages (else where the layout
 * puts it, so that what is missing gets named). Undefined for the TypeScript sources (ES modules, the unit tests):
 * there each package is loaded whole and finds its own files.
 */
export function bundledPackageDir(name: string): string | undefined {
  // __filename only exists inside the CommonJS bundles
  if (typeof __filename !== 'string') return undefined;
  try {
    return dirname(createRequire(__filename).resolve(`${name}/package.json`));
  } catch {
    return join(dirname(__filename), '..', 'node_modules', name);
  }
}
