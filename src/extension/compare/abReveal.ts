/** What a blind A/B compare reveals once judged: who wrote each card, and how the adapter fares so far. */
import { rateInWords, wilsonInterval } from '../../dpo/interval.ts';
import type { AbJudgment, AbRecord } from '../../store/store.ts';
import type { AbReveal } from '../../../webview/protocol/compare.ts';

/** "adapter vs base: wins 67 % of 3 (95 % interval 21–94 %), 1 tie". */
export function abRecordInWords({ wins, losses, ties }: AbRecord): string {
  const decided = wins + losses;
  const rate = decided === 0 ? 'no decided judgments yet' : `wins ${rateInWords(wins, decided)}`;
  return `adapter vs base: ${rate}, ${ties} ${ties === 1 ? 'tie' : 'ties'}`;
}

export function abReveal(
  shown: readonly { adapterId?: number | undefined }[],
  record: AbRecord,
  history: readonly AbJudgment[],
): AbReveal {
  const decided = history.filter((h) => h.result !== 'tie');
  return {
    sources: shown.map((c) => (c.adapterId === undefined ? 'base' : 'adapter')),
    record: abRecordInWords(record),
    history: decided.map((h, i) => {
      const n = h.wins + h.losses;
      return { judgment: i + 1, winRate: h.wins / n, ...wilsonInterval(h.wins, n) };
    }),
  };
}
