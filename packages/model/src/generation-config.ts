// generation_config.json: the decoding defaults a Hugging Face model ships with (sampling
// parameters and stop ids), used when the caller of generate() or a chat sets none.
import { ConfigError } from './errors';

export interface GenerationConfig {
  /** Sample instead of greedy; transformers is greedy unless this is true. */
  doSample?: boolean;
  temperature?: number;
  /** 0 means no top-k limit, as in transformers. */
  topK?: number;
  topP?: number;
  maxNewTokens?: number;
  repetitionPenalty?: number;
  bosId?: number;
  /** `eos_token_id`, a number or a list, as a list. */
  eosIds?: number[];
  padId?: number;
}

/** `eos_token_id`-style fields: a number, a list of numbers, or absent/null. */
export function idList(v: unknown, field: string, where: string): number[] | undefined {
  if (v === undefined || v === null) return undefined;
  const list = Array.isArray(v) ? v : [v];
  for (const id of list) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      throw new ConfigError(`${where}: ${field} = ${JSON.stringify(v)}, expected a token id or a list of token ids`);
    }
  }
  return list as number[];
}

/** Maps a parsed generation_config.json onto GenerationConfig; `where` names the file in errors. */
export function parseGenerationConfig(json: Record<string, unknown>, where = 'generation_config.json'): GenerationConfig {
  const num = (key: string, check: (x: number) => boolean, expected: string): number | undefined => {
    const v = json[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !check(v)) throw new ConfigError(`${where}: ${key} = ${JSON.stringify(v)}, expected ${expected}`);
    return v;
  };
  const int = (x: number) => Number.isInteger(x) && x >= 0;
  const doSample = json.do_sample;
  if (doSample !== undefined && doSample !== null && typeof doSample !== 'boolean') {
    throw new ConfigError(`${where}: do_sample = ${JSON.stringify(doSample)}, expected true or false`);
  }
  const gc: GenerationConfig = {
    doSample: doSample ?? undefined,
    temperature: num('temperature', (x) => Number.isFinite(x) && x >= 0, 'a number >= 0'),
    topK: num('top_k', int, 'an integer >= 0'),
    topP: num('top_p', (x) => x > 0 && x <= 1, 'a number in (0, 1]'),
    maxNewTokens: num('max_new_tokens', int, 'an integer >= 0'),
    repetitionPenalty: num('repetition_penalty', (x) => Number.isFinite(x) && x > 0, 'a number > 0'),
    bosId: num('bos_token_id', int, 'a token id'),
    eosIds: idList(json.eos_token_id, 'eos_token_id', where),
    padId: idList(json.pad_token_id, 'pad_token_id', where)?.[0],
  };
  for (const k of Object.keys(gc) as (keyof GenerationConfig)[]) if (gc[k] === undefined) delete gc[k];
  return gc;
}

/**
 * The sampling a model's generation config asks for, as transformers reads it: greedy unless
 * do_sample, and then temperature 1, top-k 50 and top-p 1 where the file sets none.
 */
export function samplingDefaults(gc: GenerationConfig | undefined): { temperature: number; topK?: number; topP?: number } {
  if (!gc?.doSample) return { temperature: 0 };
  const topK = gc.topK ?? 50;
  const topP = gc.topP ?? 1;
  return { temperature: gc.temperature ?? 1, ...(topK > 0 ? { topK } : {}), ...(topP < 1 ? { topP } : {}) };
}
