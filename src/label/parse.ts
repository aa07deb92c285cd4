import ts from 'typescript';
import { completedText, type LabelTarget, type Labeler, type Verdict } from './labeler.ts';
import {
  diagnosticSummary,
  inMemoryProgram,
  typescriptExtension,
  virtualFileName,
} from './typescriptProgram.ts';
import { firstLine } from '../inputError.ts';

/** Parses > does not parse: the document with the completion inserted is parsed, never run. */
export function parseLabeler(): Labeler {
  return {
    name: 'parse',
    confidence: 0.9,
    config: { parsers: { 'typescript/javascript': `typescript ${ts.version}`, json: 'JSON.parse' } },
    supports: (target) => target.language === 'json' || typescriptExtension(target.language) !== undefined,
    score(target: LabelTarget, completion: string): Verdict | undefined {
      const text = completedText(target, completion);
      if (target.language === 'json') {
        try {
          JSON.parse(text);
          return { score: 0 };
        } catch (e) {
          return { score: 1, detail: firstLine(e) };
        }
      }
      if (typescriptExtension(target.language) === undefined) return undefined;
      const program = inMemoryProgram(virtualFileName(target.language!), text, {
        noLib: true,
        noResolve: true,
        allowJs: true,
      });
      const diagnostics = program.getSyntacticDiagnostics();
      return diagnostics.length === 0 ? { score: 0 } : { score: 1, detail: diagnosticSummary(diagnostics) };
    },
  };
}
