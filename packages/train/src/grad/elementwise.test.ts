// Gradients of the element-wise ops (add, mul with row broadcast, scale, SiLU, dropout) and of
// concat/slice: GPU backward vs finite differences of f64 CPU forwards, and vs the CPU twins.
import { getDevice, randomArray } from '@hydra-ts/tensor';
import { assertClose } from '@hydra-ts/tensor/testing';
import { describe, expect, it } from 'vitest';
import { checkGradients, gpuGradients } from '../gradcheck';
import { geluBackwardCpu, geluRef, siluBackwardCpu, siluRef, dropoutCpu, dropoutKeepCpu } from '../cpu/activation';
import { sumRowsCpu } from '../cpu/linear';
import { sliceBackwardCpu, sliceColumnsRef } from '../cpu/slice';

const device = await getDevice();

describe.each([1, 3, 17])('element-wise gradients, %i rows', (rows) => {
  const n = 5;
  const x = randomArray(rows * n, 1 + rows, -3, 3);
  const y = randomArray(rows * n, 2 + rows);
  const b = randomArray(n, 3 + rows);

  it('add (same shape, and a broadcast row) matches finite differences', async () => {
    await checkGradients(device, [{ data: x, shape: [rows, n] }, { data: y, shape: [rows, n] }], (t, [a, c]) => t.add(a, c), ([a, c]) => a.map((v, i) => v + c[i]), { what: 'add' });
    const r = await checkGradients(device, [{ data: x, shape: [rows, n] }, { data: b, shape: [n] }], (t, [a, c]) => t.add(a, c), ([a, c]) => a.map((v, i) => v + c[i % n]), { what: 'add broadcast' });
    assertClose(r.grads[1]!, sumRowsCpu(r.seed, rows, n), { what: 'bias grad vs CPU column sums' });
  });

  it('mul (same shape, and a broadcast row) matches finite differences', async () => {
    await checkGradients(device, [{ data: x, shape: [rows, n] }, { data: y, shape: [rows, n] }], (t, [a, c]) => t.mul(a, c), ([a, c]) => a.map((v, i) => v * c[i]), { what: 'mul' });
    await checkGradients(device, [{ data: x, shape: [rows, n] }, { data: b, shape: [n] }], (t, [a, c]) => t.mul(a, c), ([a, c]) => a.map((v, i) => v * c[i % n]), { what: 'mul broadcast' });
  });

  it('scale and SiLU match finite differences and the CPU twin', async () => {
    await checkGradients(device, [{ data: x, shape: [rows, n] }], (t, [a]) => t.scale(a, -0.75), ([a]) => a.map((v) => v * -0.75), { what: 'scale' });
    const r = await checkGradients(device, [{ data: x, shape: [rows, n] }], (t, [a]) => t.silu(a), ([a]) => siluRef(a), { what: 'silu' });
    assertClose(r.grads[0]!, siluBackwardCpu(x, r.seed), { what: 'silu grad vs CPU twin', atol: 1e-6, rtol: 1e-5 });
  });

  it('GELU matches finite differences and the CPU twin', async () => {
    const r = await checkGradients(device, [{ data: x, shape: [rows, n] }], (t, [a]) => t.gelu(a), ([a]) => geluRef(a), { what: 'gelu' });
    assertClose(r.grads[0]!, geluBackwardCpu(x, r.seed), { what: 'gelu grad vs CPU twin', atol: 1e-6, rtol: 1e-5 });
  });

  it('concat along columns and rows splits the gradient; slice pads it', async () => {
    const z = randomArray(rows * 3, 9);
    await checkGradients(device, [{ data: x, shape: [rows, n] }, { data: z, shape: [rows, 3] }], (t, [a, c]) => t.concat([a, c], -1), ([a, c]) => {
      const out = new Float64Array(rows * (n + 3));
      for (let r = 0; r < rows; r++) {
        for (let j = 0; j < n; j++) out[r * (n + 3) + j] = a[r * n + j];
        for (let j = 0; j < 3; j++) out[r * (n + 3) + n + j] = c[r * 3 + j];
      }
      return out;
    }, { what: 'concat columns' });
    await checkGradients(device, [{ data: x, shape: [rows, n] }, { data: y.slice(0, n), shape: [1, n] }], (t, [a, c]) => t.concat([a, c], 0), ([a, c]) => Float64Array.from([...a, ...c]), { what: 'concat rows' });
    const r = await checkGradients(device, [{ data: x, shape: [rows, n] }], (t, [a]) => t.slice(a, 1, 1, 4), ([a]) => sliceColumnsRef(a, rows, n, 1, 4), { what: 'slice columns' });
    assertClose(r.grads[0]!, sliceBackwardCpu(r.seed, rows, n, 1, 4), { what: 'slice grad vs CPU twin', atol: 0, rtol: 0 });
    await checkGradients(device, [{ data: x, shape: [rows, n] }], (t, [a]) => t.slice(a, 0, rows - 1, rows), ([a]) => a.slice((rows - 1) * n), { what: 'slice rows' });
  });
});

describe('dropout', () => {
  it('drops the same elements forward and backward, matching the CPU hash', async () => {
    const n = 1000;
    const x = randomArray(n, 4);
    const p = 0.3;
    const r = await gpuGradients(device, [{ data: x, shape: [n] }], (t, [a]) => t.dropout(a, p, 1234));
    assertClose(r.value, dropoutCpu(x, p, 1234), { what: 'dropout forward vs CPU twin', atol: 1e-6 });
    assertClose(r.grads[0]!, dropoutCpu(r.seed, p, 1234), { what: 'dropout backward vs CPU twin', atol: 1e-6 });
    const kept = dropoutKeepCpu(n, p, 1234).reduce((s, k) => s + k, 0);
    expect(kept / n).toBeGreaterThan(0.63);
    expect(kept / n).toBeLessThan(0.77);
    // Another seed gives another mask.
    const other = dropoutKeepCpu(n, p, 1235);
    expect(other.some((k, i) => k !== dropoutKeepCpu(n, p, 1234)[i])).toBe(true);
  });

  it('rejects p outside [0, 1)', async () => {
    await expect(gpuGradients(device, [{ data: [1, 2], shape: [2] }], (t, [a]) => t.dropout(a, 1, 0))).rejects.toThrow(/dropout: p = 1/);
  });
});
