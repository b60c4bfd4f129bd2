// Tokenizer encoding speed on long texts: every tokenizer the tests use, three kinds of text
// (English prose, a CJK run with no spaces, one long word), 100 KB and 1 MB; and how fast a
// text that cannot fit an 8192-token context is rejected (encode with maxTokens).
//   node --conditions=source --import tsx bench/tokenizer.bench.ts [--sizes 100000,1000000] [--library]
// --library also times @huggingface/tokenizers' own BPE (no long-word path) for comparison.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer as HfCore } from '@huggingface/tokenizers';
import { TokenLimitError } from '../src/errors';
import { HfTokenizer } from '../src/hf-tokenizer';
import { Llama2cTokenizer } from '../src/llama2c-tokenizer';
import { hfTokenizerDir, HAVE_LLAMA2_TOKENIZER, LLAMA2_TOKENIZER_DIR, STORIES_DIR, type HfTokenizerFixture } from '../src/testdata';
import type { Tokenizer } from '../src/tokenizer';

const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
};
const sizes = (arg('--sizes') ?? '100000,1000000').split(',').map(Number);
const library = process.argv.includes('--library');

const story = readFileSync(join(STORIES_DIR, 'expected-greedy-200-steps.txt'), 'utf8');
const TEXTS: Record<string, string> = { prose: story, cjk: '中文测试，日本語のテキスト한국어텍스트', word: 'x' };
/** `base` repeated to `bytes` UTF-8 bytes (about). */
const textOf = (base: string, bytes: number) => {
  const per = Buffer.byteLength(base) / base.length;
  return base.repeat(Math.ceil(bytes / per / base.length)).slice(0, Math.round(bytes / per));
};

const readJson = (dir: string, f: string) => JSON.parse(readFileSync(join(dir, f), 'utf8'));
const tokenizers: [string, Tokenizer][] = [['llama2.c tok512', Llama2cTokenizer.fromBytes(readFileSync(join(STORIES_DIR, 'tok512.bin')), 'tok512.bin', 512)]];
if (HAVE_LLAMA2_TOKENIZER) tokenizers.push(['llama2.c 32k', Llama2cTokenizer.fromBytes(readFileSync(`${LLAMA2_TOKENIZER_DIR}tokenizer.bin`), 'tokenizer.bin', 32000)]);
for (const name of ['llama-2', 'llama-3', 'qwen-3', 'gemma-3'] as HfTokenizerFixture[]) {
  const dir = hfTokenizerDir(name);
  tokenizers.push([`hf ${name}`, new HfTokenizer(readJson(dir, 'tokenizer.json'), readJson(dir, 'tokenizer_config.json'))]);
  if (library) {
    const core = new HfCore(readJson(dir, 'tokenizer.json'), readJson(dir, 'tokenizer_config.json'));
    tokenizers.push([`library ${name}`, { encode: (t: string) => core.encode(t, { add_special_tokens: false }).ids } as unknown as Tokenizer]);
  }
}

const time = (f: () => unknown) => {
  const t0 = performance.now();
  f();
  return performance.now() - t0;
};

console.log('tokenizer            text    bytes      tokens    ms      MB/s   reject@8192 ms');
for (const [name, tok] of tokenizers) {
  tok.encode(story); // warm up
  for (const [kind, base] of Object.entries(TEXTS)) {
    for (const bytes of sizes) {
      const text = textOf(base, bytes);
      let n = 0;
      const ms = time(() => (n = tok.encode(text).length));
      let reject = '-';
      if (!name.startsWith('library')) {
        const r = time(() => {
          try {
            tok.encode(text, { maxTokens: 8192 });
          } catch (e) {
            if (!(e instanceof TokenLimitError)) throw e;
          }
        });
        reject = r.toFixed(0);
      }
      const mb = Buffer.byteLength(text) / 1e6;
      console.log(`${name.padEnd(20)} ${kind.padEnd(6)} ${String(Buffer.byteLength(text)).padStart(8)} ${String(n).padStart(10)} ${ms.toFixed(0).padStart(6)} ${(mb / (ms / 1000)).toFixed(2).padStart(8)} ${reject.padStart(8)}`);
    }
  }
}
