import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'es2022',
  // Error classes are told apart by name (HydraError sets it from the class); a consumer's minifier
  // must not rename them to 't'.
  keepNames: true,
  removeNodeProtocol: false, // keep `node:` specifiers, so Node-only imports are plain to see
});
