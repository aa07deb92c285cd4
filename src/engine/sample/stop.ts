/**
 * Stop strings over streamed text: the text is cut exactly before the first occurrence of any stop string,
 * and text that could still become the start of a stop string is held back from the stream until it cannot.
 */
export class StopMatcher {
  private readonly stops: string[];
  private text = '';
  private emitted = 0;
  private stoppedAt: number | null = null;

  constructor(stops: readonly string[]) {
    this.stops = stops.filter((s) => s.length > 0);
  }

  get stopped(): boolean {
    return this.stoppedAt !== null;
  }

  /** The candidate's text so far, cut at the stop string if one appeared. */
  get result(): string {
    return this.stoppedAt === null ? this.text : this.text.slice(0, this.stoppedAt);
  }

  /** Adds decoded text; returns what may be streamed now. */
  push(delta: string): string {
    if (this.stoppedAt !== null) return '';
    // a stop string can start in text already seen: search from the longest stop's reach back
    const from = Math.max(0, this.text.length - Math.max(0, ...this.stops.map((s) => s.length - 1)));
    this.text += delta;
    let cut = -1;
    for (const s of this.stops) {
      const at = this.text.indexOf(s, from);
      if (at !== -1 && (cut === -1 || at < cut)) cut = at;
    }
    if (cut !== -1) {
      this.stoppedAt = cut;
      return this.take(cut);
    }
    return this.take(this.text.length - this.heldBack());
  }

  /** Everything not yet streamed (at the end of generation nothing more can complete a stop string). */
  flush(): string {
    return this.take(this.result.length);
  }

  /** Length of the longest text suffix that is a proper prefix of some stop string. */
  private heldBack(): number {
    let hold = 0;
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, this.text.length); k > hold; k--) {
        if (this.text.endsWith(s.slice(0, k))) {
          hold = k;
          break;
        }
      }
    }
    return hold;
  }

  private take(upTo: number): string {
    if (upTo <= this.emitted) return '';
    const out = this.text.slice(this.emitted, upTo);
    this.emitted = upTo;
    return out;
  }
}
