import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts', 'src/fuzz.ts', 'src/platform-node.ts', 'src/platform-browser.ts'],
  format: ['esm'],
  dts: { entry: ['src/index.ts', 'src/fuzz.ts'] },
  sourcemap: true,
  clean: true,
  target: 'es2022',
  external: ['#platform', 'webgpu'],
});
