import { existsSync } from 'node:fs';
import { openStore } from '../../store/store.ts';
import { type Command, UsageError, requireString } from '../command.ts';

export const stats: Command = {
  name: 'stats',
  summary: 'counts of prompts, judgments and pairs, by source, language and adapter',
  usage: 'prefer stats --db DB [--json]',
  options: { db: { type: 'string' } },
  run(args, out) {
    const db = requireString(args, 'db', 'stats');
    if (!existsSync(db)) throw new UsageError(`prefer stats: ${db}: no such database`);
    const store = openStore(db);
    try {
      const s = store.stats();
      const by = (r: Record<string, number>) =>
        Object.entries(r)
          .map(([k, n]) => `${k} ${n}`)
          .join(', ') || 'none';
      out.result(
        s,
        [
          `prompts      ${s.prompts}`,
          `candidates   ${s.candidates}`,
          `comparisons  ${s.comparisons}`,
          `  by outcome   ${by(s.comparisonsByOutcome)}`,
          `pairs        ${s.pairs}`,
          `  by source    ${by(s.pairsBySource)}`,
          `  by language  ${by(s.pairsByLanguage)}`,
          `  by adapter   ${by(s.pairsByAdapter)}`,
          `  labeler pairs against a human judgment  ${s.disagreements}`,
          `labeler runs ${s.labelerRuns}`,
          `training runs ${s.trainingRuns}${s.trainingRuns ? ` (${by(s.trainingRunsByStatus)})` : ''}`,
          `adapters     ${s.adapters}${s.activeAdapterVersion === null ? '' : ` (active: v${s.activeAdapterVersion})`}`,
        ].join('\n'),
      );
    } finally {
      store.close();
    }
    return 0;
  },
};
