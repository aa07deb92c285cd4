/**
 * How sure a rate measured on few trials is: the Wilson score interval, which stays inside [0, 1] and is honest
 * at small n and near 0 or 1, where the textbook p ± z·√(p(1−p)/n) collapses to a point (1 of 1 → [1, 1]).
 */

/** z for a two-sided 95 % interval. */
const Z95 = 1.959963984540054;

export interface Interval {
  low: number;
  high: number;
}

/** The 95 % Wilson interval of `successes` in `n` trials; with no trials, nothing is known: [0, 1]. */
export function wilsonInterval(successes: number, n: number, z = Z95): Interval {
  if (!Number.isInteger(n) || n < 0 || !Number.isInteger(successes) || successes < 0 || successes > n)
    throw new RangeError(`wilsonInterval: ${successes} successes in ${n} trials`);
  if (n === 0) return { low: 0, high: 1 };
  const p = successes / n;
  const z2 = z * z;
  const scale = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / scale;
  const half = (z / scale) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return { low: Math.max(0, center - half), high: Math.min(1, center + half) };
}

const percent = (x: number) => `${Math.round(x * 100)} %`;

/** "67 % of 3 (95 % interval 21–94 %)": a rate in words with its n and its uncertainty. */
export function rateInWords(successes: number, n: number): string {
  if (n === 0) return 'no data yet';
  const { low, high } = wilsonInterval(successes, n);
  return `${percent(successes / n)} of ${n} (95 % interval ${Math.round(low * 100)}–${percent(high)})`;
}
