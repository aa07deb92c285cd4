/**
 * Messages between the compare panel (browser) and the extension host. Both sides import these types; the
 * extension validates every message it receives with `parseWebviewMessage` and drops anything else.
 */

export interface CandidateView {
  text: string;
}

export type HostMessage =
  | { type: 'candidates'; title: string; candidates: CandidateView[] }
  | { type: 'saved'; comparisonId: number; pairsAdded: number }
  | { type: 'error'; message: string };

export type WebviewMessage = { type: 'ready' } | { type: 'pick'; index: number; decisionMs: number };

const MAX_CANDIDATES = 9;

/** Returns the message if it is well-formed, or a one-line reason why not. */
export function parseWebviewMessage(value: unknown): WebviewMessage | { invalid: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { invalid: 'not an object' };
  const m = value as Record<string, unknown>;
  const keys = Object.keys(m).sort().join(',');
  switch (m.type) {
    case 'ready':
      return keys === 'type' ? { type: 'ready' } : { invalid: `ready: unexpected fields ${keys}` };
    case 'pick': {
      if (keys !== 'decisionMs,index,type') return { invalid: `pick: expected fields index, decisionMs; got ${keys}` };
      const { index, decisionMs } = m;
      if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= MAX_CANDIDATES) {
        return { invalid: `pick: index must be an integer in 0..${MAX_CANDIDATES - 1}` };
      }
      if (typeof decisionMs !== 'number' || !Number.isFinite(decisionMs) || decisionMs < 0) {
        return { invalid: 'pick: decisionMs must be a non-negative number' };
      }
      return { type: 'pick', index, decisionMs: Math.round(decisionMs) };
    }
    default:
      return { invalid: `unknown message type ${JSON.stringify(m.type)?.slice(0, 40)}` };
  }
}
