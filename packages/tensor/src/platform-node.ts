// Node: WebGPU comes from Dawn through the `webgpu` package, an optional peer dependency so that
// browser-only installs do not fetch Dawn's native binaries.
import { DeviceError } from './errors';

let gpu: GPU | undefined;

/**
 * The GPU object, Dawn loaded on first use. `softwareThreads` becomes Mesa's LP_NUM_THREADS (the
 * worker threads of the llvmpipe software driver) when the environment leaves it unset and Dawn
 * is not loaded yet: the driver reads it once a process.
 */
export async function platformGpu(opts: { softwareThreads?: number } = {}): Promise<GPU | undefined> {
  if (typeof navigator !== 'undefined' && (navigator as { gpu?: GPU }).gpu) return (navigator as { gpu: GPU }).gpu;
  if (gpu) return gpu;
  if (opts.softwareThreads !== undefined && process.env.LP_NUM_THREADS === undefined) process.env.LP_NUM_THREADS = String(opts.softwareThreads);
  let dawn: typeof import('webgpu');
  try {
    dawn = await import('webgpu');
  } catch (e) {
    throw new DeviceError(
      `WebGPU in Node comes from the \`webgpu\` package (Dawn), which is not installed: run \`npm install webgpu\` beside @hydra-ts/tensor (${(e as Error).message})`,
      { cause: e },
    );
  }
  Object.assign(globalThis, dawn.globals);
  gpu = dawn.create([]) as GPU;
  return gpu;
}

export const platformName = 'node (Dawn)';

export const noAdapterHelp =
  'Dawn found no WebGPU adapter. On a machine without a GPU install a software Vulkan driver: ' +
  'Mesa lavapipe >= 23 (Debian 12: `apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1`, ' +
  'or run scripts/setup-system.sh), or point VK_ICD_FILENAMES at SwiftShader ' +
  '(/usr/lib/chromium/vk_swiftshader_icd.json from Debian\'s chromium package).';
