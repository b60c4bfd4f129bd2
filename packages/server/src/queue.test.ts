import { describe, expect, it } from 'vitest';
import { AbortedError, QueueFullError } from './errors';
import { RequestQueue } from './queue';

/** A job that runs until release() is called, recording when it started. */
function gate(log: string[], name: string) {
  let release!: () => void;
  const done = new Promise<void>((r) => (release = r));
  return { job: async () => (log.push(name), await done, name), release: () => release() };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('RequestQueue', () => {
  it('runs one job at a time, in arrival order', async () => {
    const q = new RequestQueue(4);
    const log: string[] = [];
    const gates = ['a', 'b', 'c'].map((n) => gate(log, n));
    const results = gates.map((g) => q.run(g.job));
    await tick();
    expect([log, q.running, q.waiting]).toEqual([['a'], 1, 2]);
    gates[2]!.release(); // c let go early changes nothing: it has not started
    await tick();
    expect(log).toEqual(['a']);
    gates[0]!.release();
    await tick();
    expect(log).toEqual(['a', 'b']);
    gates[1]!.release();
    expect(await Promise.all(results)).toEqual(['a', 'b', 'c']);
    expect([q.running, q.waiting]).toEqual([0, 0]);
    await q.idle();
  });

  it('refuses a job when every waiting place is taken', async () => {
    const q = new RequestQueue(1);
    const log: string[] = [];
    const a = gate(log, 'a');
    const b = gate(log, 'b');
    const ra = q.run(a.job);
    const rb = q.run(b.job);
    const full = await q.run(async () => 'c').catch((e: unknown) => e);
    expect(full).toBeInstanceOf(QueueFullError);
    expect((full as QueueFullError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    a.release();
    b.release();
    expect(await Promise.all([ra, rb])).toEqual(['a', 'b']);
  });

  it('drops a waiting job whose signal aborts, and the next one moves up', async () => {
    const q = new RequestQueue(4);
    const log: string[] = [];
    const a = gate(log, 'a');
    const ra = q.run(a.job);
    const cancel = new AbortController();
    const rb = q.run(async () => 'b', cancel.signal);
    const rc = q.run(async () => 'c');
    expect(q.waiting).toBe(2);
    cancel.abort();
    await expect(rb).rejects.toBeInstanceOf(AbortedError);
    expect(q.waiting).toBe(1);
    a.release();
    expect(await Promise.all([ra, rc])).toEqual(['a', 'c']);
    await expect(q.run(async () => 'd', cancel.signal)).rejects.toBeInstanceOf(AbortedError);
  });
});
