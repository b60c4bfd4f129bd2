#!/usr/bin/env node
// The hydra command.
import { cac } from 'cac';
import { HydraError } from '@hydra-ts/tensor';
import { runGenerate } from './commands/generate';
import { runConvert } from './commands/convert';

const cli = cac('hydra');

cli
  .command('generate', 'Generate text with autoregressive or speculative (draft-head) decoding')
  .option('--model <path>', 'llama2.c checkpoint (.bin) or Hugging Face directory (default: bundled stories260K)')
  .option('--prompt <text>', 'prompt text', { default: '' })
  .option('--max-new-tokens <n>', 'tokens to generate', { default: 128 })
  .option('--temperature <t>', 'sampling temperature (0 = greedy)', { default: 0 })
  .option('--top-k <k>', 'sample among the k most likely tokens')
  .option('--top-p <p>', 'nucleus sampling mass')
  .option('--seed <s>', 'random seed', { default: 0 })
  .option('--decoder <kind>', 'ar | medusa | hydra | hydra++ (default ar, or hydra with --heads)')
  .option('--heads <file>', 'draft-head file (.safetensors); default: the trained heads beside the model')
  .option('--tree <name|file>', 'candidate tree: medusa-63, cpu-8, cpu-16, cpu-24, chain-<n>, or a JSON file', { default: 'cpu-16' })
  .option('--verifier <kind>', 'greedy | typical | sample (default greedy at temperature 0, else sample)')
  .option('--compare <decoders>', 'also run these decoders on the same prompt and print their speed, e.g. ar,medusa')
  .option('--json', 'print one JSON object with the text and statistics')
  .option('--quiet', 'do not stream the text')
  .action(runGenerate);

cli
  .command('convert', 'Write a llama2.c checkpoint as a Hugging Face directory (config.json + model.safetensors)')
  .option('--model <path>', 'llama2.c checkpoint (.bin)')
  .option('--tokenizer <path>', 'llama2.c tokenizer (.bin); default: tokenizer.bin or tok<vocab>.bin beside the model')
  .option('--out <dir>', 'output directory')
  .action(runConvert);

cli.help();
cli.version('0.1.0');

async function main(): Promise<void> {
  try {
    cli.parse(process.argv, { run: false });
    if (!cli.matchedCommand) {
      cli.outputHelp();
      process.exitCode = process.argv.length > 2 ? 2 : 0;
      return;
    }
    await cli.runMatchedCommand();
  } catch (e) {
    if (e instanceof HydraError || (e as Error).name === 'CACError') {
      process.stderr.write(`hydra: ${(e as Error).name}: ${(e as Error).message}\n`);
      process.exitCode = 2;
    } else {
      throw e;
    }
  } finally {
    // Dawn keeps the event loop alive; exit once output is flushed.
    process.stdout.write('', () => process.exit());
  }
}

void main();
