import { defineConfig } from 'tsup';

const DTS_BANNER = '/// <reference types="@webgpu/types" />\n/// <reference lib="esnext.disposable" />';

export default defineConfig({
  entry: ['src/index.ts', 'src/testing.ts', 'src/files-node.ts', 'src/files-browser.ts'],
  format: ['esm'],
  // The declarations name WebGPU's types and Symbol.dispose: a consumer's tsconfig needs neither
  // @webgpu/types nor an esnext lib of its own.
  dts: { entry: ['src/index.ts', 'src/testing.ts'], banner: DTS_BANNER },
  sourcemap: true,
  clean: true,
  target: 'es2022',
  // Error classes are told apart by name (HydraError sets it from the class); a consumer's minifier
  // must not rename them to 't'.
  keepNames: true,
  removeNodeProtocol: false, // keep `node:` specifiers, so Node-only imports are plain to see
  external: ['#files'],
});
