import ts from 'typescript';
import { completedText, type LabelTarget, type Labeler, type Verdict } from './labeler.ts';
import {
  diagnosticSummary,
  inMemoryProgram,
  requireLibraryFiles,
  typescriptExtension,
  virtualFileName,
} from './typescriptProgram.ts';

const COMPILER_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  jsx: ts.JsxEmit.Preserve,
  strict: true,
  noEmit: true,
  allowJs: true,
  checkJs: true,
  skipLibCheck: true,
  types: [],
};

/**
 * Fewer compiler errors > more: the whole document with the completion inserted is type-checked in memory.
 * Errors every candidate shares (an import the checker cannot see) cancel out, since only order matters.
 */
export function compileLabeler(): Labeler {
  requireLibraryFiles();
  return {
    name: 'compile',
    confidence: 0.8,
    config: { compiler: `typescript ${ts.version}`, strict: true, target: 'ES2022' },
    supports: (target) => typescriptExtension(target.language) !== undefined,
    score(target: LabelTarget, completion: string): Verdict | undefined {
      if (typescriptExtension(target.language) === undefined) return undefined;
      const fileName = virtualFileName(target.language!);
      const program = inMemoryProgram(fileName, completedText(target, completion), COMPILER_OPTIONS);
      const document = program.getSourceFile(fileName)!;
      const diagnostics = [
        ...program.getSyntacticDiagnostics(document),
        ...program.getSemanticDiagnostics(document),
      ];
      return { score: diagnostics.length, detail: diagnosticSummary(diagnostics) };
    },
  };
}
