import { describe, expect, it } from 'vitest';
import { StopMatcher } from './stop';

/** Feeds `pieces`; returns what was sent and whether a stop string ended it. */
function feed(stops: string[], pieces: string[]): { text: string; stopped: boolean } {
  const m = new StopMatcher(stops);
  let text = '';
  for (const p of pieces) {
    const r = m.push(p);
    text += r.text;
    if (r.stopped) return { text, stopped: true };
  }
  return { text: text + m.flush(), stopped: false };
}

/** The reference: the text up to the first occurrence of any stop string. */
function reference(stops: string[], whole: string): { text: string; stopped: boolean } {
  const hits = stops.map((s) => whole.indexOf(s)).filter((i) => i >= 0);
  return hits.length ? { text: whole.slice(0, Math.min(...hits)), stopped: true } : { text: whole, stopped: false };
}

describe('StopMatcher', () => {
  const whole = 'Once upon a time, there was a little girl. The end.\nOnce more';
  const stopSets = [[], ['.'], ['girl'], ['\nOnce'], ['time, there', 'a little'], ['nowhere'], ['end.\n', 'e']];

  it('cuts at the first stop string however the text is split', () => {
    for (const stops of stopSets) {
      const want = reference(stops, whole);
      for (const size of [1, 2, 3, 5, 17, whole.length]) {
        const pieces = whole.match(new RegExp(`[\\s\\S]{1,${size}}`, 'g'))!;
        expect(feed(stops, pieces), `${JSON.stringify(stops)} in pieces of ${size}`).toEqual(want);
      }
    }
  });

  it('holds back only a tail that could begin a stop string', () => {
    const m = new StopMatcher(['<end>']);
    expect(m.push('abc<e')).toEqual({ text: 'abc', stopped: false });
    expect(m.push('x')).toEqual({ text: '<ex', stopped: false });
    expect(m.push('<en')).toEqual({ text: '', stopped: false });
    expect(m.flush()).toBe('<en');
  });
});
