import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OptionError } from '@hydra-ts/tensor';
import { StopText } from './stop-text';

/** The reference: the whole text cut before the earliest stop string. */
function cutAt(text: string, stops: readonly string[]): { text: string; stopped: boolean } {
  let cut = -1;
  for (const s of stops) {
    const i = text.indexOf(s);
    if (i >= 0 && (cut < 0 || i < cut)) cut = i;
  }
  return cut < 0 ? { text, stopped: false } : { text: text.slice(0, cut), stopped: true };
}

describe('StopText', () => {
  it('cuts exactly before a stop string split over pieces, and never releases part of it', () => {
    const st = new StopText(['END', '\n\n']);
    const out = ['Once up', 'on a time E', 'N', 'D and more'].map((p) => st.push(p));
    expect(out).toEqual(['Once up', 'on a time ', '', '']);
    expect(st.stopped).toBe(true);
    expect(st.flush()).toBe('');
  });

  it('releases held text that turned out not to be a stop string', () => {
    const st = new StopText(['STOP']);
    expect(st.push('a ST')).toBe('a ');
    expect(st.push('O')).toBe('');
    expect(st.push('ry')).toBe('STOry');
    expect(st.push(' ends ST')).toBe(' ends ');
    expect(st.flush()).toBe('ST');
    expect(st.stopped).toBe(false);
  });

  it('holds text where a longer stop string may still begin before a complete one', () => {
    // "a " holds the complete " " at 1, but "a  a" may begin at 0: nothing can be released yet.
    const st = new StopText(['a  a', ' ']);
    expect(st.push('a ')).toBe('');
    expect(st.push(' a')).toBe('');
    expect(st.stopped).toBe(true);
    // Decided only at the end: the held text up to its first stop string.
    const end = new StopText(['a  a', ' ']);
    expect(end.push('a ')).toBe('');
    expect(end.flush()).toBe('a');
    expect(end.stopped).toBe(true);
  });

  it('equals cutting the whole text, for any split into pieces and any stop strings (fast-check)', () => {
    const alphabet = fc.constantFrom(...'ab \n');
    const str = (min: number, max: number) => fc.array(alphabet, { minLength: min, maxLength: max }).map((a) => a.join(''));
    fc.assert(
      fc.property(str(0, 40), fc.array(str(1, 4), { minLength: 1, maxLength: 3 }), fc.array(fc.nat(40), { maxLength: 8 }), (text, stops, splits) => {
        const bounds = [...new Set(splits.map((s) => s % (text.length + 1)))].sort((x, y) => x - y);
        const pieces: string[] = [];
        let at = 0;
        for (const b of [...bounds, text.length]) {
          pieces.push(text.slice(at, b));
          at = b;
        }
        const st = new StopText(stops);
        let released = '';
        for (const p of pieces) {
          released += st.push(p);
          // What is out never holds a stop string, and never more than the reference keeps.
          expect(cutAt(text, stops).text.startsWith(released)).toBe(true);
        }
        released += st.flush();
        const want = cutAt(text, stops);
        expect(released).toBe(want.text);
        expect(st.stopped).toBe(want.stopped);
      }),
      { numRuns: 2000 },
    );
  });

  it('rejects an empty stop string', () => {
    expect(() => new StopText(['ok', ''])).toThrow(OptionError);
    expect(() => new StopText(['ok', ''])).toThrow(/stop\[1\] = ""; expected a non-empty string/);
  });
});
