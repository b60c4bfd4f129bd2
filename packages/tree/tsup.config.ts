import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'es2022',
  removeNodeProtocol: false, // keep `node:` specifiers, so Node-only imports are plain to see
});
