import { defineConfig } from 'tsup';

const DTS_BANNER = '/// <reference types="@webgpu/types" />\n/// <reference lib="esnext.disposable" />';

export default defineConfig({
  entry: ['src/index.ts', 'src/testing.ts', 'src/tune/store-node.ts', 'src/tune/store-browser.ts'],
  format: ['esm'],
  // The declarations name WebGPU's types and Symbol.dispose: a consumer's tsconfig needs neither
  // @webgpu/types nor an esnext lib of its own.
  dts: { entry: ['src/index.ts', 'src/testing.ts', 'src/tune/store-node.ts'], banner: DTS_BANNER },
  sourcemap: true,
  clean: true,
  target: 'es2022',
  external: ['#tree-store'],
  removeNodeProtocol: false, // keep `node:` specifiers, so Node-only imports are plain to see
});
