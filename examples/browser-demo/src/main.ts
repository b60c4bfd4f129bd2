// AR, Medusa, Hydra and Hydra++ on one WebGPU device, one after another, each streaming into its
// own pane. Everything that decodes runs in a Web Worker (engine.worker.ts): the page only sends
// requests and paints chunks, so it stays responsive while the worker decodes. The model and heads
// are loaded by URL, with a progress bar, and kept in Cache Storage: a reload downloads nothing.
// Greedy decoding is lossless, so all four panes must end with the same text.
import { trees } from '@hydra-ts/tree';
import { WorkerEngine, WorkerEngineError, type CompletionChunk, type EngineInfo, type EngineProgress } from '@hydra-ts/worker';

const MODEL_URL = new URL('./models/stories260K/', document.baseURI).href;
const params = new URLSearchParams(location.search);
/** ?tree=<name> fixes every head's tree at load (no tuning); otherwise each head gets its tuned tree. */
const FIXED_TREE = params.get('tree');
const TUNED = 'tuned';

interface Decoder {
  id: 'ar' | 'medusa' | 'hydra' | 'hydra++';
  title: string;
  /** Heads file under models/stories260K/, or null for the autoregressive baseline. */
  headsFile: string | null;
}

const DECODERS: Decoder[] = [
  { id: 'ar', title: 'Autoregressive', headsFile: null },
  { id: 'medusa', title: 'Medusa', headsFile: 'heads/medusa.safetensors' },
  { id: 'hydra', title: 'Hydra', headsFile: 'heads/hydra.safetensors' },
  { id: 'hydra++', title: 'Hydra++', headsFile: 'heads/hydra-pp.safetensors' },
];

/** One decoder's column and the DOM it writes to. */
interface Pane {
  decoder: Decoder;
  /** Why there is no head, when there should be one. */
  missing: string | null;
  root: HTMLElement;
  output: HTMLElement;
  note: HTMLElement;
  tps: HTMLElement;
  speedup: HTMLElement;
  tau: HTMLElement;
  steps: HTMLElement;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const statusLine = $<HTMLParagraphElement>('status');
const promptInput = $<HTMLInputElement>('prompt');
const maxTokensInput = $<HTMLInputElement>('max-tokens');
const treeSelect = $<HTMLSelectElement>('tree');
const runButton = $<HTMLButtonElement>('run');
const loadBar = $<HTMLProgressElement>('load-bar');
const loadText = $<HTMLSpanElement>('load-text');

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
      <div class="stat"><b data-stat="speedup">–</b><span>× AR</span></div>
      <div class="stat"><b data-stat="tau">–</b><span>τ tokens/step</span></div>
      <div class="stat"><b data-stat="steps">–</b><span>steps</span></div>
    </div>
    <div class="output"></div>
    <div class="note"></div>`;
  $('panes').append(root);
  const q = (sel: string) => root.querySelector(sel) as HTMLElement;
  return {
    decoder, missing: null, root,
    output: q('.output'), note: q('.note'),
    tps: q('[data-stat="tps"]'), speedup: q('[data-stat="speedup"]'), tau: q('[data-stat="tau"]'), steps: q('[data-stat="steps"]'),
  };
}

function showIdle(pane: Pane): void {
  pane.output.replaceChildren();
  pane.note.textContent = '';
  pane.tps.textContent = pane.speedup.textContent = pane.tau.textContent = pane.steps.textContent = '–';
  if (pane.missing) {
    pane.root.dataset.state = 'missing';
    pane.output.textContent = pane.missing;
  } else {
    pane.root.dataset.state = 'idle';
  }
}

/** The load's progress: the bar, its label, and a record the end-to-end test reads. */
const progressLog: EngineProgress[] = [];
(window as unknown as { hydraProgress: EngineProgress[] }).hydraProgress = progressLog;
function showProgress(p: EngineProgress): void {
  progressLog.push(p);
  loadBar.hidden = false;
  loadBar.value = p.progress;
  const phase = p.phase === 'fetch' ? (p.cachedBytes && p.cachedBytes === p.loadedBytes ? 'From cache' : 'Downloading') : p.phase === 'tune' ? 'Tuning trees' : 'Compiling kernels';
  loadText.textContent = `${phase}: ${p.text}`;
}

/** The page's own frames while the worker decodes: how long the longest gap between two was. */
function watchFrames(): { stop(): { frames: number; maxGapMs: number } } {
  let frames = 0;
  let maxGapMs = 0;
  let last = performance.now();
  let running = true;
  const tick = (now: number) => {
    frames++;
    maxGapMs = Math.max(maxGapMs, now - last);
    last = now;
    if (running) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  return {
    stop() {
      running = false;
      return { frames, maxGapMs };
    },
  };
}

/** Which heads files the server has (HEAD requests); a missing one leaves its pane saying so. */
async function findHeads(panes: Pane[]): Promise<Record<string, string>> {
  const heads: Record<string, string> = {};
  for (const pane of panes) {
    const file = pane.decoder.headsFile;
    if (!file) continue;
    const res = await fetch(MODEL_URL + file, { method: 'HEAD' }).catch(() => null);
    if (res?.ok) heads[pane.decoder.id] = MODEL_URL + file;
    else pane.missing = `heads not found: ${file} (HTTP ${res?.status ?? 'error'}). Train them (see the README) and rebuild the demo.`;
  }
  return heads;
}

/** What a finished pane hands back: its tokens/s, and its step for the floor comparison. */
interface PaneRun {
  tps: number;
  stepMs: number;
  dispatchesPerStep: number;
}

async function runPane(engine: WorkerEngine, pane: Pane, prompt: string, maxTokens: number, tree: string, arTps: number | null): Promise<PaneRun | null> {
  if (pane.missing) return null;
  const { root, output } = pane;
  root.dataset.state = 'running';
  output.replaceChildren(Object.assign(document.createElement('span'), { className: 'prompt-text', textContent: prompt }));
  const head = pane.decoder.id !== 'ar';
  const served = engine.info!.models.find((m) => m.id === pane.decoder.id)!;
  const treeName = !head ? null : tree === TUNED ? served.tree : tree;
  pane.note.textContent = !head ? 'one token per forward pass' : treeName ? `tree ${treeName}` : served.note ?? 'decodes as AR';
  let text = '';
  let steps = 0;
  let last: CompletionChunk | null = null;
  const stream = await engine.completions.create({
    model: pane.decoder.id,
    prompt,
    max_tokens: maxTokens,
    temperature: 0,
    stream: true,
    ...(head && tree !== TUNED ? { tree } : {}),
  });
  for await (const chunk of stream) {
    last = chunk;
    const piece = chunk.choices[0]?.text ?? '';
    if (!piece) continue;
    // One chunk per step: the tokens one base forward pass accepted.
    steps += 1;
    text += piece;
    const span = document.createElement('span');
    span.className = `step ${steps % 2 === 1 ? 'a' : 'b'}`;
    span.textContent = piece;
    output.append(span);
    pane.steps.textContent = String(steps);
  }
  const stats = last?.hydra;
  if (!stats) throw new Error('the stream ended without its statistics');
  pane.tps.textContent = stats.tokensPerSecond.toFixed(1);
  pane.tau.textContent = stats.meanAcceptedLength.toFixed(2);
  pane.steps.textContent = String(stats.steps);
  pane.speedup.textContent = arTps ? `${(stats.tokensPerSecond / arTps).toFixed(2)}×` : head ? '–' : '1.00×';
  Object.assign(root.dataset, { state: 'done', text, tau: String(stats.meanAcceptedLength), tps: String(stats.tokensPerSecond), steps: String(stats.steps) });
  const t = stats.timing;
  pane.note.textContent +=
    ` · ${stats.tokenIds.length} tokens (${last!.choices[0]?.finish_reason}) · prefill ${Math.round(stats.prefillMs)} ms` +
    ` · base ${Math.round(t.baseMs)} ms${head ? `, heads ${Math.round(t.headMs)} ms` : ''}, verify ${Math.round(t.verifyMs)} ms, commit ${Math.round(t.commitMs)} ms`;
  const stepMs = (stats.elapsedMs - stats.prefillMs) / Math.max(1, stats.steps);
  return { tps: stats.tokensPerSecond, stepMs, dispatchesPerStep: Math.round(stats.dispatchesPerStep) };
}

/**
 * Each pane's step against the device's floor for its dispatch count (a step of that many trivial
 * dispatches and one read-back, measured in the worker): how far the step is from what the
 * browser's WebGPU allows.
 */
async function showFloor(engine: WorkerEngine, runs: Map<Pane, PaneRun>): Promise<void> {
  const counts = [...new Set([...runs.values()].map((r) => r.dispatchesPerStep))];
  const floor = await engine.measureFloor(counts, { reps: 10 });
  for (const [pane, r] of runs) {
    const f = floor.find((x) => x.dispatches === r.dispatchesPerStep)!;
    Object.assign(pane.root.dataset, { stepMs: r.stepMs.toFixed(2), floorMs: f.ms.toFixed(2), dispatches: String(r.dispatchesPerStep) });
    pane.note.textContent += ` · step ${r.stepMs.toFixed(1)} ms = ${(r.stepMs / f.ms).toFixed(1)}× the floor (${r.dispatchesPerStep} dispatches + 1 read-back: ${f.ms.toFixed(1)} ms)`;
  }
}

async function main(): Promise<void> {
  treeSelect.add(new Option('tuned for this device', TUNED, FIXED_TREE === null, FIXED_TREE === null));
  for (const name of Object.keys(trees)) treeSelect.add(new Option(name, name, name === FIXED_TREE, name === FIXED_TREE));
  const panes = DECODERS.map(createPane);
  const heads = await findHeads(panes);
  panes.forEach(showIdle);

  const engine = new WorkerEngine(new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module' }));
  setState('loading', 'Loading stories260K…');
  let info: EngineInfo;
  try {
    info = await engine.load(
      { model: MODEL_URL, heads, ...(FIXED_TREE ? { trees: Object.fromEntries(Object.keys(heads).map((id) => [id, FIXED_TREE])) } : {}) },
      { onProgress: showProgress },
    );
  } catch (e) {
    if (!(e instanceof WorkerEngineError && e.name === 'DeviceError')) throw e;
    const banner = $('no-webgpu');
    banner.hidden = false;
    banner.textContent = `WebGPU is not available, so nothing can run here. ${e.message}`;
    $('panes').hidden = true;
    loadBar.hidden = true;
    setState('no-webgpu', 'No WebGPU');
    return;
  }
  for (const m of info.models) {
    const pane = panes.find((p) => p.decoder.id === m.id);
    if (pane && m.id !== 'ar') (pane.root.querySelector('h2 small') as HTMLElement).textContent = m.tree ? `${m.decoder}, ${FIXED_TREE ? '' : 'tuned '}tree ${m.tree}` : m.note ?? '';
  }
  const c = info.config;
  const last = progressLog.filter((p) => p.phase === 'fetch').at(-1);
  loadText.textContent = `Loaded in ${(info.loadMs / 1000).toFixed(1)} s${last?.cachedBytes === last?.totalBytes ? ' from Cache Storage' : ''}`;
  setState('ready', `stories260K (dim ${c.dim}, ${c.nLayers} layers, vocab ${c.vocabSize}) on ${info.device}, in a Web Worker`);
  runButton.disabled = false;

  $<HTMLFormElement>('controls').addEventListener('submit', async (event) => {
    event.preventDefault();
    const prompt = promptInput.value;
    const maxTokens = Math.max(1, Math.min(256, Math.floor(Number(maxTokensInput.value)) || 48));
    const tree = treeSelect.value;
    runButton.disabled = true;
    setState('running', 'Decoding…');
    panes.forEach(showIdle);
    const frames = watchFrames();
    let failed = 0;
    let arTps: number | null = null;
    const runs = new Map<Pane, PaneRun>();
    for (const pane of panes) {
      setState('running', `Decoding with ${pane.decoder.title}…`);
      try {
        const run = await runPane(engine, pane, prompt, maxTokens, tree, arTps);
        if (run) runs.set(pane, run);
        if (pane.decoder.id === 'ar') arTps = run?.tps ?? null;
      } catch (e) {
        // One decoder failing should not hide the others' results.
        failed++;
        console.error(e);
        pane.root.dataset.state = 'error';
        pane.output.textContent = `${(e as Error).name}: ${(e as Error).message}`;
      }
    }
    const f = frames.stop();
    setState('running', 'Measuring the device floor…');
    await showFloor(engine, runs).catch((e: unknown) => console.error(e));
    document.body.dataset.frames = String(f.frames);
    document.body.dataset.maxFrameGapMs = f.maxGapMs.toFixed(0);
    const responsive = `the page drew ${f.frames} frames while the worker decoded (longest gap ${f.maxGapMs.toFixed(0)} ms)`;
    setState(failed ? 'error' : 'done', failed ? `${failed} decoder(s) failed; see their panes` : `Done on ${info.device}; ${responsive}`);
    runButton.disabled = false;
  });
}

main().catch((e: unknown) => {
  setState('error', `Error: ${(e as Error).name}: ${(e as Error).message}`);
  console.error(e);
});
