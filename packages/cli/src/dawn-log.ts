// Dawn's native code prints two warnings on adapters that report near-unbounded dynamic-buffer
// limits (Mesa's lavapipe among them) —
//   Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 ...
// — with fprintf straight to the process's stderr, at adapter creation, with neither a toggle nor a
// log level in the `webgpu` package to turn them off. So the hydra command runs itself as a child
// whose file descriptor 2 (what native code writes to) passes through a filter that drops those
// lines, while the child's own process.stderr is the real stderr, handed over as descriptor 3, so
// the command's messages and progress bars reach the terminal untouched and unbuffered.
// HYDRA_DAWN_WARNINGS=1 runs the command in one process and shows everything.
import { spawn } from 'node:child_process';
import { writeSync } from 'node:fs';
import { isatty, WriteStream } from 'node:tty';
import { Writable } from 'node:stream';

/** The lines dropped: Dawn's notes that it lowered a limit it reports for the adapter anyway. */
export const DAWN_NOISE = /^Warning: maxDynamic\w+PerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.\s*$/;

const CHILD_STDERR_FD = 'HYDRA_STDERR_FD';

/** True in the child started by runFiltered. */
export function isFilteredChild(): boolean {
  return process.env[CHILD_STDERR_FD] !== undefined;
}

/** Whether this process should start the filtered child: not asked for Dawn's warnings, not the child already. */
export function wantsDawnFilter(): boolean {
  return process.env.HYDRA_DAWN_WARNINGS !== '1' && !isFilteredChild();
}

/**
 * In the child: process.stderr becomes the descriptor the parent passed (its own stderr), written
 * synchronously so nothing is lost when the command exits right after a message.
 */
export function adoptParentStderr(): void {
  const fd = Number(process.env[CHILD_STDERR_FD]);
  delete process.env[CHILD_STDERR_FD]; // processes this one starts write to their own stderr
  if (!Number.isInteger(fd) || fd < 3) return;
  const stream: NodeJS.WriteStream = isatty(fd)
    ? new WriteStream(fd)
    : (Object.assign(
        new Writable({
          write(chunk: Buffer, _encoding, done) {
            writeSync(fd, chunk);
            done();
          },
        }),
        { fd, isTTY: false },
      ) as unknown as NodeJS.WriteStream);
  Object.defineProperty(process, 'stderr', { configurable: true, enumerable: true, get: () => stream });
}

/** Drops DAWN_NOISE lines from text arriving in chunks; hands on the rest, line by line. */
export class NoiseFilter {
  private pending = '';

  constructor(private readonly write: (text: string) => void) {}

  push(chunk: string): void {
    const text = this.pending + chunk;
    const end = text.lastIndexOf('\n');
    if (end < 0) {
      this.pending = text;
      return;
    }
    this.pending = text.slice(end + 1);
    const kept = text
      .slice(0, end + 1)
      .split(/(?<=\n)/)
      .filter((line) => !DAWN_NOISE.test(line))
      .join('');
    if (kept) this.write(kept);
  }

  end(): void {
    if (this.pending && !DAWN_NOISE.test(this.pending)) this.write(this.pending);
    this.pending = '';
  }
}

/**
 * Runs this command again as a child with the filter on its descriptor 2, forwarding signals, and
 * resolves the child's exit status (a child killed by a signal is re-raised here).
 */
export function runFiltered(): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: ['inherit', 'inherit', 'pipe', 2],
    env: { ...process.env, [CHILD_STDERR_FD]: '3' },
  });
  const filter = new NoiseFilter((text) => process.stderr.write(text));
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => filter.push(chunk));
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  for (const s of signals) process.on(s, forward);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      filter.end();
      for (const s of signals) process.off(s, forward);
      if (signal) {
        process.kill(process.pid, signal);
        return;
      }
      resolve(code ?? 1);
    });
  });
}
