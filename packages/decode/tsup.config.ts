import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts', 'src/tune/store-node.ts', 'src/tune/store-browser.ts'],
  format: ['esm'],
  dts: { entry: 'src/index.ts' },
  sourcemap: true,
  clean: true,
  target: 'es2022',
  external: ['#tree-store'],
});
