import { cac } from 'cac';
import { describe, expect, it } from 'vitest';
import { rawOptionValues, restoreTextOptions } from './argv';

function parse(...args: string[]): Record<string, unknown> {
  const cli = cac('hydra');
  cli
    .command('generate')
    .option('--prompt <text>', 'prompt', { default: '' })
    .option('--model <path>', 'model')
    .option('--max-new-tokens <n>', 'tokens', { default: 128 })
    .option('--json', 'json');
  cli.command('train').option('--data <file>', 'corpus').option('--steps <n>', 'steps');
  const argv = ['node', 'hydra', ...args];
  cli.parse(argv, { run: false });
  restoreTextOptions(cli, argv);
  return cli.options;
}

describe('text options keep their strings', () => {
  it('keeps prompts and paths that look like numbers as typed', () => {
    expect(parse('generate', '--prompt', '').prompt).toBe('');
    expect(parse('generate', '--prompt', '007', '--model', '2024').prompt).toBe('007');
    expect(parse('generate', '--model', '2024').model).toBe('2024');
    expect(parse('generate', '--prompt=1e3').prompt).toBe('1e3');
  });

  it('leaves numeric options, booleans and defaults to cac', () => {
    const o = parse('generate', '--max-new-tokens', '16', '--json');
    expect(o.maxNewTokens).toBe(16);
    expect(o.json).toBe(true);
    expect(o.prompt).toBe('');
    expect(parse('train', '--steps', '5').steps).toBe(5);
  });

  it('keeps every value of a repeated option, in order', () => {
    expect(parse('train', '--data', '1', '--data', 'b.bin').data).toEqual(['1', 'b.bin']);
  });

  it('takes no value that starts with a dash and nothing after --', () => {
    expect(rawOptionValues(['--prompt', '--json'], 'prompt')).toEqual([]);
    expect(rawOptionValues(['--prompt', 'a', '--', '--prompt', 'b'], 'prompt')).toEqual(['a']);
    expect(rawOptionValues(['--prompts', 'x.txt'], 'prompt')).toEqual([]);
  });
});
