// The tokenizer interface every model uses, whatever file it came from.

export interface EncodeOptions {
  /**
   * Add what the tokenizer itself adds around a single text: for a Hugging Face tokenizer.json
   * its post-processor (Llama 3 prepends <|begin_of_text|>, Qwen adds nothing), for a llama2.c
   * tokenizer BOS as llama2.c's encode(bos=1) does. Default false. Use it for plain-text prompts;
   * a rendered chat template already holds its special tokens (see encodeChat).
   */
  addSpecialTokens?: boolean;
  /** Start with the BOS id (never doubled when addSpecialTokens put it there already). Default false. */
  bos?: boolean;
  /** End with the EOS id (never doubled). Default false. */
  eos?: boolean;
  /**
   * Throw TokenLimitError when the text needs more than this many tokens. The check may run
   * before the text is fully merged, so an over-long prompt is rejected cheaply.
   */
  maxTokens?: number;
}

/** A chat turn as transformers' apply_chat_template takes it. */
export interface ChatMessage {
  role: string;
  content: string;
  /** Other fields a template may read (tool_calls, name, tool_call_id, ...). */
  [field: string]: unknown;
}

export interface ChatTemplateOptions {
  /** End with the header that opens the assistant's turn. Default true. */
  addGenerationPrompt?: boolean;
  /** Tool (function) schemas, passed to the template as `tools`. */
  tools?: readonly Record<string, unknown>[];
  /** Retrieved documents, passed to the template as `documents`. */
  documents?: readonly Record<string, unknown>[];
  /** Further template variables (e.g. `enable_thinking` for Qwen 3), as transformers' **kwargs. */
  variables?: Record<string, unknown>;
}

export interface ChatEncodeOptions extends ChatTemplateOptions {
  /** As EncodeOptions.maxTokens. */
  maxTokens?: number;
}

/** Turns generated ids into text as they arrive, never splitting a UTF-8 character. */
export interface StreamDecoder {
  /** Text that became complete with this id (may be ''). */
  push(id: number): string;
  /** Whatever is still held back (incomplete bytes become U+FFFD). */
  flush(): string;
}

export interface Tokenizer {
  readonly vocabSize: number;
  /** -1 when the tokenizer defines none. */
  readonly bosId: number;
  /** The first of eosIds; -1 when there is none. */
  readonly eosId: number;
  /** Every id that ends a generated reply (e.g. Llama 3's <|end_of_text|> and <|eot_id|>). */
  readonly eosIds: readonly number[];
  encode(text: string, opts?: EncodeOptions): number[];
  /** Text of a whole id sequence; BOS and the EOS ids render as nothing. */
  decode(ids: readonly number[]): string;
  /**
   * `context`: ids already in the sequence (the prompt). Their text is not emitted, but what
   * follows is decoded relative to them, as transformers' TextStreamer does, so a continuation
   * keeps the space that starts it.
   */
  createStreamDecoder(context?: readonly number[]): StreamDecoder;
  /**
   * Renders the chat template and encodes the result without adding special tokens again, as
   * transformers' apply_chat_template(messages, tokenize=True). Absent without a template.
   */
  encodeChat?(messages: readonly ChatMessage[], opts?: ChatEncodeOptions): number[];
  /** The rendered chat template as text. */
  applyChatTemplate?(messages: readonly ChatMessage[], opts?: ChatTemplateOptions): string;
}
