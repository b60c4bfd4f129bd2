// Benchmark prompt files: .txt (one prompt per line) or .jsonl (one object per line with
// "prompt", "text", or "turns"[0], as in MT-Bench style files).
import { existsSync } from 'node:fs';
import { readFileChecked } from '@hydra-ts/model';
import { HydraError } from '@hydra-ts/tensor';

/** A prompt file that is missing, empty or malformed. */
export class PromptFileError extends HydraError {}

/** Prompts in a file's text; `file` is only used in messages and to pick the format. */
export function parsePrompts(text: string, file: string): string[] {
  const lines = text.split(/\r?\n/);
  const prompts: string[] = [];
  if (file.endsWith('.jsonl')) {
    lines.forEach((line, i) => {
      if (line.trim() === '') return;
      let row: unknown;
      try {
        row = JSON.parse(line);
      } catch (e) {
        throw new PromptFileError(`${file}:${i + 1}: not JSON (${(e as Error).message}); expected one object per line`);
      }
      prompts.push(promptOf(row, `${file}:${i + 1}`));
    });
  } else if (file.endsWith('.txt')) {
    for (const line of lines) if (line.trim() !== '') prompts.push(line.trim());
  } else {
    throw new PromptFileError(`${file}: unknown prompt file type; expected .txt (one prompt per line) or .jsonl`);
  }
  if (prompts.length === 0) throw new PromptFileError(`${file}: no prompts; expected at least one non-empty line`);
  return prompts;
}

function promptOf(row: unknown, where: string): string {
  if (row === null || typeof row !== 'object' || Array.isArray(row)) {
    throw new PromptFileError(`${where}: expected an object with "prompt", "text" or "turns"`);
  }
  const r = row as Record<string, unknown>;
  const value = r.prompt ?? r.text ?? (Array.isArray(r.turns) ? r.turns[0] : undefined);
  if (typeof value !== 'string' || value.trim() === '') {
    throw new PromptFileError(`${where}: expected a non-empty string in "prompt", "text" or "turns"[0]`);
  }
  return value.trim();
}

/** Benchmark prompts are a few KiB; refuse anything far larger unread. */
const MAX_PROMPT_FILE_BYTES = 64 * 2 ** 20;

/** Reads and parses a prompt file; `limit` keeps the first K prompts. */
export function readPrompts(file: string, limit?: number): string[] {
  if (!existsSync(file)) throw new PromptFileError(`${file}: no such prompt file`);
  const bytes = readFileChecked(file, { maxBytes: MAX_PROMPT_FILE_BYTES, expected: 'a prompt file (.txt or .jsonl)' });
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e) {
    throw new PromptFileError(`${file}: not UTF-8 text; expected a prompt file (.txt or .jsonl)`, { cause: e });
  }
  const prompts = parsePrompts(text, file);
  return limit === undefined ? prompts : prompts.slice(0, limit);
}
