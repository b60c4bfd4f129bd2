// Long words for @huggingface/tokenizers' BPE model. Its bpe(word) slows down faster than the
// word grows (a 10,000-character pre-token takes 0.17 s, 300,000 take 8.9 s), and a text with no
// split points is one such word: SentencePiece-style tokenizer.json files (Llama 2) have no
// pre-tokenizer at all, and byte-level ones (Llama 3, Qwen) keep a run of CJK letters whole.
// Words past the length the library caches go through mergeBestPairs instead, with the same
// ranks, the same leftmost-first tie rule and the same suffix handling, so the ids do not change.
import { mergeBestPairs } from './bpe-merge';

/** The fields of the library's BPE model (src/core/tokenizerModelImplementations/BPE.ts) used here. */
interface BpeModel {
  bpe(token: string): string[];
  bpe_ranks: Map<string, number>;
  end_of_word_suffix?: string | null;
  continuing_subword_suffix?: string | null;
  max_length_to_cache?: number;
}

function isBpeModel(m: unknown): m is BpeModel {
  const b = m as Partial<BpeModel> | null;
  return typeof b?.bpe === 'function' && b.bpe_ranks instanceof Map;
}

/** BPE of one word: the lowest-ranked merge first (ranks are the order of tokenizer.json's merges). */
export function bpeWord(model: BpeModel, word: string): string[] {
  const symbols = Array.from(word);
  if (model.end_of_word_suffix) symbols[symbols.length - 1] += model.end_of_word_suffix;
  const out = mergeBestPairs(symbols, (a, b) => {
    const rank = model.bpe_ranks.get(JSON.stringify([a, b]));
    return rank === undefined ? undefined : { score: -rank, merged: a + b };
  });
  if (model.continuing_subword_suffix) for (let i = 0; i < out.length - 1; i++) out[i] += model.continuing_subword_suffix;
  return out;
}

/**
 * Routes the long words of `model` (when it is the library's BPE model) through bpeWord; short
 * ones stay with the library, which caches them. Returns whether it did.
 */
export function speedUpLongWords(model: unknown): boolean {
  if (!isBpeModel(model)) return false;
  const short = model.bpe.bind(model);
  const limit = model.max_length_to_cache ?? 256;
  model.bpe = (token: string) => (token.length < limit ? short(token) : bpeWord(model, token));
  return true;
}
