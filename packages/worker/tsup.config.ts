import { defineConfig } from 'tsup';

const DTS_BANNER = '/// <reference types="@webgpu/types" />\n/// <reference lib="esnext.disposable" />';

export default defineConfig({
  // index: the page's side (message passing only); host: the worker's side (the decoding stack).
  entry: ['src/index.ts', 'src/host.ts'],
  format: ['esm'],
  dts: { banner: DTS_BANNER },
  sourcemap: true,
  clean: true,
  target: 'es2022',
  // Error classes are told apart by name (HydraError sets it from the class); a consumer's minifier
  // must not rename them to 't'.
  keepNames: true,
  removeNodeProtocol: false,
});
