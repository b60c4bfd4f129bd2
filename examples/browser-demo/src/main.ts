// AR, Medusa, Hydra and Hydra++ on one WebGPU device, one after another, each streaming into
// its own pane. Greedy decoding is lossless, so all four panes must end with the same text.
import { SpeculativeDecoder, type GenerateResult } from '@hydra-ts/decode';
import { loadHead, type DraftHead } from '@hydra-ts/heads';
import { httpFileSource, LlamaModel } from '@hydra-ts/model';
import { DeviceError, getDevice } from '@hydra-ts/tensor';
import { getTree, trees, type CandidateTree } from '@hydra-ts/tree';

const MODEL_URL = new URL('./models/', document.baseURI).href;

interface Decoder {
  id: 'ar' | 'medusa' | 'hydra' | 'hydra++';
  title: string;
  /** Heads file under models/, or null for the autoregressive baseline. */
  headsFile: string | null;
}

const DECODERS: Decoder[] = [
  { id: 'ar', title: 'Autoregressive', headsFile: null },
  { id: 'medusa', title: 'Medusa', headsFile: 'heads/medusa.safetensors' },
  { id: 'hydra', title: 'Hydra', headsFile: 'heads/hydra.safetensors' },
  { id: 'hydra++', title: 'Hydra++', headsFile: 'heads/hydra-pp.safetensors' },
];

/** One decoder's column: its heads (if found) and the DOM it writes to. */
interface Pane {
  decoder: Decoder;
  head: DraftHead | null;
  /** Why there is no head, when there should be one. */
  missing: string | null;
  root: HTMLElement;
  output: HTMLElement;
  note: HTMLElement;
  tps: HTMLElement;
  tau: HTMLElement;
  steps: HTMLElement;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const statusLine = $<HTMLParagraphElement>('status');
const promptInput = $<HTMLInputElement>('prompt');
const maxTokensInput = $<HTMLInputElement>('max-tokens');
const treeSelect = $<HTMLSelectElement>('tree');
const runButton = $<HTMLButtonElement>('run');

function setState(state: 'loading' | 'ready' | 'running' | 'done' | 'no-webgpu' | 'error', message: string): void {
  document.body.dataset.state = state;
  statusLine.textContent = message;
}

function createPane(decoder: Decoder): Pane {
  const root = document.createElement('section');
  root.className = 'pane';
  root.dataset.decoder = decoder.id;
  root.dataset.state = 'idle';
  root.innerHTML = `
    <h2>${decoder.title} <small></small></h2>
    <div class="stats">
      <div class="stat"><b data-stat="tps">–</b><span>tokens/s</span></div>
      <div class="stat"><b data-stat="tau">–</b><span>τ tokens/step</span></div>
      <div class="stat"><b data-stat="steps">–</b><span>steps</span></div>
    </div>
    <div class="output"></div>
    <div class="note"></div>`;
  $('panes').append(root);
  const q = (sel: string) => root.querySelector(sel) as HTMLElement;
  return {
    decoder, head: null, missing: null, root,
    output: q('.output'), note: q('.note'),
    tps: q('[data-stat="tps"]'), tau: q('[data-stat="tau"]'), steps: q('[data-stat="steps"]'),
  };
}

/** Fetches and loads a heads file; a missing file is reported, not papered over. */
async function loadPaneHead(model: LlamaModel, pane: Pane): Promise<void> {
  const file = pane.decoder.headsFile;
  if (!file) return;
  const url = MODEL_URL + file;
  const res = await fetch(url);
  if (!res.ok) {
    pane.missing = `heads not found: ${file} (HTTP ${res.status}). Train them (see the README) and rebuild the demo.`;
    return;
  }
  pane.head = await loadHead(model, new Uint8Array(await res.arrayBuffer()));
  (pane.root.querySelector('h2 small') as HTMLElement).textContent = `${pane.head.depth} heads`;
}

function showIdle(pane: Pane): void {
  pane.output.replaceChildren();
  pane.note.textContent = '';
  pane.tps.textContent = pane.tau.textContent = pane.steps.textContent = '–';
  if (pane.missing) {
    pane.root.dataset.state = 'missing';
    pane.output.textContent = pane.missing;
  } else {
    pane.root.dataset.state = 'idle';
  }
}

/** The chosen tree, cut down to what this head can fill (a tree deeper than the head is an error). */
function treeFor(head: DraftHead, tree: CandidateTree): CandidateTree {
  return tree.depth <= head.depth ? tree : getTree(`chain-${head.depth}`);
}

async function runPane(model: LlamaModel, pane: Pane, prompt: string, maxNewTokens: number, tree: CandidateTree): Promise<GenerateResult | null> {
  if (pane.missing) return null;
  const { root, output } = pane;
  root.dataset.state = 'running';
  output.replaceChildren(Object.assign(document.createElement('span'), { className: 'prompt-text', textContent: prompt }));
  const stepTree = pane.head ? treeFor(pane.head, tree) : null;
  pane.note.textContent = stepTree ? `tree ${stepTree.name} (${stepTree.size} nodes)` : 'one token per forward pass';

  const decoder = new SpeculativeDecoder(model);
  const it = decoder.stream({ prompt, maxNewTokens, head: pane.head, tree: stepTree ?? undefined });
  const started = performance.now();
  let tokens = 0;
  let steps = 0;
  let accepted = 0;
  for (;;) {
    const r = await it.next();
    if (r.done) {
      const result = r.value;
      pane.tps.textContent = result.tokensPerSecond.toFixed(1);
      pane.tau.textContent = result.meanAcceptedLength.toFixed(2);
      pane.steps.textContent = String(result.steps);
      root.dataset.state = 'done';
      root.dataset.text = result.text;
      root.dataset.tau = String(result.meanAcceptedLength);
      root.dataset.tps = String(result.tokensPerSecond);
      root.dataset.steps = String(result.steps);
      const t = result.timing;
      pane.note.textContent +=
        ` · ${result.tokenIds.length} tokens (${result.stopReason})` +
        ` · base ${Math.round(t.baseMs)} ms${pane.head ? `, heads ${Math.round(t.headMs)} ms` : ''}`;
      return result;
    }
    const ev = r.value;
    tokens += ev.tokens.length;
    steps += 1;
    accepted += ev.acceptedLength;
    if (ev.text) {
      const span = document.createElement('span');
      span.className = `step ${steps % 2 === 1 ? 'a' : 'b'}`;
      span.title = `step ${steps}: ${ev.acceptedLength} token${ev.acceptedLength === 1 ? '' : 's'} accepted`;
      span.textContent = ev.text;
      output.append(span);
    }
    // Live figures include the prompt's prefill; the final ones (from the decoder) do not.
    pane.tps.textContent = (tokens / ((performance.now() - started) / 1000)).toFixed(1);
    pane.tau.textContent = (accepted / steps).toFixed(2);
    pane.steps.textContent = String(steps);
    // Let the page paint between steps.
    await new Promise((resolve) => requestAnimationFrame(resolve));
  }
}

async function main(): Promise<void> {
  for (const name of Object.keys(trees)) treeSelect.add(new Option(name, name, name === 'cpu-16', name === 'cpu-16'));
  const panes = DECODERS.map(createPane);

  let device;
  try {
    device = await getDevice();
  } catch (e) {
    if (!(e instanceof DeviceError)) throw e;
    const banner = $('no-webgpu');
    banner.hidden = false;
    banner.textContent = `WebGPU is not available, so nothing can run here. ${e.message}`;
    $('panes').hidden = true;
    setState('no-webgpu', 'No WebGPU');
    return;
  }

  setState('loading', `Loading stories260K on ${device.name}…`);
  const model = await LlamaModel.load(httpFileSource(MODEL_URL), { device, checkpoint: 'stories260K.bin', tokenizer: 'tok512.bin' });
  for (const pane of panes) {
    try {
      await loadPaneHead(model, pane);
    } catch (e) {
      pane.missing = `${pane.decoder.title} heads failed to load: ${(e as Error).message}`;
    }
    showIdle(pane);
  }
  // Shaders compile on first use (seconds on software adapters): run every decoder briefly on the
  // built-in trees first, so no pane's tokens/s includes compilation.
  setState('loading', `Compiling kernels on ${device.name}…`);
  const warm = new SpeculativeDecoder(model);
  for (const pane of panes) {
    if (pane.missing) continue;
    for (const name of pane.head ? Object.keys(trees).filter((n) => n !== 'medusa-63') : ['root']) {
      const tree = pane.head ? treeFor(pane.head, getTree(name)) : undefined;
      await warm.generate({ prompt: 'Once', maxNewTokens: 3, head: pane.head, tree });
    }
  }
  const c = model.config;
  setState('ready', `stories260K (dim ${c.dim}, ${c.nLayers} layers, vocab ${c.vocabSize}) on ${device.name}`);
  runButton.disabled = false;

  $<HTMLFormElement>('controls').addEventListener('submit', async (event) => {
    event.preventDefault();
    const prompt = promptInput.value;
    const maxNewTokens = Math.max(1, Math.min(256, Math.floor(Number(maxTokensInput.value)) || 48));
    const tree = getTree(treeSelect.value);
    runButton.disabled = true;
    setState('running', 'Decoding…');
    panes.forEach(showIdle);
    let failed = 0;
    for (const pane of panes) {
      setState('running', `Decoding with ${pane.decoder.title}…`);
      try {
        await runPane(model, pane, prompt, maxNewTokens, tree);
      } catch (e) {
        // One decoder failing should not hide the others' results.
        failed++;
        console.error(e);
        pane.root.dataset.state = 'error';
        pane.output.textContent = `${(e as Error).name}: ${(e as Error).message}`;
      }
    }
    setState(failed ? 'error' : 'done', failed ? `${failed} decoder(s) failed; see their panes` : `Done on ${device.name}`);
    runButton.disabled = false;
  });
}

main().catch((e: unknown) => {
  setState('error', `Error: ${(e as Error).message}`);
  console.error(e);
});
