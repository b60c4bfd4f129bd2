// What every decoding loop shares about prompts and endings (the loops themselves live in
// @hydra-ts/decode).

/** Why a generation ended. */
export type StopReason = 'eos' | 'max-tokens' | 'context' | 'aborted';

/**
 * What is wrong with a prompt that is neither text nor token ids (untyped callers, parsed
 * arguments), or null when it is one of them. Each caller throws it as its own error class.
 */
export function promptTypeProblem(prompt: unknown): string | null {
  if (typeof prompt === 'string' || Array.isArray(prompt) || ArrayBuffer.isView(prompt)) return null;
  return `prompt is ${prompt === null ? 'null' : typeof prompt}; expected a string or an array of token ids`;
}
