// The demo is a static site: the model and the trained heads are served from models/ beside
// index.html, laid out like a Hugging Face repository (config.json, model.safetensors,
// tokenizer.json, tokenizer_config.json; heads/*.safetensors), which is what the worker engine
// loads by URL. The files are made from the repository's models/stories260K (the llama2.c
// checkpoint, converted) at dev time and written into dist/ at build time, so the binaries live
// in git only once. Every file has an ETag, so a cached copy is revalidated without a download.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { convertLlama2cToHf, loadModelFiles, type Llama2cTokenizer } from '@hydra-ts/model';
import { defineConfig, type Plugin } from 'vite';

const here = path.dirname(fileURLToPath(import.meta.url));
const modelDir = path.resolve(here, '../../models/stories260K');
// Heads come from models/stories260K/heads unless HYDRA_HEADS_DIR points elsewhere (e.g. a fresh training run).
const headsDir = process.env.HYDRA_HEADS_DIR ? path.resolve(process.env.HYDRA_HEADS_DIR) : path.join(modelDir, 'heads');

/** Files the page's worker fetches, relative to models/stories260K/. Missing heads are skipped: the page says so. */
export const MODEL_FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];
export const HEAD_FILES = ['heads/medusa.safetensors', 'heads/hydra.safetensors', 'heads/hydra-pp.safetensors'];

let converted: Promise<Map<string, Uint8Array>> | null = null;
/** The llama2.c checkpoint and tokenizer as Hugging Face files. */
function hfFiles(): Promise<Map<string, Uint8Array>> {
  return (converted ??= loadModelFiles(path.join(modelDir, 'stories260K.bin'), { tokenizer: 'tok512.bin' }).then((m) => {
    const files = convertLlama2cToHf(m.config, m.weights, m.tokenizer as Llama2cTokenizer);
    return new Map([...files].filter(([name]) => MODEL_FILES.includes(name)));
  }));
}

/** A served file's bytes, or null when it is a heads file that is not there. */
async function fileBytes(name: string): Promise<Uint8Array | null> {
  if (MODEL_FILES.includes(name)) return (await hfFiles()).get(name)!;
  const file = path.join(headsDir, name.slice('heads/'.length));
  return existsSync(file) ? new Uint8Array(readFileSync(file)) : null;
}

function modelFiles(): Plugin {
  return {
    name: 'hydra-model-files',
    configureServer(server) {
      server.middlewares.use('/models/stories260K/', (req, res, next) => {
        const name = decodeURIComponent((req.url ?? '').split('?')[0]).replace(/^\/+/, '');
        if (![...MODEL_FILES, ...HEAD_FILES].includes(name)) return next();
        fileBytes(name).then((bytes) => {
          if (!bytes) {
            res.statusCode = 404;
            res.end(`${name} not found`);
            return;
          }
          res.setHeader('Content-Type', 'application/octet-stream');
          res.setHeader('Content-Length', bytes.byteLength);
          res.setHeader('ETag', `"${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}"`);
          res.end(req.method === 'HEAD' ? undefined : bytes);
        }, next);
      });
    },
    async generateBundle() {
      for (const name of [...MODEL_FILES, ...HEAD_FILES]) {
        const bytes = await fileBytes(name);
        if (bytes) this.emitFile({ type: 'asset', fileName: `models/stories260K/${name}`, source: bytes });
        else this.warn(`${path.join(headsDir, name.slice('heads/'.length))}: not found; its pane will say "heads not found"`);
      }
    },
  };
}

export default defineConfig({
  base: './',
  // No SPA fallback: a missing heads file must be a 404, not index.html.
  appType: 'mpa',
  plugins: [modelFiles()],
  // The engine's worker is an ES module (it shares chunks with nothing, but imports like the page).
  worker: { format: 'es' },
  build: {
    target: 'es2022',
    sourcemap: true,
    // Copying the model dominates a build this small; the timing report would only say so.
    rolldownOptions: { checks: { bundlerTimings: false } },
  },
});
