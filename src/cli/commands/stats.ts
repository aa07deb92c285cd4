import { openStore } from '../../store/store.ts';
import { type Command, commandError, requireString } from '../command.ts';

export const stats: Command = {
  name: 'stats',
  summary: 'counts of prompts, judgments and pairs, by source, language and adapter',
  usage: 'prefer stats --db DB [--json]',
  options: { db: { type: 'string' } },
  run(args, out) {
    const db = requireString(args, 'db', 'stats');
    let store;
    try {
      // Read-only: counting never changes the database, whatever it is.
      store = openStore(db, { readonly: true });
    } catch (e) {
      throw commandError('stats', e);
    }
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
    } catch (e) {
      throw commandError('stats', e);
    } finally {
      store.close();
    }
    return 0;
  },
};
