// Stream a story from the bundled stories260K model with Hydra++ speculative decoding.
//   pnpm --filter @hydra-ts/example-node-generate start "Once upon a time"
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SpeculativeDecoder } from '@hydra-ts/decode';
import { loadHead } from '@hydra-ts/heads';
import { LlamaModel } from '@hydra-ts/model';
import { getDevice } from '@hydra-ts/tensor';
import { getTree } from '@hydra-ts/tree';

const modelDir = fileURLToPath(new URL('../../models/stories260K/', import.meta.url));
const prompt = process.argv[2] ?? 'Once upon a time';

const headsFile = modelDir + 'heads/hydra-pp.safetensors';
if (!existsSync(headsFile)) {
  console.error(`${headsFile} not found: train the Hydra++ heads first (see the README)`);
  process.exit(1);
}

// On Mesa's software driver (no GPU) decoding runs faster with no driver worker threads: each of a
// step's small dispatches then runs on the driver's queue thread. Other adapters ignore it.
const device = await getDevice({ softwareThreads: 0 });
const model = await LlamaModel.load(modelDir + 'stories260K.bin', { device, tokenizer: 'tok512.bin' });
const head = await loadHead(model, headsFile);

const stream = new SpeculativeDecoder(model).stream({ prompt, maxNewTokens: 200, head, tree: getTree('cpu-16') });
process.stdout.write(prompt);
let step = await stream.next();
for (; !step.done; step = await stream.next()) process.stdout.write(step.value.text);
const result = step.value;

console.log(`\n\nτ = ${result.meanAcceptedLength.toFixed(2)} tokens/step, ${result.tokensPerSecond.toFixed(1)} tokens/s on ${model.device.name}`);
head.dispose();
model.dispose();
