// Stop strings over streamed text. The reply ends right before the first occurrence of any stop
// string, which may span several tokens; text that could still turn out to start a stop string is
// held back, so no part of a stop string is ever streamed.
import { OptionError } from '@hydra-ts/tensor';

export class StopText {
  private readonly stops: readonly string[];
  /** Text received but not yet released: the longest tail that is a prefix of some stop string. */
  private held = '';
  private stoppedAt = false;

  constructor(stops: readonly string[]) {
    stops.forEach((s, i) => {
      if (typeof s !== 'string' || s.length === 0) throw new OptionError(`stop[${i}] = ${JSON.stringify(s)}; expected a non-empty string`);
    });
    this.stops = stops;
  }

  /** Whether a stop string was found (nothing more is released). */
  get stopped(): boolean {
    return this.stoppedAt;
  }

  /** Takes the next piece of text; returns what can be released now. */
  push(piece: string): string {
    if (this.stoppedAt) return '';
    const text = this.held + piece;
    const cut = this.firstStop(text);
    // A longer stop string may still begin before a complete one (stops "a  a" and " " in
    // "a " + " a"): until the text decides, hold everything from the earliest such start.
    const pending = text.length - this.partialStopLength(text, cut < 0 ? text.length : cut);
    if (cut >= 0 && pending >= cut) {
      this.stoppedAt = true;
      this.held = '';
      return text.slice(0, cut);
    }
    this.held = text.slice(pending);
    return text.slice(0, pending);
  }

  /** At the end of the reply: the held text up to the first stop string in it (then stopped), else all of it. */
  flush(): string {
    if (this.stoppedAt) return '';
    const rest = this.held;
    this.held = '';
    const cut = this.firstStop(rest);
    if (cut < 0) return rest;
    this.stoppedAt = true;
    return rest.slice(0, cut);
  }

  /** Where the first complete stop string in `text` begins, or -1. */
  private firstStop(text: string): number {
    let cut = -1;
    for (const s of this.stops) {
      const i = text.indexOf(s);
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    return cut;
  }

  /**
   * Length of the longest tail of `text` that is a proper prefix of a stop string and starts
   * before index `before` (a tail starting at or after a complete stop cannot come first).
   */
  private partialStopLength(text: string, before: number): number {
    let best = 0;
    for (const s of this.stops) {
      for (let n = Math.min(s.length - 1, text.length); n > best; n--) {
        if (text.length - n < before && text.endsWith(s.slice(0, n))) {
          best = n;
          break;
        }
      }
    }
    return best;
  }
}
