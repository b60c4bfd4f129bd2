// Top-k of rows of logits, best first. Ties go to the lower id, like argmax in llama2.c.

/** [rows * k]: row r's ids at r*k .. r*k+k-1, by decreasing value. */
export function topkRows(values: Float32Array, rows: number, width: number, k: number): Int32Array {
  if (k > width) throw new RangeError(`top-${k} of rows of width ${width}`);
  const out = new Int32Array(rows * k);
  const best = new Float32Array(k);
  for (let r = 0; r < rows; r++) {
    const o = r * k;
    let n = 0; // entries kept so far, sorted by decreasing value
    for (let i = 0; i < width; i++) {
      const v = values[r * width + i];
      if (n === k && !(v > best[k - 1])) continue;
      // insertion: strictly greater moves ahead, so earlier ids win ties
      let j = n < k ? n++ : k - 1;
      while (j > 0 && v > best[j - 1]) {
        best[j] = best[j - 1];
        out[o + j] = out[o + j - 1];
        j--;
      }
      best[j] = v;
      out[o + j] = i;
    }
  }
  return out;
}
