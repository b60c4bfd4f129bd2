// getDevice({ softwareThreads }) in Node: it becomes Mesa's LP_NUM_THREADS for the process's
// first device unless the environment sets it. Each case runs in a fresh Node process, since the
// driver reads the setting once a process.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Device } from './device';

const index = fileURLToPath(new URL('./index.ts', import.meta.url));

/** LP_NUM_THREADS as a fresh process sees it after getDevice(options), given `env`. */
function threadsAfter(options: string, env: Record<string, string | undefined>): string {
  const script = `const { getDevice } = await import(${JSON.stringify(index)}); const d = await getDevice(${options}); console.log('threads=' + (process.env.LP_NUM_THREADS ?? 'unset')); d.destroy();`;
  const childEnv = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k];
  const out = execFileSync(process.execPath, ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', script], { env: childEnv, encoding: 'utf8' });
  return /threads=(\S+)/.exec(out)![1];
}

describe('getDevice({ softwareThreads }) in Node', () => {
  it('sets LP_NUM_THREADS for the driver when the environment leaves it unset', () => {
    expect(threadsAfter('{ softwareThreads: 0 }', { LP_NUM_THREADS: undefined })).toBe('0');
    expect(threadsAfter('{}', { LP_NUM_THREADS: undefined })).toBe('unset');
  }, 60_000);

  it("keeps the environment's own setting", () => {
    expect(threadsAfter('{ softwareThreads: 0 }', { LP_NUM_THREADS: '2' })).toBe('2');
  }, 60_000);

  it('rejects counts that are not whole numbers in [0, 256]', async () => {
    for (const bad of [-1, 1.5, 300, Number.NaN]) {
      await expect(Device.create({ softwareThreads: bad })).rejects.toThrow(/softwareThreads must be an integer in \[0, 256\]/);
    }
  });
});
