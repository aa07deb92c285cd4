import { dirname, join } from 'node:path';
import ts from 'typescript';
import { bundledPackageDir } from '../installedPackage.ts';

/** VS Code language ids the TypeScript compiler understands, with the file extension each implies. */
const EXTENSION_BY_LANGUAGE: Record<string, string> = {
  typescript: '.ts',
  typescriptreact: '.tsx',
  javascript: '.js',
  javascriptreact: '.jsx',
};

export function typescriptExtension(language: string | null): string | undefined {
  return language === null ? undefined : EXTENSION_BY_LANGUAGE[language];
}

/** Where the document lives in the in-memory file system: nothing is read from or written to disk. */
export function virtualFileName(language: string): string {
  return `/prefer-label/completion${EXTENSION_BY_LANGUAGE[language]}`;
}

/**
 * TypeScript's lib.*.d.ts. The compiler looks beside its own file, which in a bundle is the bundle's folder: there
 * they are in the installed package instead.
 */
const libOptions = { target: ts.ScriptTarget.ES2022 };
const bundledTypescript = bundledPackageDir('typescript');
const defaultLib = bundledTypescript
  ? join(bundledTypescript, 'lib', ts.getDefaultLibFileName(libOptions))
  : ts.getDefaultLibFilePath(libOptions);
const libDirectory = dirname(defaultLib);

/** Without its library files the checker sees `number[]` as `{}` and every verdict would be wrong. */
export function requireLibraryFiles(): void {
  if (!ts.sys.fileExists(defaultLib)) {
    throw new Error(
      `TypeScript's library files are missing (${defaultLib}); the typescript package must be installed beside Prefer`,
    );
  }
}
// Parsed library files are shared by every program: parsing lib.*.d.ts is most of the cost of a check.
const libFiles = new Map<string, ts.SourceFile | undefined>();

/**
 * A program over one in-memory document. Library files come from the typescript package; any other file
 * (an import of the document) does not exist, and every candidate sees the same missing modules.
 */
export function inMemoryProgram(fileName: string, text: string, options: ts.CompilerOptions): ts.Program {
  const document = ts.createSourceFile(fileName, text, options.target ?? ts.ScriptTarget.ES2022, true);
  const host: ts.CompilerHost = {
    getSourceFile(name, languageVersion) {
      if (name === fileName) return document;
      if (!name.startsWith(libDirectory)) return undefined;
      if (!libFiles.has(name)) {
        const libText = ts.sys.readFile(name);
        libFiles.set(
          name,
          libText === undefined ? undefined : ts.createSourceFile(name, libText, languageVersion, false),
        );
      }
      return libFiles.get(name);
    },
    getDefaultLibFileName: (o) => join(libDirectory, ts.getDefaultLibFileName(o)),
    getDefaultLibLocation: () => libDirectory,
    writeFile: () => undefined,
    getCurrentDirectory: () => '/prefer-label',
    getDirectories: () => [],
    fileExists: (name) => name === fileName || (name.startsWith(libDirectory) && ts.sys.fileExists(name)),
    readFile: (name) =>
      name === fileName ? text : name.startsWith(libDirectory) ? ts.sys.readFile(name) : undefined,
    getCanonicalFileName: (name) => name,
    useCaseSensitiveFileNames: () => true,
    getNewLine: () => '\n',
  };
  return ts.createProgram({ rootNames: [fileName], options, host });
}

export function diagnosticSummary(diagnostics: readonly ts.Diagnostic[]): string | undefined {
  const first = diagnostics[0];
  if (!first) return undefined;
  const text = ts.flattenDiagnosticMessageText(first.messageText, ' ');
  const more = diagnostics.length > 1 ? ` (+${diagnostics.length - 1} more)` : '';
  return `TS${first.code}: ${text}${more}`.slice(0, 300);
}
