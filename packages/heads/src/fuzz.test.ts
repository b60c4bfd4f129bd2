// Mutated heads files through parseHeadFile (everything loadHead checks before the device):
// each case ends in a typed error naming the file or in parameters of the right shapes, within
// an allocation bound set by the file's size. Counts per outcome are printed.
import { parseSafetensors, serializeSafetensors, type LlamaConfig, type SafetensorsInput } from '@hydra-ts/model';
import { FuzzTally, fuzzRng, mutateBytes, mutateJsonText } from '@hydra-ts/tensor/fuzz';
import { describe, expect, it } from 'vitest';
import { parseHeadFile } from './checkpoint';
import { HEADS_FORMAT, HEADS_VERSION, HEAD_KINDS, headConfigFor, headParameterShapes, type HeadConfig } from './config';
import { HeadCheckpointError } from './errors';

const base: LlamaConfig = {
  architecture: 'llama', dim: 16, hiddenDim: 24, nLayers: 5, nHeads: 4, nKvHeads: 2, headDim: 4, vocabSize: 40, maxSeqLen: 64,
  ropeTheta: 10000, ropeLayout: 'half', normEps: 1e-5, tiedEmbeddings: false, qkvBias: false, bosId: 1, eosId: 2,
};

/** A heads file as saveHead writes it, built on the CPU. */
function headsFile(config: HeadConfig, metadataConfig = JSON.stringify(config)): Uint8Array {
  const tensors = new Map<string, SafetensorsInput>([...headParameterShapes(config)].map(([name, shape], i): [string, SafetensorsInput] => {
    const n = shape.reduce((a, b) => a * b, 1);
    if (name === 'eagle3.d2t') return [name, { shape, data: Int32Array.from({ length: n }, (_, j) => j), dtype: 'I32' }]; // base ids of the draft vocabulary
    return [name, { shape, data: Float32Array.from({ length: n }, (_, j) => Math.sin(i * 7 + j) * 0.1) }];
  }));
  return serializeSafetensors(tensors, { format: HEADS_FORMAT, version: HEADS_VERSION, config: metadataConfig });
}

describe('fuzz: mutated heads files', () => {
  it(`${70 * HEAD_KINDS.length} mutations (bytes, header, metadata config) of every head kind's files`, async () => {
    const t = new FuzzTally('heads file');
    for (const [k, kind] of HEAD_KINDS.entries()) {
      const config = headConfigFor(base, { kind, numHeads: 2, layers: kind === 'hydra++' ? 2 : 1 });
      const good = headsFile(config);
      expect(parseHeadFile(good, 'good.safetensors', base).config).toEqual(config);
      for (let i = 0; i < 70; i++) {
        const r = fuzzRng(100 * k + i + 1);
        const file = `${kind}-${i}.safetensors`;
        const b = i % 3 === 0 ? headsFile(config, mutateJsonText(JSON.stringify(config), r)) : mutateBytes(good, r, 8 + Number(new DataView(good.buffer).getBigUint64(0, true)));
        await t.run(`${kind} case ${i}`, { inputBytes: b.length, file }, () => {
          const { config: c, values } = parseHeadFile(b, file, base);
          for (const [name, shape] of headParameterShapes(c)) expect(values.get(name)!.length).toBe(shape.reduce((a, x) => a * x, 1));
        });
      }
    }
    console.log(t.summary());
    expect(t.counts.typed).toBeGreaterThan(100);
    expect(t.counts.ok).toBeGreaterThan(10);
  });

  it('a non-finite parameter is refused by name unless allowNonfinite', () => {
    const config = headConfigFor(base, { kind: 'medusa', numHeads: 1 });
    const st = parseSafetensors(headsFile(config));
    const tensors = new Map([...st.tensors].map(([k, v]) => [k, { shape: v.shape, data: v.data.slice() }]));
    const name = [...tensors.keys()][0];
    tensors.get(name)!.data[5] = NaN;
    const b = serializeSafetensors(tensors, st.metadata);
    expect(() => parseHeadFile(b, 'nan.safetensors', base)).toThrow(new HeadCheckpointError(`nan.safetensors: tensor ${name}[5] = NaN, expected finite values (pass allowNonfinite / --allow-nonfinite to load it anyway)`));
    expect(Number.isNaN(parseHeadFile(b, 'nan.safetensors', base, { allowNonfinite: true }).values.get(name)![5])).toBe(true);
  });
});
