// End to end: build the demo, serve dist/ on 127.0.0.1, drive headless Chromium (SwiftShader
// WebGPU): load the model and heads in the page's worker with progress, reload (every file from
// Cache Storage, no body downloaded), run the race and hold every pane's greedy text to the
// Node API's greedy output.
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatEngine } from '@hydra-ts/chat';
import { SpeculativeDecoder } from '@hydra-ts/decode';
import { LlamaModel } from '@hydra-ts/model';
import type { EngineProgress } from '@hydra-ts/worker';
import { chromiumArgs } from '../../../vitest.shared';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const repo = path.resolve(root, '../..');
const dist = path.join(root, 'dist');
const screenshot = path.join(repo, 'artifacts/browser-demo.png');
// SwiftShader is slow: a short prompt, few tokens and a small tree keep the run near two minutes.
const PROMPT = 'Once upon a time';
const MAX_NEW_TOKENS = 32;
const TREE = 'cpu-8';

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.map': 'application/json',
};

/** Every request the server answered, as "METHOD /path". */
const served: string[] = [];

/** dist/ over HTTP with ETags; unknown paths are 404 so a missing heads file reads as missing. */
function serve(dir: string): Promise<Server> {
  const server = createServer((req, res) => {
    const url = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    served.push(`${req.method} ${url}`);
    const file = path.join(dir, url.endsWith('/') ? `${url}index.html` : url);
    if (!file.startsWith(dir)) return void res.writeHead(403).end();
    let body: Buffer;
    try {
      if (!statSync(file).isFile()) throw new Error('not a file');
      body = readFileSync(file);
    } catch {
      return void res.writeHead(404).end(`${url} not found`);
    }
    const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"`;
    res.writeHead(200, { 'Content-Type': MIME[path.extname(file)] ?? 'application/octet-stream', 'Content-Length': body.length, ETag: etag });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

interface PaneResult {
  decoder: string;
  state: string;
  text: string;
  tau: number;
  steps: number;
  message: string;
  stepMs: number;
  floorMs: number;
  dispatches: number;
}

describe('browser demo', () => {
  let server: Server | undefined;
  let origin = '';
  let browser: Browser | undefined;
  let expected = '';
  let panes: PaneResult[] = [];
  const pageErrors: string[] = [];
  /** The first load's progress events, the reload's, and the model files each load downloaded. */
  let firstProgress: EngineProgress[] = [];
  let secondProgress: EngineProgress[] = [];
  let firstGets: string[] = [];
  let secondRequests: string[] = [];
  let frames = 0;

  beforeAll(async () => {
    process.env.XDG_RUNTIME_DIR ??= '/tmp/xdg';
    mkdirSync(process.env.XDG_RUNTIME_DIR, { recursive: true });

    // The Node API on the llama2.c checkpoint (the page's worker loads it converted to the Hugging
    // Face layout): the text completion, whose tokens are plain AR decoding's.
    const model = await LlamaModel.load(path.join(repo, 'models/stories260K/stories260K.bin'), { tokenizer: 'tok512.bin' });
    const completion = await new ChatEngine(model).completions.create({ prompt: PROMPT, max_tokens: MAX_NEW_TOKENS, temperature: 0 });
    const ar = await new SpeculativeDecoder(model).generate({ prompt: PROMPT, maxNewTokens: MAX_NEW_TOKENS });
    if (completion.hydra.tokenIds.join() !== ar.tokenIds.join()) throw new Error('the Node API disagrees with itself on the AR tokens');
    expected = completion.choices[0].text;
    model.dispose();

    await build({ root, configFile: path.join(root, 'vite.config.ts'), logLevel: 'warn' });
    server = await serve(dist);
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: chromiumArgs });
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    // A 404 for a heads file is how the page learns they are missing; anything else is a fault.
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      if (/\/models\/heads\/[^/]+\.safetensors$/.test(m.location().url) && m.text().includes('404')) return;
      pageErrors.push(`${m.text()} ${m.location().url}`);
    });
    const ready = async () => {
      await page.waitForFunction(() => document.body.dataset.state !== 'loading', undefined, { timeout: 120_000 });
      const state = await page.evaluate(() => document.body.dataset.state);
      if (state !== 'ready') {
        const status = await page.locator('#status').textContent();
        const banner = await page.locator('#no-webgpu').textContent();
        throw new Error(`page is '${state}' instead of ready: ${status} ${banner} ${pageErrors.join('; ')}`);
      }
      return page.evaluate(() => (window as unknown as { hydraProgress: EngineProgress[] }).hydraProgress);
    };
    const modelFile = (r: string) => /\/models\/stories260K\/.+\.(json|safetensors)$/.test(r);
    // The fixed tree keeps SwiftShader from tuning each head on load (the Node tests cover tuning).
    served.length = 0;
    await page.goto(`${origin}/?tree=${TREE}`);
    firstProgress = await ready();
    firstGets = served.filter((r) => r.startsWith('GET ') && modelFile(r));
    served.length = 0;
    await page.reload();
    secondProgress = await ready();
    secondRequests = served.filter(modelFile);
    await page.fill('#prompt', PROMPT);
    await page.fill('#max-tokens', String(MAX_NEW_TOKENS));
    expect(await page.locator('#tree').inputValue()).toBe(TREE);
    await page.click('#run');
    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state ?? ''), undefined, { timeout: 200_000 });
    frames = Number(await page.evaluate(() => document.body.dataset.frames));
    process.stdout.write(`${await page.$$eval('.pane', (els) => els.map((el) => `${(el as HTMLElement).dataset.decoder}: ${el.querySelector('.note')?.textContent}`).join('\n'))}\n`);
    process.stdout.write(`browser demo: ${await page.locator('#status').textContent()}\n`);
    mkdirSync(path.dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true });
    panes = await page.$$eval('.pane', (els) =>
      els.map((el) => {
        const d = (el as HTMLElement).dataset;
        return {
          decoder: d.decoder ?? '',
          state: d.state ?? '',
          text: d.text ?? '',
          tau: Number(d.tau),
          steps: Number(d.steps),
          message: el.querySelector('.output')?.textContent ?? '',
          stepMs: Number(d.stepMs),
          floorMs: Number(d.floorMs),
          dispatches: Number(d.dispatches),
        };
      }),
    );
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  });

  it('bundles the packages as an npm user gets them: built dist/, browser platform, no Dawn', () => {
    const maps = readdirSync(path.join(dist, 'assets')).filter((f) => f.endsWith('.js.map'));
    const sources = maps.flatMap((f) => (JSON.parse(readFileSync(path.join(dist, 'assets', f), 'utf8')) as { sources: string[] }).sources);
    const ours = sources.filter((s) => s.includes('packages/'));
    expect(ours.some((s) => s.endsWith('packages/tensor/dist/platform-browser.js'))).toBe(true);
    expect(ours.filter((s) => !/packages\/[a-z]+\/dist\//.test(s))).toEqual([]);
    expect(sources.filter((s) => /platform-node|node_modules\/(\.pnpm\/)?webgpu/.test(s))).toEqual([]);
    expect(readdirSync(path.join(dist, 'models/stories260K'))).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'heads']));
  });

  it('shows the load progress: every file, its bytes, then kernel compilation', () => {
    const fetched = firstProgress.filter((p) => p.phase === 'fetch');
    expect(fetched.length).toBeGreaterThan(5);
    const last = fetched.at(-1)!;
    expect(last).toMatchObject({ progress: 1, cachedBytes: 0 });
    expect(last.filesDone).toBe(last.filesSeen);
    expect(last.loadedBytes).toBe(last.totalBytes);
    expect(firstGets.map((r) => r.replace(/^GET \/models\/stories260K\//, '')).sort()).toEqual(
      ['config.json', 'heads/hydra-pp.safetensors', 'heads/hydra.safetensors', 'heads/medusa.safetensors', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'],
    );
    expect(firstProgress.some((p) => p.phase === 'compile' && p.progress === 1)).toBe(true);
  });

  it('a reload downloads nothing: every file from Cache Storage, revalidated by headers alone', () => {
    expect(secondRequests.length).toBeGreaterThan(0);
    expect(secondRequests.filter((r) => !r.startsWith('HEAD '))).toEqual([]);
    const last = secondProgress.filter((p) => p.phase === 'fetch').at(-1)!;
    expect(last.cachedBytes).toBe(last.totalBytes);
    expect(last.totalBytes).toBe(firstProgress.filter((p) => p.phase === 'fetch').at(-1)!.totalBytes);
  });

  it('keeps drawing frames while the worker decodes', () => {
    expect(frames).toBeGreaterThan(0);
  });

  it("holds each pane's step against the device floor for its dispatch count", () => {
    for (const p of panes.filter((x) => x.state === 'done')) {
      expect(p.dispatches, p.decoder).toBeGreaterThan(5);
      expect(p.floorMs, p.decoder).toBeGreaterThan(0);
      expect(p.stepMs, p.decoder).toBeGreaterThan(0);
    }
  });

  it('runs every pane without page errors', () => {
    expect(panes.map((p) => p.decoder)).toEqual(['ar', 'medusa', 'hydra', 'hydra++']);
    for (const p of panes) expect(['done', 'missing'], `${p.decoder}: ${p.message}`).toContain(p.state);
    expect(pageErrors).toEqual([]);
  });

  it('streams the same greedy text as the Node API in the AR pane', () => {
    const ar = panes.find((p) => p.decoder === 'ar')!;
    expect(expected.length).toBeGreaterThan(20);
    expect(ar.state).toBe('done');
    expect(ar.text).toBe(expected);
    expect(ar.tau).toBe(1);
    expect(ar.steps).toBeGreaterThan(0);
  });

  it('says so when the browser has no WebGPU', async () => {
    // Headless Chromium without the WebGPU flags hands out no adapter.
    const plain = chromiumArgs.filter((a) => !/webgpu|vulkan/i.test(a));
    const bare = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: plain });
    try {
      const page = await bare.newPage();
      await page.goto(`${origin}/`);
      await page.waitForFunction(() => document.body.dataset.state !== 'loading', undefined, { timeout: 30_000 });
      expect(await page.evaluate(() => document.body.dataset.state)).toBe('no-webgpu');
      expect(await page.locator('#no-webgpu').isVisible()).toBe(true);
      expect(await page.locator('#no-webgpu').textContent()).toMatch(/WebGPU is not available.*No WebGPU adapter/);
      expect(await page.locator('#run').isDisabled()).toBe(true);
    } finally {
      await bare.close();
    }
  });

  for (const decoder of ['medusa', 'hydra', 'hydra++']) {
    it(`${decoder} pane: same text as AR, τ > 1`, (ctx) => {
      const pane = panes.find((p) => p.decoder === decoder)!;
      if (pane.state === 'missing') ctx.skip(`${decoder} heads are not in models/stories260K/heads: ${pane.message}`);
      expect(pane.state, pane.message).toBe('done');
      expect(pane.text).toBe(expected);
      expect(pane.tau).toBeGreaterThan(1);
      const ar = panes.find((p) => p.decoder === 'ar')!;
      expect(pane.steps).toBeLessThan(ar.steps);
    });
  }
});
