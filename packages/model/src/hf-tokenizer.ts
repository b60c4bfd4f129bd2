// Hugging Face tokenizer.json (+ tokenizer_config.json) through @huggingface/tokenizers, with the
// chat template rendered by @huggingface/jinja.
import { Tokenizer as HfTokenizerCore } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';
import { TokenizerError, TokenLimitError } from './errors';
import { speedUpLongWords } from './hf-bpe';
import type { FileSource } from './source';
import type { ChatEncodeOptions, ChatMessage, ChatTemplateOptions, EncodeOptions, StreamDecoder, Tokenizer } from './tokenizer';

export type { ChatMessage } from './tokenizer';

export interface HfTokenizerOptions {
  /** Override the BOS id found in tokenizer_config.json. */
  bosId?: number;
  /** Override the first EOS id (default: the first of eosIds, else tokenizer_config.json's eos_token). */
  eosId?: number;
  /**
   * Stop ids from the model's config.json and generation_config.json; tokenizer_config.json's
   * eos_token is added to them.
   */
  eosIds?: readonly number[];
  /** Name used in error messages. */
  name?: string;
}

/** Ids of the context a stream decoder re-decodes with each new piece. */
const STREAM_CONTEXT = 4;

/** Bytes of `s` in UTF-8 (lone surrogates count as U+FFFD's three). */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

function tokenContent(t: unknown): string | undefined {
  if (typeof t === 'string') return t;
  if (t && typeof t === 'object' && typeof (t as { content?: unknown }).content === 'string') return (t as { content: string }).content;
  return undefined;
}

function parseJson(bytes: Uint8Array, name: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new TokenizerError(`${name}: not valid UTF-8 JSON: ${(e as Error).message}`, { cause: e });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TokenizerError(`${name}: expected a JSON object`);
  return v as Record<string, unknown>;
}

export class HfTokenizer implements Tokenizer {
  readonly vocabSize: number;
  /** -1 when the tokenizer defines none. */
  readonly bosId: number;
  /** -1 when the tokenizer defines none. */
  readonly eosId: number;
  readonly eosIds: readonly number[];
  readonly chatTemplate: string | undefined;
  private readonly core: HfTokenizerCore;
  private readonly config: Record<string, unknown>;
  private template: Template | undefined;
  /** UTF-8 length of the longest vocabulary entry: no token stands for more bytes of text. */
  private readonly maxTokenBytes: number;

  constructor(tokenizerJson: Record<string, unknown>, tokenizerConfig: Record<string, unknown> = {}, opts: HfTokenizerOptions = {}) {
    const name = opts.name ?? 'tokenizer.json';
    if (typeof tokenizerJson.model !== 'object' || tokenizerJson.model === null) {
      throw new TokenizerError(`${name}: no "model" object, expected a Hugging Face tokenizer.json`);
    }
    try {
      this.core = new HfTokenizerCore(tokenizerJson, tokenizerConfig);
    } catch (e) {
      throw new TokenizerError(`${name}: cannot build the tokenizer: ${(e as Error).message}`, { cause: e });
    }
    speedUpLongWords((this.core as unknown as { model: unknown }).model);
    this.config = tokenizerConfig;
    const vocab = this.core.get_vocab(true);
    let maxId = -1;
    let maxBytes = 1;
    for (const [piece, id] of vocab) {
      if (id > maxId) maxId = id;
      if (typeof piece === 'string') maxBytes = Math.max(maxBytes, utf8Length(piece));
    }
    this.maxTokenBytes = maxBytes;
    this.vocabSize = maxId + 1;
    const idOf = (t: unknown) => {
      const s = tokenContent(t);
      return s === undefined ? undefined : this.core.token_to_id(s);
    };
    this.bosId = opts.bosId ?? idOf(tokenizerConfig.bos_token) ?? -1;
    const eos = idOf(tokenizerConfig.eos_token);
    const eosIds = [...(opts.eosId !== undefined ? [opts.eosId] : []), ...(opts.eosIds ?? []), ...(eos !== undefined ? [eos] : [])];
    this.eosIds = [...new Set(eosIds)];
    this.eosId = this.eosIds[0] ?? -1;
    const tpl = tokenizerConfig.chat_template;
    this.chatTemplate = typeof tpl === 'string' ? tpl : undefined;
  }

  /** Reads tokenizer.json and, when present, tokenizer_config.json from a file source. */
  static async fromSource(source: FileSource, opts: HfTokenizerOptions = {}): Promise<HfTokenizer> {
    const json = parseJson(await source.read('tokenizer.json'), source.describe('tokenizer.json'));
    const config = (await source.exists('tokenizer_config.json'))
      ? parseJson(await source.read('tokenizer_config.json'), source.describe('tokenizer_config.json'))
      : {};
    return new HfTokenizer(json, config, { name: source.describe('tokenizer.json'), ...opts });
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    if (opts.maxTokens !== undefined) {
      // A token stands for at most maxTokenBytes bytes of the normalized text (byte-level
      // symbols and SentencePiece's '▁' take at least as many bytes as what they stand for),
      // so this bound rejects an over-long text before any merging.
      const normalizer = this.core.normalizer;
      const atLeast = Math.ceil(utf8Length(normalizer ? normalizer.normalize(text) : text) / this.maxTokenBytes);
      if (atLeast > opts.maxTokens) throw new TokenLimitError(opts.maxTokens, atLeast);
    }
    const ids = this.core.encode(text, { add_special_tokens: opts.addSpecialTokens ?? false }).ids;
    if (opts.bos && ids[0] !== this.bosId) {
      if (this.bosId < 0) throw new TokenizerError('encode: bos requested but the tokenizer defines no BOS token');
      ids.unshift(this.bosId);
    }
    if (opts.eos && ids[ids.length - 1] !== this.eosId) {
      if (this.eosId < 0) throw new TokenizerError('encode: eos requested but the tokenizer defines no EOS token');
      ids.push(this.eosId);
    }
    if (opts.maxTokens !== undefined && ids.length > opts.maxTokens) throw new TokenLimitError(opts.maxTokens, ids.length);
    return ids;
  }

  private checkIds(ids: readonly number[]): void {
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new TokenizerError(`token id ${id} is outside the vocabulary [0, ${this.vocabSize})`);
      }
    }
  }

  decode(ids: readonly number[]): string {
    this.checkIds(ids);
    const kept = ids.filter((id) => id !== this.bosId && !this.eosIds.includes(id));
    // No clean-up of spaces before punctuation (tokenizer_config.json may ask for it): the text
    // stays what the ids spell, and a longer sequence's text starts with a shorter one's.
    return kept.length === 0 ? '' : this.core.decode(kept, { clean_up_tokenization_spaces: false });
  }

  /**
   * Decodes a growing window and emits only text that cannot change any more: the decoder may
   * merge pieces (byte fallback, leading-space rules), so text is held while it ends in U+FFFD.
   * The window starts a few ids back in `context` so the first piece decodes as a continuation.
   */
  createStreamDecoder(context: readonly number[] = []): StreamDecoder {
    this.checkIds(context);
    const ids = [...context];
    let prefixOffset = Math.max(0, ids.length - STREAM_CONTEXT);
    let readOffset = ids.length;
    const emit = (final: boolean): string => {
      const prefix = this.decode(ids.slice(prefixOffset, readOffset));
      const text = this.decode(ids.slice(prefixOffset));
      if (text.length > prefix.length && (final || !text.endsWith('\uFFFD'))) {
        prefixOffset = readOffset;
        readOffset = ids.length;
        return text.slice(prefix.length);
      }
      return '';
    };
    return {
      push: (id) => {
        this.checkIds([id]);
        ids.push(id);
        return emit(false);
      },
      flush: () => emit(true),
    };
  }

  /** Renders the chat template from tokenizer_config.json. */
  applyChatTemplate(messages: readonly ChatMessage[], opts: ChatTemplateOptions = {}): string {
    if (this.chatTemplate === undefined) throw new TokenizerError('applyChatTemplate: tokenizer_config.json has no chat_template');
    try {
      this.template ??= new Template(this.chatTemplate);
      // What transformers hands a template: the special tokens by name, the options, and the
      // caller's extra variables; raise_exception and strftime_now come with @huggingface/jinja.
      const special: Record<string, string> = {};
      for (const key of ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token']) {
        const s = tokenContent(this.config[key]);
        if (s !== undefined) special[key] = s;
      }
      return this.template.render({
        ...special,
        ...opts.variables,
        messages: messages as ChatMessage[],
        add_generation_prompt: opts.addGenerationPrompt ?? true,
        ...(opts.tools !== undefined ? { tools: opts.tools } : {}),
        ...(opts.documents !== undefined ? { documents: opts.documents } : {}),
      });
    } catch (e) {
      throw new TokenizerError(`applyChatTemplate: ${(e as Error).message}`, { cause: e });
    }
  }

  /** The chat template's text encoded as it stands: the template wrote the special tokens. */
  encodeChat(messages: readonly ChatMessage[], opts: ChatEncodeOptions = {}): number[] {
    return this.encode(this.applyChatTemplate(messages, opts), { maxTokens: opts.maxTokens });
  }
}
