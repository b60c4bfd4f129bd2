/** The folder holding stories260K.bin, tok512.bin and heads/ (ends with a path separator). */
export declare const modelDir: string;
/** The llama2.c checkpoint (64-dim, 5 layers, 512-token vocabulary). */
export declare const checkpoint: string;
/** Its llama2.c tokenizer. */
export declare const tokenizer: string;
/** The folder of the trained heads (ends with a path separator). */
export declare const headsDir: string;
/** The trained draft heads, by decoder kind. */
export declare const heads: { readonly medusa: string; readonly hydra: string; readonly 'hydra++': string; readonly eagle: string; readonly eagle3: string };
