// The tokenizer interface every model uses, whatever file it came from.

export interface EncodeOptions {
  /** Prepend the BOS id. Default false. */
  bos?: boolean;
  /** Append the EOS id. Default false. */
  eos?: boolean;
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
  readonly bosId: number;
  readonly eosId: number;
  encode(text: string, opts?: EncodeOptions): number[];
  /** Text of a whole id sequence; BOS/EOS render as nothing. */
  decode(ids: readonly number[]): string;
  createStreamDecoder(): StreamDecoder;
}
