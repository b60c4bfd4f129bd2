#!/usr/bin/env node
// The hydra command.
import { createRequire } from 'node:module';
import { HydraError } from '@hydra-ts/tensor';
import { runGenerate } from './commands/generate';
import { runChat } from './commands/chat';
import { runConvert } from './commands/convert';
import { runBench } from './commands/bench';
import { runTune } from './commands/tune';
import { runDistill } from './commands/distill';
import { runTrain } from './commands/train';
import { runExport } from './commands/export';
import { runServe } from './commands/serve';
import { CommandTable, ParseError } from './argv';
import { adoptParentStderr, isFilteredChild, runFiltered, wantsDawnFilter } from './dawn-log';

const cli = new CommandTable('hydra');

const DTYPE_FLAG = '--dtype <f32|f16|q8|q4>';
const DTYPE_HELP = 'weight matrices of the base model: f32, f16 (shader-f16), q8 (int8 groups) or q4 (4-bit groups; dims multiples of 4)';
const THREADS_FLAG = '--software-threads <n>';
const LOAD_FLAGS: Array<[string, string]> = [
  ['--max-context <n>', "cap the model's context (KV cache rows); needed when config.json's max_position_embeddings is out of proportion to the weights"],
  ['--allow-nonfinite', 'load weights holding NaN or infinities (refused by default)'],
];
const THREADS_HELP = 'worker threads of the llvmpipe software driver (LP_NUM_THREADS, unless set): 0 runs dispatches on its queue thread, fastest for decoding on few cores (default 0; other adapters ignore it)';

cli
  .command('generate', 'Generate text with autoregressive or speculative (draft-head) decoding')
  .option('--model <path>', 'llama2.c checkpoint (.bin) or Hugging Face directory (default: bundled stories260K)')
  .option(DTYPE_FLAG, DTYPE_HELP, { default: 'f32' })
  .option(THREADS_FLAG, THREADS_HELP)
  .option('--prompt <text>', 'prompt text', { default: '' })
  .option('--max-new-tokens <n>', 'tokens to generate', { default: 128 })
  .option('--temperature <t>', 'sampling temperature (0 = greedy)', { default: 0 })
  .option('--top-k <k>', 'sample among the k most likely tokens')
  .option('--top-p <p>', 'nucleus sampling mass')
  .option('--seed <s>', 'random seed', { default: 0 })
  .option('--decoder <kind>', 'ar | medusa | hydra | hydra++ | eagle (default ar, or hydra with --heads)')
  .option('--heads <file>', 'draft-head file (.safetensors); default: the trained heads beside the model')
  .option('--tree <name|file>', 'candidate tree: medusa-63, cpu-8, cpu-16, cpu-24, chain-<n>, root, or a JSON file; dynamic (grown each step from the draft probabilities, its budget from the measured step cost), dynamic-<N> (N candidates), either with -k<K> (children per node) and -d<D> (levels) (default: tuned for these heads on this device on first use, then cached)')
  .option('--verifier <kind>', 'greedy | typical | sample (default greedy at temperature 0, else sample)')
  .option('--compare <decoders>', 'also run these decoders on the same prompt and print their speed, e.g. ar,medusa')
  .option('--json', 'print one JSON object with the text and statistics')
  .option('--quiet', 'do not stream the text')
  .option('--profile', 'print GPU time per kernel of the main decoder (timestamp queries)')
  .option(...LOAD_FLAGS[0])
  .option(...LOAD_FLAGS[1])
  .action(runGenerate);

cli
  .command('chat', "Chat through the model's chat template: a REPL on a terminal (each turn reuses the KV cache), or one reply to --messages")
  .option('--model <path>', 'Hugging Face directory whose tokenizer_config.json has a chat_template')
  .option(DTYPE_FLAG, DTYPE_HELP, { default: 'f32' })
  .option(THREADS_FLAG, THREADS_HELP)
  .option('--messages <file>', 'JSON: an array of { role, content } or { "messages": [...] }; "-" reads stdin (the default when stdin is not a terminal)')
  .option('--system <text>', 'system message that starts the interactive conversation')
  .option('--max-tokens <n>', "most tokens per reply (default: the model's generation_config, else the rest of the context)")
  .option('--stop <text>', 'end the reply before this text (repeatable)')
  .option('--temperature <t>', "sampling temperature (0 = greedy; default: the model's generation_config)")
  .option('--top-k <k>', 'sample among the k most likely tokens')
  .option('--top-p <p>', 'nucleus sampling mass')
  .option('--seed <s>', 'random seed')
  .option('--decoder <kind>', 'ar | medusa | hydra | hydra++ | eagle (default ar, or hydra with --heads)')
  .option('--heads <file>', 'draft-head file (.safetensors); default: the trained heads beside the model')
  .option('--tree <name|file>', 'candidate tree: medusa-63, cpu-8, cpu-16, cpu-24, chain-<n>, or a JSON file; dynamic (grown each step from the draft probabilities, its budget from the measured step cost), dynamic-<N> (N candidates), either with -k<K> (children per node) and -d<D> (levels) (default: tuned for this device and these heads, cached)')
  .option('--json', 'with --messages: print one JSON object with the reply, its token ids and statistics')
  .option('--interactive', 'the REPL even when stdin is not a terminal')
  .action(runChat);

cli
  .command('serve', 'Serve the model over an OpenAI-compatible HTTP API: /v1/chat/completions, /v1/completions, /v1/models, /health')
  .option('--model <path>', 'llama2.c checkpoint (.bin) or Hugging Face directory (default: the bundled stories260K)')
  .option(DTYPE_FLAG, DTYPE_HELP, { default: 'f32' })
  .option(THREADS_FLAG, THREADS_HELP)
  .option('--host <address>', 'address to listen on (default 127.0.0.1: this machine only)')
  .option('--port <n>', 'port to listen on; 0 picks a free one (default 8080)')
  .option('--name <id>', "the model's name in the API (default: the model's file or folder name)")
  .option('--decoder <kind>', 'ar | medusa | hydra | hydra++ | eagle (default ar, or the kind of the --heads file)')
  .option('--heads <file>', 'draft-head file (.safetensors) or an engine heads folder; default: the trained heads beside the model')
  .option('--tree <name|file>', 'candidate tree, fixed or dynamic[-<N>][-k<K>] (default: tuned for this device and these heads, cached)')
  .option('--sampled-verifier <kind>', 'verifier for requests with temperature > 0: sample (lossless, default) or typical')
  .option('--max-queue <n>', 'requests that may wait while one generates; more get 429 with Retry-After (default 16)')
  .option('--log', "fastify's request log on stdout")
  .option(...LOAD_FLAGS[0])
  .option(...LOAD_FLAGS[1])
  .action(runServe);

cli
  .command('convert', 'Write a llama2.c checkpoint (or random weights of a real shape) as a Hugging Face directory (config.json + model.safetensors)')
  .option('--model <path>', 'llama2.c checkpoint (.bin)')
  .option('--random <shape>', 'instead of --model: random weights of a real model shape (smollm2-135m, stories15M)')
  .option('--seed <s>', 'seed of the --random weights', { default: 1 })
  .option('--tokenizer <path>', 'llama2.c tokenizer (.bin); default: tokenizer.bin or tok<vocab>.bin beside the model (with --random: none unless given)')
  .option('--out <dir>', 'output directory')
  .option('--force', 'overwrite a directory that already holds a model')
  .option(...LOAD_FLAGS[1])
  .action(runConvert);

cli
  .command('distill', 'Sample a training corpus from the frozen base model (self-distillation) into a token file')
  .option('--model <path>', 'llama2.c checkpoint (.bin) or Hugging Face directory (default: bundled stories260K)')
  .option('--out <file>', 'token file to write (see @hydra-ts/train README for the format)')
  .option('--sequences <n>', 'sequences to sample', { default: 256 })
  .option('--length <n>', 'tokens per sequence, prompt included', { default: 128 })
  .option('--temperature <t>', 'sampling temperature', { default: 1 })
  .option('--sampled-tokens <n>', 'sample only the first n new tokens at --temperature, then continue greedily (default: all sampled)')
  .option('--seed <s>', 'sequence i samples with seed + i', { default: 0 })
  .option('--prompts <file>', 'text (one prompt a line) or JSONL prompts, used in turn; default BOS alone')
  .option('--chat', '--prompts holds conversations (ShareGPT JSON, MT-Bench or messages JSONL), rendered with the model\'s chat template')
  .option('--concurrency <n>', 'sequences sampled at once', { default: 8 })
  .option('--quiet', 'no progress bar')
  .option(...LOAD_FLAGS[0])
  .option(...LOAD_FLAGS[1])
  .action(runDistill);

cli
  .command('train', 'Train draft heads (Medusa, Hydra, Hydra++, MLPSpeculator, EAGLE, EAGLE-3) on a corpus with teacher distillation')
  .option('--model <path>', 'llama2.c checkpoint (.bin) or Hugging Face directory (default: bundled stories260K)')
  .option('--head <kind>', 'medusa | hydra | hydra++ | mlp-speculator | eagle | eagle3')
  .option('--data <file>', 'token file (hydra distill), JSONL or text corpus; repeat to pool several')
  .option('--out <file>', 'heads file to write (.safetensors); beside it: .train.json, .curves.html and the resumable checkpoint sets in .checkpoints/')
  .option('--steps <n>', 'optimiser steps', { default: 1000 })
  .option('--batch <n>', 'sequences per step', { default: 8 })
  .option('--length <n>', 'tokens per training sequence', { default: 128 })
  .option('--lr <x>', 'peak learning rate', { default: 1e-3 })
  .option('--warmup <n>', 'warm-up steps', { default: 50 })
  .option('--final-lr-mult <x>', 'final learning rate as a fraction of the peak', { default: 0.1 })
  .option('--weight-decay <x>', 'AdamW weight decay', { default: 0 })
  .option('--clip <x>', 'clip the global gradient norm to this', { default: 1 })
  .option('--dropout <p>', 'dropout on head inputs', { default: 0 })
  .option('--heads <n>', 'number of heads (tree depth)', { default: 4 })
  .option('--layers <n>', 'blocks per head (default 1; 4 for hydra++)')
  .option('--shared-output', 'project through the frozen base output layer')
  .option('--lm-weight <x>', 'weight of the cross-entropy on the data tokens', { default: 0 })
  .option('--teacher-weight <x>', 'weight of the cross-entropy on the base model distribution', { default: 1 })
  .option('--teacher-top-k <k|full>', 'keep the teacher distribution in full or as its k largest probabilities (default: full up to 256 MiB, else 32)')
  .option('--feature-weight <x>', 'eagle heads: weight of the smooth-L1 regression of the drafted feature onto the base model\'s', { default: 1 })
  .option('--feature-noise <a>', 'eagle heads: uniform noise in [-a, a] on the input features while training', { default: 0 })
  .option('--eagle-engine <vllm|sglang>', 'eagle heads: train the draft layer that engine runs (no input norm; for vllm no fc bias either), for hydra export --format eagle --engine <same>')
  .option('--draft-vocab <n>', 'score only the n most frequent tokens of the data (eagle3, medusa, hydra, hydra++; eagle3 default: min(vocab, 32000), the others\' the whole vocabulary)')
  .option('--decay-heads <x>', 'head i loss weight = x^i (1 = equal)', { default: 1 })
  .option('--holdout <x>', 'fraction of sequences held out for evaluation', { default: 0.05 })
  .option('--seed <s>', 'seed of initialisation, batch order and dropout', { default: 0 })
  .option('--eval-every <n>', 'evaluate held-out accuracy every n steps (0 = only at the end)', { default: 100 })
  .option('--eval-prompts <file>', 'held-out prompts (text, one a line) for τ at the end')
  .option('--eval-tree <name>', 'tree for τ', { default: 'cpu-16' })
  .option('--checkpoint-every <n>', 'save the checkpoint every n steps', { default: 100 })
  .option('--resume', 'continue from the checkpoint at --out')
  .option('--quiet', 'no progress bar')
  .option(...LOAD_FLAGS[0])
  .option(...LOAD_FLAGS[1])
  .action(runTrain);

cli
  .command('export', 'Write draft heads as the files a serving engine loads (vLLM, TGI, SGLang): config.json + safetensors')
  .option('--heads <file>', 'heads file (.safetensors from hydra train) or an engine heads directory')
  .option('--format <name>', 'vllm-medusa | tgi-medusa | mlp-speculator | eagle | eagle3 (see docs/serving.md)')
  .option('--out <dir>', 'output directory')
  .option('--model <path>', 'the base model the heads were trained for, to check them against (default: bundled stories260K)')
  .option('--base-model <id|path>', 'base_model_name_or_path written to config.json (TGI loads the base model from it; default: --model when it is a Hugging Face directory)')
  .option('--dtype <f32|f16|bf16>', 'stored dtype of the tensors', { default: 'f32' })
  .option('--engine <vllm|sglang>', 'eagle: the engine the draft model is for (vLLM\'s fc has no bias, SGLang\'s has one); default vllm')
  .action(runExport);

cli
  .command('bench', 'Benchmark decoders interleaved over the same prompts: τ, tokens/s, speedup, time per phase, lossless check')
  .option('--model <path>', 'llama2.c checkpoint (.bin) or Hugging Face directory (default: bundled stories260K)')
  .option(DTYPE_FLAG, DTYPE_HELP, { default: 'f32' })
  .option(THREADS_FLAG, THREADS_HELP)
  .option('--prompts <file>', '.txt (one prompt per line) or .jsonl ("prompt"/"text"/"turns"[0]); default: the bundled story openings')
  .option('--decoders <list>', 'comma-separated: ar, medusa, hydra, hydra++, eagle', { default: 'ar,medusa,hydra,hydra++' })
  .option('--max-new-tokens <n>', 'tokens per prompt', { default: 64 })
  .option('--verifier <kind>', 'greedy | typical | sample (default greedy at temperature 0)')
  .option('--temperature <t>', 'sampling temperature (0 = greedy)', { default: 0 })
  .option('--seed <s>', 'random seed', { default: 0 })
  .option('--tree <name|file>', 'candidate tree for every speculative decoder (default: each decoder\'s tree tuned for its heads on this device, cached)')
  .option('--trees <list>', 'several trees, each benchmarked with every speculative decoder, e.g. tuned,medusa-63,dynamic,dynamic-16,my-tree.json (tuned: each decoder\'s tuned tree)')
  .option('--heads-dir <dir>', 'directory with medusa/hydra/hydra-pp.safetensors (default: heads/ beside the model)')
  .option('--untrained-heads', 'where a heads file is missing, bench fresh createHead heads instead (said in the output)')
  .option('--num-heads <n>', 'number of untrained heads (default: the deepest tree)')
  .option('--limit <k>', 'use the first k prompts')
  .option('--json <file>', 'write every per-prompt figure as JSON')
  .option('--html <file>', 'write a self-contained HTML page with charts')
  .option('--replay', 'estimate for untrained heads of the model\'s real shapes: their kernels run, their proposals are replaced by the AR continuation at the trained stories260K heads\' acceptance rates')
  .option('--host-proposals', 'heads read their tokens back before the verify pass (two read-backs a step): head ms/step is then their whole time')
  .option('--no-progress', 'no progress bar')
  .option(...LOAD_FLAGS[0])
  .option(...LOAD_FLAGS[1])
  .action(async (flags) => {
    await runBench(flags);
  });

cli
  .command('tune', 'Tune the candidate tree for these heads on this device now (the default tree of generate and bench, cached) and print the measurements')
  .option('--model <path>', 'llama2.c checkpoint (.bin) or Hugging Face directory (default: bundled stories260K)')
  .option(DTYPE_FLAG, DTYPE_HELP, { default: 'f32' })
  .option(THREADS_FLAG, THREADS_HELP)
  .option('--decoder <kind>', 'medusa | hydra | hydra++ | eagle', { default: 'hydra++' })
  .option('--heads <file>', 'heads file (default: the trained heads beside the model)')
  .option('--heads-dir <dir>', 'directory with the trained heads files')
  .option('--untrained-heads', 'where the heads file is missing, tune for fresh createHead heads (said in the output)')
  .option('--num-heads <n>', 'number of untrained heads (default: the calibration tree depth)')
  .option('--prompts <file>', 'calibration prompts (default: the bundled calibration openings)')
  .option('--limit <k>', 'calibration prompts to use', { default: 8 })
  .option('--max-new-tokens <n>', 'tokens per calibration prompt', { default: 48 })
  .option('--calibration-tree <name|file>', 'wide tree whose nodes are scored (default: the best 63 nodes under the prior rates)')
  .option('--rows <list>', 'tree row counts to time, from 1 (default 1,2,3,4,6,8,12,16,24,32,48,64)')
  .option('--max-nodes <n>', 'largest tree considered (candidates, root excluded)', { default: 63 })
  .option('--budget-ms <ms>', 'time the measurements aim for', { default: 5000 })
  .option('--out <file>', 'also write the tree as JSON (loadable by generate --tree and bench --trees)')
  .option(...LOAD_FLAGS[0])
  .option(...LOAD_FLAGS[1])
  .action(runTune);

cli.help();
cli.version((createRequire(import.meta.url)('../package.json') as { version: string }).version);

/** A command that will run (not its help): it may open a device, so Dawn's log needs filtering. */
function runsCommand(argv: readonly string[]): boolean {
  const args = argv.slice(2);
  return cli.program.commands.some((c) => c.name() === args[0]) && !args.includes('--help') && !args.includes('-h');
}

async function main(): Promise<void> {
  if (isFilteredChild()) adoptParentStderr();
  else if (wantsDawnFilter() && runsCommand(process.argv)) {
    process.exitCode = await runFiltered();
    return;
  }
  try {
    await cli.run(process.argv);
  } catch (e) {
    if (e instanceof ParseError) {
      process.stderr.write(`hydra: ${e.message} (see \`${e.hint}\`)\n`);
      process.exitCode = 2;
    } else if (e instanceof HydraError) {
      process.stderr.write(`hydra: ${e.name}: ${e.message}\n`);
      process.exitCode = 2;
    } else {
      // Not an error of ours or of the user's: say so, with the stack, and fail.
      process.stderr.write(`hydra: unexpected error (please report it with the command line):\n${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    }
  } finally {
    // Dawn keeps the event loop alive; exit once output is flushed.
    process.stdout.write('', () => process.exit());
  }
}

void main();
