// The demo is a static site: the model and the trained heads are served from models/ beside
// index.html. They are read from the repository's models/stories260K at dev time and copied
// into dist/ at build time, so the binaries live in git only once.
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const here = path.dirname(fileURLToPath(import.meta.url));
const modelDir = path.resolve(here, '../../models/stories260K');
// Heads come from models/stories260K/heads unless HYDRA_HEADS_DIR points elsewhere (e.g. a fresh training run).
const headsDir = process.env.HYDRA_HEADS_DIR ? path.resolve(process.env.HYDRA_HEADS_DIR) : path.join(modelDir, 'heads');
/** Where a served file lives on disk. */
const fileFor = (name: string) => (name.startsWith('heads/') ? path.join(headsDir, name.slice('heads/'.length)) : path.join(modelDir, name));

/** Files the page fetches, relative to models/stories260K. Missing heads are skipped: the page says so. */
export const MODEL_FILES = ['stories260K.bin', 'tok512.bin'];
export const HEAD_FILES = ['heads/medusa.safetensors', 'heads/hydra.safetensors', 'heads/hydra-pp.safetensors'];

function modelFiles(): Plugin {
  return {
    name: 'hydra-model-files',
    configureServer(server) {
      server.middlewares.use('/models/', (req, res, next) => {
        const name = decodeURIComponent((req.url ?? '').split('?')[0]).replace(/^\/+/, '');
        if (![...MODEL_FILES, ...HEAD_FILES].includes(name)) return next();
        const file = fileFor(name);
        if (!existsSync(file)) {
          res.statusCode = 404;
          res.end(`${name} not found`);
          return;
        }
        res.setHeader('Content-Type', 'application/octet-stream');
        res.setHeader('Content-Length', statSync(file).size);
        createReadStream(file).pipe(res);
      });
    },
    generateBundle() {
      for (const name of MODEL_FILES) {
        const file = fileFor(name);
        if (!existsSync(file)) this.error(`${file}: missing; the demo cannot run without the bundled model`);
        this.emitFile({ type: 'asset', fileName: `models/${name}`, source: readFileSync(file) });
      }
      for (const name of HEAD_FILES) {
        const file = fileFor(name);
        if (existsSync(file)) this.emitFile({ type: 'asset', fileName: `models/${name}`, source: readFileSync(file) });
        else this.warn(`${file}: not found; its pane will say "heads not found"`);
      }
    },
  };
}

export default defineConfig({
  base: './',
  // No SPA fallback: a missing heads file must be a 404, not index.html.
  appType: 'mpa',
  plugins: [modelFiles()],
  build: {
    target: 'es2022',
    sourcemap: true,
    // Copying the model dominates a build this small; the timing report would only say so.
    rolldownOptions: { checks: { bundlerTimings: false } },
  },
});
