// Runs the prompt-lookup head end to end on the bundled model and compares it with AR.
import { fileURLToPath } from 'node:url';
import { LlamaModel } from '@hydra-ts/model';
import { SpeculativeDecoder } from '@hydra-ts/decode';
import { getTree } from '@hydra-ts/tree';
import { PromptLookupHead } from './prompt-lookup-head';

const modelDir = fileURLToPath(new URL('../../../models/stories260K', import.meta.url));
const model = await LlamaModel.load(modelDir);
const decoder = new SpeculativeDecoder(model);
const prompt = 'Tom had a big red ball. Tom liked to play with the big red ball. One day Tom';

const ar = await decoder.generate({ prompt, maxNewTokens: 128 });
const head = new PromptLookupHead({ depth: 4 });
const spec = await decoder.generate({ prompt, maxNewTokens: 128, head, tree: getTree('cpu-8') });

console.log(prompt + spec.text);
console.log(`AR:            ${ar.tokensPerSecond.toFixed(1)} tokens/s, ${ar.steps} steps`);
console.log(`prompt lookup: ${spec.tokensPerSecond.toFixed(1)} tokens/s, ${spec.steps} steps, τ = ${spec.meanAcceptedLength.toFixed(2)}`);
console.log(`identical output: ${ar.text === spec.text}`);
model.dispose();
process.exit(0);
