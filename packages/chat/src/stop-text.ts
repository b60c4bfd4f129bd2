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
    let cut = -1;
    for (const s of this.stops) {
      const i = text.indexOf(s);
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) {
      this.stoppedAt = true;
      this.held = '';
      return text.slice(0, cut);
    }
    const keep = this.partialStopLength(text);
    this.held = text.slice(text.length - keep);
    return text.slice(0, text.length - keep);
  }

  /** At the end of the reply (no stop string found): the held text, which is part of the reply after all. */
  flush(): string {
    const rest = this.stoppedAt ? '' : this.held;
    this.held = '';
    return rest;
  }

  /** Length of the longest tail of `text` that is a proper prefix of a stop string. */
  private partialStopLength(text: string): number {
    let best = 0;
    for (const s of this.stops) {
      for (let n = Math.min(s.length - 1, text.length); n > best; n--) {
        if (text.endsWith(s.slice(0, n))) {
          best = n;
          break;
        }
      }
    }
    return best;
  }
}
