// Browsers: WebGPU is navigator.gpu (secure contexts only). The browser runs its own driver, so
// softwareThreads does nothing here.
export async function platformGpu(_opts: { softwareThreads?: number } = {}): Promise<GPU | undefined> {
  return typeof navigator !== 'undefined' ? (navigator as { gpu?: GPU }).gpu : undefined;
}

export const platformName = 'browser';

export const noAdapterHelp =
  'This browser exposes no WebGPU adapter (navigator.gpu is missing or returned null). Use a browser with ' +
  'WebGPU enabled (Chrome/Edge 113+, or Chromium with --enable-unsafe-webgpu), and serve the page from a ' +
  'secure context (https:// or http://localhost).';
