#!/usr/bin/env node
// The packages as a user gets them from npm: `pnpm pack` every package, install the tarballs into
// fresh projects outside the repository (their third-party dependencies from the registry), then
//   Node:    type-check the README's example under a plain strict tsconfig (no skipLibCheck, no
//            @webgpu/types of its own), run it, and check its text against `hydra generate --json`;
//            `hydra --help`, `--version`, `generate` with the bundled model, `chat` when it exists;
//   browser: an install without the CLI fetches no `webgpu`, and a Vite build of a page that
//            decodes in a Web Worker (@hydra-ts/worker) contains no `node:` import and nothing of
//            `webgpu` in the page's or the worker's chunks, with no externalised-module warning.
// Prints one line per check; exits 1 on the first failure. Bounded: every command has a timeout.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const work = mkdtempSync(path.join(tmpdir(), 'hydra-packaging-'));
const keep = process.env.HYDRA_KEEP_PACKAGING === '1';
const started = Date.now();
const env = { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };

function run(cmd, args, cwd, { timeout = 180_000, allowFail = false } = {}) {
  const p = spawnSync(cmd, args, { cwd, env, timeout, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
  const r = { code: p.status ?? -1, stdout: p.stdout ?? '', stderr: (p.stderr ?? '') + (p.error ? String(p.error) : '') };
  if (r.code !== 0 && !allowFail) {
    fail(`${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.code}${p.signal ? ` on ${p.signal}` : ''}:\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-4000)}`);
  }
  return r;
}

function fail(message) {
  process.stderr.write(`packaging: FAIL ${message}\n(work folder kept: ${work})\n`);
  process.exit(1);
}

function ok(message) {
  process.stdout.write(`packaging: ok   ${message} (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
}

function check(condition, message) {
  if (!condition) fail(message);
}

// 1. Pack every publishable package (pnpm turns workspace:* into versions).
const tarballs = path.join(work, 'tarballs');
mkdirSync(tarballs);
const packages = {};
for (const dir of readdirSync(path.join(root, 'packages'))) {
  const pkgDir = path.join(root, 'packages', dir);
  const manifest = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
  if (manifest.private) continue;
  for (const field of ['license', 'repository', 'engines']) check(manifest[field], `${manifest.name}: package.json has no "${field}"`);
  check(existsSync(path.join(pkgDir, 'LICENSE')), `${manifest.name}: no LICENSE file`);
  check(existsSync(path.join(pkgDir, manifest.types ?? 'index.d.ts')) || manifest.name === '@hydra-ts/cli', `${manifest.name}: ${manifest.types} missing; run pnpm build first`);
  const before = new Set(readdirSync(tarballs));
  run('pnpm', ['pack', '--pack-destination', tarballs], pkgDir);
  const made = readdirSync(tarballs).filter((f) => !before.has(f));
  check(made.length === 1, `${manifest.name}: pnpm pack made ${made.length} tarballs`);
  packages[manifest.name] = { file: path.join(tarballs, made[0]), version: manifest.version, manifest };
}
ok(`packed ${Object.keys(packages).length} packages: ${Object.keys(packages).join(', ')}`);
const tgz = (name) => {
  check(packages[name], `${name} was not packed`);
  return packages[name].file;
};

// 2. Node: the library, the CLI and the bundled model, installed as a user installs them.
const node = path.join(work, 'node-project');
mkdirSync(node);
writeFileSync(path.join(node, 'package.json'), JSON.stringify({ name: 'hydra-node-consumer', private: true, type: 'module' }, null, 2));
run('npm', ['install', '--no-save', ...Object.keys(packages).map(tgz), 'typescript@5.9.3', '@types/node@20'], node, { timeout: 300_000 });
ok('npm install of every tarball into a fresh project');

// The README's example, verbatim: the first ```ts block under "Using it".
const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
const usage = readme.slice(readme.indexOf('## Using it'));
const example = /```ts\n([\s\S]*?)```/.exec(usage)?.[1];
check(example && example.includes('@hydra-ts/'), 'README: no ```ts example under "Using it"');
writeFileSync(path.join(node, 'example.ts'), example);
// A plain strict project: no skipLibCheck, no "types" list, no lib beyond the target's.
writeFileSync(
  path.join(node, 'tsconfig.json'),
  JSON.stringify({ compilerOptions: { target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, outDir: 'out' }, files: ['example.ts'] }, null, 2),
);
run(path.join(node, 'node_modules/.bin/tsc'), ['-p', '.'], node);
ok("the README example type-checks under a default strict tsconfig (no skipLibCheck)");

const exampleRun = run(process.execPath, ['out/example.js'], node);
check(exampleRun.stdout.length > 100, `the README example printed ${exampleRun.stdout.length} characters: ${exampleRun.stdout}`);
ok(`the README example runs: ${JSON.stringify(exampleRun.stdout.slice(0, 60))}…`);

const hydra = (...args) => run(path.join(node, 'node_modules/.bin/hydra'), args, node, { allowFail: true });
const help = hydra('--help');
check(help.code === 0 && (help.stdout.match(/^Usage: /gm) ?? []).length === 1, `hydra --help: exit ${help.code}, expected the usage once and exit 0:\n${help.stdout}${help.stderr}`);
const version = hydra('--version');
check(version.code === 0 && version.stdout.trim() === packages['@hydra-ts/cli'].version, `hydra --version: exit ${version.code}, printed ${JSON.stringify(version.stdout)}`);
const unknown = hydra('frobnicate');
check(unknown.code === 2 && /unknown command 'frobnicate'/.test(unknown.stderr), `hydra frobnicate: exit ${unknown.code}: ${unknown.stderr}`);
ok('hydra --help and --version print once and exit 0; an unknown command exits 2 naming it');

const gen = hydra('generate', '--decoder', 'hydra++', '--tree', 'cpu-16', '--prompt', 'Once upon a time', '--max-new-tokens', '128', '--json');
check(gen.code === 0, `hydra generate with the bundled model: exit ${gen.code}\n${gen.stderr}`);
const generated = JSON.parse(gen.stdout);
check(generated.text === exampleRun.stdout, `hydra generate's text differs from the README example's:\n${generated.text}\n---\n${exampleRun.stdout}`);
check(!/artificially reduced/.test(gen.stderr), `hydra generate printed Dawn's limit warnings:\n${gen.stderr}`);
ok(`hydra generate runs the bundled stories260K with its Hydra++ heads (τ ${generated.meanAcceptedLength.toFixed(2)}), the same text as the example, no Dawn warnings`);

// hydra chat on a chat model: the bundled weights written as a Hugging Face folder with a chat
// template by @hydra-ts/chat/testing, as a user's own script would.
writeFileSync(
  path.join(node, 'chat-model.mjs'),
  "import { writeStoriesChatModel } from '@hydra-ts/chat/testing';\nimport { modelDir } from '@hydra-ts/stories260k';\nwriteStoriesChatModel(modelDir, process.argv[2]);\n",
);
const chatModel = path.join(node, 'stories-chat');
run(process.execPath, ['chat-model.mjs', chatModel], node);
const messagesFile = path.join(node, 'messages.json');
writeFileSync(messagesFile, JSON.stringify([{ role: 'user', content: 'Tell me a story about a cat.' }]));
const chat = hydra('chat', '--model', chatModel, '--messages', messagesFile, '--max-tokens', '16', '--json');
check(chat.code === 0, `hydra chat --messages: exit ${chat.code}\n${chat.stdout}\n${chat.stderr}`);
const reply = JSON.parse(chat.stdout);
check(reply.tokenIds.length === 16 && typeof reply.text === 'string', `hydra chat --json: ${chat.stdout}`);
ok(`hydra chat --messages answers on a chat-template model (${reply.usage.promptTokens} prompt tokens, ${reply.tokenIds.length} reply tokens)`);

// 3. Browser: the library without the CLI, bundled by Vite.
const web = path.join(work, 'browser-project');
mkdirSync(path.join(web, 'src'), { recursive: true });
writeFileSync(path.join(web, 'package.json'), JSON.stringify({ name: 'hydra-browser-consumer', private: true, type: 'module' }, null, 2));
const libraries = ['@hydra-ts/tensor', '@hydra-ts/model', '@hydra-ts/heads', '@hydra-ts/tree', '@hydra-ts/verify', '@hydra-ts/decode', '@hydra-ts/chat', '@hydra-ts/worker'];
run('npm', ['install', '--no-save', ...libraries.map(tgz), 'vite@7'], web, { timeout: 300_000 });
check(!existsSync(path.join(web, 'node_modules/webgpu')), 'a browser install (no CLI) fetched the webgpu package (Dawn)');
ok('a browser-only install fetches no webgpu (Dawn) package');
writeFileSync(
  path.join(web, 'index.html'),
  '<!doctype html><html><body><pre id="out"></pre><script type="module" src="/src/main.ts"></script></body></html>\n',
);
// The page talks to a worker (the worker engine's README, as a user copies it); the worker runs the library.
writeFileSync(
  path.join(web, 'src/main.ts'),
  `import { WorkerEngine } from '@hydra-ts/worker';

const out = document.getElementById('out')!;
const engine = new WorkerEngine(new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module' }));
await engine.load(
  { model: new URL('/models/stories260K/', location.href).href, heads: { 'hydra++': new URL('/models/stories260K/heads/hydra-pp.safetensors', location.href).href } },
  { onProgress: (p) => (out.textContent = p.text) },
);
out.textContent = '';
for await (const chunk of await engine.completions.create({ prompt: 'Once upon a time', max_tokens: 64, stream: true })) out.textContent += chunk.choices[0]?.text ?? '';
`,
);
writeFileSync(path.join(web, 'src/engine.worker.ts'), "import { serveEngine } from '@hydra-ts/worker/host';\n\nserveEngine();\n");
writeFileSync(path.join(web, 'vite.config.js'), "export default { worker: { format: 'es' }, build: { target: 'es2022' } };\n");
const build = run(path.join(web, 'node_modules/.bin/vite'), ['build', '--logLevel', 'warn'], web);
const warnings = build.stdout + build.stderr;
check(!/externali[sz]ed for browser compatibility/i.test(warnings), `vite externalised Node modules:\n${warnings}`);
const assets = path.join(web, 'dist/assets');
const chunks = readdirSync(assets).filter((f) => f.endsWith('.js'));
check(chunks.some((f) => f.startsWith('engine.worker')), `no worker chunk among ${chunks.join(', ')}`);
const bundle = chunks.map((f) => readFileSync(path.join(assets, f), 'utf8')).join('\n');
// The page's chunk only passes messages: the decoding stack (WebGPU and all) is in the worker's.
const page = chunks.filter((f) => !f.startsWith('engine.worker')).map((f) => readFileSync(path.join(assets, f), 'utf8')).join('\n');
check(!/requestAdapter|createShaderModule/.test(page), 'the page chunk contains WebGPU code: the decoding stack leaked out of the worker');
check(bundle.length > 10_000, `the browser bundle is ${bundle.length} bytes`);
for (const [what, pattern] of [
  ['a node: import', /\bfrom\s*["']node:|import\(\s*["']node:|require\(\s*["']node:/],
  ['the webgpu package', /["']webgpu["']|dawn\.node/],
  ['node:fs by its bare name', /\bfrom\s*["'](fs|fs\/promises|path|url|module)["']/],
]) {
  const m = pattern.exec(bundle);
  check(!m, `the browser bundle contains ${what}: …${m && bundle.slice(Math.max(0, m.index - 80), m.index + 80)}…`);
}
ok(`vite build of a page with the worker engine: ${(bundle.length / 1024).toFixed(0)} KiB of JS in ${chunks.length} chunks (page and worker), no node: imports, no webgpu, no warnings`);

if (!keep) rmSync(work, { recursive: true, force: true });
process.stdout.write(`packaging: all checks passed in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
