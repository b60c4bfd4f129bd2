// Exits 0 and prints the adapter when Dawn (the `webgpu` package) finds a WebGPU adapter.
import { createRequire } from 'node:module';
const require = createRequire(new URL('../packages/tensor/package.json', import.meta.url));
const { create, globals } = await import(require.resolve('webgpu'));
Object.assign(globalThis, globals);
const adapter = await create([]).requestAdapter();
if (!adapter) {
  console.error('probe: no WebGPU adapter');
  process.exit(1);
}
const i = adapter.info;
console.log(`probe: WebGPU adapter ${i.vendor} ${i.architecture} ${i.description}`.trim());
process.exit(0);
