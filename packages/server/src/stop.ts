// Stop strings in streamed text: text is passed on as soon as no stop string can begin in it, and
// cut where the first stop string begins.

export class StopMatcher {
  private held = '';
  private readonly longest: number;

  constructor(private readonly stops: readonly string[]) {
    this.longest = Math.max(0, ...stops.map((s) => s.length));
  }

  /** Takes the next piece of text; returns what can be sent and whether a stop string ended it. */
  push(text: string): { text: string; stopped: boolean } {
    const buffer = this.held + text;
    let cut = -1;
    for (const stop of this.stops) {
      const at = buffer.indexOf(stop);
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) {
      this.held = '';
      return { text: buffer.slice(0, cut), stopped: true };
    }
    // Hold back the longest tail that a stop string starts with.
    let keep = 0;
    for (let k = Math.min(this.longest - 1, buffer.length); k > 0; k--) {
      const tail = buffer.slice(buffer.length - k);
      if (this.stops.some((s) => s.startsWith(tail))) {
        keep = k;
        break;
      }
    }
    this.held = buffer.slice(buffer.length - keep);
    return { text: buffer.slice(0, buffer.length - keep), stopped: false };
  }

  /** What was held back, once generation ended without a stop string. */
  flush(): string {
    const rest = this.held;
    this.held = '';
    return rest;
  }
}
