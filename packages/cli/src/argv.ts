// cac reads any option value that looks like a number as a number: `--prompt ""` arrives as 0,
// `--prompt 007` as 7 and `--model 2024` as 2024. Options whose values are text (prompts, paths,
// names) get their strings back from argv here, after cac has parsed it.
import type { CAC } from 'cac';

/** Options (cac's camelCase names) whose values are text, never numbers. */
export const TEXT_OPTIONS: ReadonlySet<string> = new Set([
  'prompt', 'model', 'tokenizer', 'out', 'heads', 'headsDir', 'head', 'tree', 'trees', 'calibrationTree', 'evalTree',
  'data', 'prompts', 'evalPrompts', 'json', 'html', 'decoder', 'decoders', 'compare', 'verifier', 'rows', 'dtype',
  'messages', 'stop', 'system',
]);

/**
 * The raw values given to `--<flag>` in argv, as `--flag value` or `--flag=value`, in order. Like
 * cac, a following argument that starts with "-" is not taken as the value (cac then reports the
 * value missing), and nothing after a bare `--` is read.
 */
export function rawOptionValues(argv: readonly string[], flag: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    if (a === `--${flag}`) {
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('-')) {
        values.push(next);
        i++;
      }
    } else if (a.startsWith(`--${flag}=`)) {
      values.push(a.slice(flag.length + 3));
    }
  }
  return values;
}

/** Puts the raw strings of the matched command's text options back into `cli.options`. */
export function restoreTextOptions(cli: CAC, argv: readonly string[]): void {
  const command = cli.matchedCommand;
  if (!command) return;
  for (const option of command.options) {
    if (!option.required || !TEXT_OPTIONS.has(option.name)) continue;
    const flag = /--([\w-]+)/.exec(option.rawName)?.[1];
    if (!flag) continue;
    const raw = rawOptionValues(argv, flag);
    if (raw.length > 0) cli.options[option.name] = raw.length === 1 ? raw[0] : raw;
  }
}
