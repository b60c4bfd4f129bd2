import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseLlama2cCheckpoint } from './llama2c';
import { Llama2cTokenizer } from './llama2c-tokenizer';
import { ReferenceLlama, referenceGreedy, rope } from './reference';
import { STORIES_DIR } from './testdata';

const ckpt = parseLlama2cCheckpoint(readFileSync(`${STORIES_DIR}/stories260K.bin`), 'stories260K.bin');
const tok = Llama2cTokenizer.fromBytes(readFileSync(`${STORIES_DIR}/tok512.bin`), 'tok512.bin', ckpt.config.vocabSize);
const expected = readFileSync(`${STORIES_DIR}/expected-greedy-200-steps.txt`);

describe('ReferenceLlama on stories260K', () => {
  it("reproduces llama2.c's greedy 200-step output byte for byte", () => {
    const model = new ReferenceLlama(ckpt.config, ckpt.weights);
    const ids = referenceGreedy(model, [tok.bosId], 200);
    const text = tok.decode([tok.bosId, ...ids]);
    expect(Buffer.from(text, 'utf8').equals(expected)).toBe(true);
    // The stream decoder prints the same bytes.
    const dec = tok.createStreamDecoder();
    let streamed = dec.push(tok.bosId);
    for (const id of ids) streamed += dec.push(id);
    expect(streamed + dec.flush()).toBe(text);
  });
});
