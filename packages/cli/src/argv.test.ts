import { describe, expect, it, vi } from 'vitest';
import { CommandTable, ParseError } from './argv';

/** Parses `args` with a table like hydra's; returns the flags the command was run with. */
async function parse(...args: string[]): Promise<Record<string, unknown>> {
  const cli = new CommandTable('hydra');
  let got: Record<string, unknown> | undefined;
  const run = (flags: Record<string, unknown>) => {
    got = flags;
  };
  cli
    .command('generate', 'generate text')
    .option('--prompt <text>', 'prompt', { default: '' })
    .option('--model <path>', 'model')
    .option('--max-new-tokens <n>', 'tokens', { default: 128 })
    .option('--temperature <t>', 'temperature', { default: 0 })
    .option('--json', 'json')
    .action(run as never);
  cli.command('train', 'train heads').option('--data <file>', 'corpus').option('--steps <n>', 'steps').option('--no-progress', 'no bar').action(run as never);
  cli.version('1.2.3');
  const outcome = await cli.run(['node', 'hydra', ...args]);
  if (outcome !== 'ran') return { outcome };
  return got!;
}

async function parseError(...args: string[]): Promise<ParseError> {
  const e = await parse(...args).then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ParseError);
  return e as ParseError;
}

describe('the command table', () => {
  it('keeps option values as the strings typed', async () => {
    expect((await parse('generate', '--prompt', '')).prompt).toBe('');
    const o = await parse('generate', '--prompt', '007', '--model', '2024');
    expect(o.prompt).toBe('007');
    expect(o.model).toBe('2024');
    expect((await parse('generate', '--prompt=1e3')).prompt).toBe('1e3');
  });

  it('takes values that start with a dash', async () => {
    expect((await parse('generate', '--temperature', '-1')).temperature).toBe('-1');
    expect((await parse('generate', '--max-new-tokens', '-5')).maxNewTokens).toBe('-5');
    expect((await parse('generate', '--prompt', '-hello')).prompt).toBe('-hello');
  });

  it('fills defaults, switches and negated switches', async () => {
    const o = await parse('generate', '--json');
    expect(o).toMatchObject({ prompt: '', maxNewTokens: 128, temperature: 0, json: true });
    expect((await parse('train')).progress).toBe(true);
    expect((await parse('train', '--no-progress')).progress).toBe(false);
  });

  it('keeps every value of a repeated option, in order', async () => {
    expect((await parse('train', '--data', '1', '--data', 'b.bin')).data).toEqual(['1', 'b.bin']);
    expect((await parse('train', '--data', 'a.bin')).data).toBe('a.bin');
  });

  it('names unknown commands and options, with a hint', async () => {
    const cmd = await parseError('frobnicate');
    expect(cmd.message).toMatch(/unknown command 'frobnicate'/);
    expect(cmd.hint).toBe('hydra --help');
    const opt = await parseError('generate', '--frobnicate');
    expect(opt.message).toMatch(/unknown option '--frobnicate'/);
    expect(opt.hint).toBe('hydra generate --help');
    expect((await parseError('generate', '--promt', 'x')).message).toMatch(/Did you mean --prompt\?/);
    expect((await parseError('generate', 'stray')).message).toMatch(/too many arguments/);
    expect((await parseError('generate', '--model')).message).toMatch(/--model <path>' argument missing/);
  });

  it('prints help and the version once', async () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect((await parse('--help')).outcome).toBe('help');
      expect((await parse('generate', '--help')).outcome).toBe('help');
      expect((await parse('--version')).outcome).toBe('version');
      expect((await parse()).outcome).toBe('help');
      const printed = out.mock.calls.map((c) => String(c[0])).join('');
      expect(printed.match(/Usage: hydra \[options\] \[command\]/g)).toHaveLength(2); // --help and no arguments
      expect(printed.match(/Usage: hydra generate/g)).toHaveLength(1);
      expect(printed.match(/^1\.2\.3$/gm)).toHaveLength(1);
    } finally {
      out.mockRestore();
    }
  });
});
