// One generation at a time on the device, the others waiting in arrival order in a bounded queue:
// each request then gets the answer (and the speed) it would get alone, and a full queue is said
// at once (429) instead of growing without bound.
import { AbortedError, QueueFullError } from './errors';

interface Waiter {
  start: () => void;
  abort: () => void;
}

export class RequestQueue {
  private active = 0;
  private readonly waiters: Waiter[] = [];
  private idleWaiters: Array<() => void> = [];
  /** Mean seconds per job, for Retry-After. */
  private meanSeconds = 1;

  constructor(
    /** Requests that may wait while one runs. */
    readonly maxWaiting: number,
  ) {}

  get running(): number {
    return this.active;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /**
   * Runs `job` when every request that came before it is done. Throws QueueFullError when
   * maxWaiting requests are already waiting, AbortedError when `signal` aborts before its turn.
   */
  async run<T>(job: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) throw new AbortedError('the request was cancelled before it started');
    if (this.active > 0 || this.waiters.length > 0) {
      if (this.waiters.length >= this.maxWaiting) {
        throw new QueueFullError(this.waiters.length, Math.max(1, Math.ceil(this.meanSeconds * (this.waiters.length + 1))));
      }
      await new Promise<void>((resolve, reject) => {
        const waiter: Waiter = {
          start: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
          abort: () => reject(new AbortedError('the request was cancelled while it waited')),
        };
        const onAbort = () => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          waiter.abort();
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        this.waiters.push(waiter);
      });
    } else {
      this.active++;
    }
    const started = performance.now();
    try {
      return await job();
    } finally {
      this.meanSeconds = 0.8 * this.meanSeconds + 0.2 * ((performance.now() - started) / 1000);
      const next = this.waiters.shift();
      if (next) next.start(); // the place passes on: active stays 1
      else {
        this.active--;
        for (const resolve of this.idleWaiters.splice(0)) resolve();
      }
    }
  }

  /** Resolves once nothing runs and nothing waits. */
  idle(): Promise<void> {
    if (this.active === 0 && this.waiters.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
