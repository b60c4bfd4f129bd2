// Sessions across turns: a prompt that extends what a session holds prefills only the new tokens,
// and the output equals a fresh run on the whole sequence token for token (AR and every trained
// head kind, Hydra++'s PrefixMLP cache and EAGLE's layer cache included); a diverging prompt reuses exactly the common
// prefix; a session or head in two generations at once is a SessionBusyError.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { getDevice } from '@hydra-ts/tensor';
import { LlamaModel } from '@hydra-ts/model';
import { loadHead, type DraftHead } from '@hydra-ts/heads';
import { getTree } from '@hydra-ts/tree';
import { samplingVerifier } from '@hydra-ts/verify';
import { SpeculativeDecoder } from './decoder';
import { DecodeSession, SessionBusyError } from './session';
import { RandomHead } from './testing';

const modelDir = fileURLToPath(new URL('../../../models/stories260K', import.meta.url));
const device = await getDevice();
const model = await LlamaModel.load(modelDir, { device });
const decoder = new SpeculativeDecoder(model);
const tok = model.tokenizer!;
const N = 24;
const HEADS = { medusa: 'medusa', hydra: 'hydra', 'hydra++': 'hydra-pp', eagle: 'eagle' } as const;

/** Three turns in one session; each must equal a fresh run on the whole sequence. */
async function threeTurns(head: DraftHead | null, freshHead: DraftHead | null): Promise<number[]> {
  const tree = head ? getTree('cpu-16') : undefined;
  const session = new DecodeSession(model, { head, tree });
  const cached: number[] = [];
  let sequence = tok.encode('Once upon a time', { bos: true });
  for (const more of [' Then the', ' The end. One day,', '']) {
    const turn = await session.run({ prompt: sequence, maxNewTokens: N });
    // A second head object for the fresh runs: the session's head keeps the session's state.
    const fresh = await decoder.generate({ prompt: sequence, maxNewTokens: N, head: freshHead, tree });
    expect(turn.tokenIds, `${head?.name ?? 'ar'} after ${sequence.length} tokens`).toEqual(fresh.tokenIds);
    expect(turn.promptTokens).toBe(sequence.length);
    // The head state rolled back and extended drafts what a fresh head drafts: the same steps.
    expect(turn.acceptedPerStep, `${head?.name ?? 'ar'} steps after ${sequence.length} tokens`).toEqual(fresh.acceptedPerStep);
    cached.push(turn.cachedPromptTokens);
    // The session holds the prompt and every token fed through the model: at least all but the last generated one.
    expect(session.tokens.slice(0, sequence.length + turn.tokenIds.length - 1)).toEqual([...sequence, ...turn.tokenIds].slice(0, -1));
    const held = session.tokens.length;
    sequence = [...sequence, ...turn.tokenIds, ...tok.encode(more)];
    // The next prompt shares everything the session fed of this turn's output (the last token was never fed).
    const expectShared = Math.min(held, sequence.length - 1);
    let common = 0;
    while (common < expectShared && session.tokens[common] === sequence[common]) common++;
    expect(common).toBeGreaterThanOrEqual(sequence.length - tok.encode(more).length - 1);
  }
  session.dispose();
  return cached;
}

describe('DecodeSession across turns', () => {
  it('AR: turn n+1 equals a fresh run on the whole sequence and prefills only the new tokens', async () => {
    const cached = await threeTurns(null, null);
    expect(cached[0]).toBe(0);
    // AR feeds every generated token but the last: the next turn reuses prompt + N - 1 tokens.
    const first = tok.encode('Once upon a time', { bos: true }).length;
    expect(cached[1]).toBe(first + N - 1);
  }, 120_000);

  for (const [kind, file] of Object.entries(HEADS)) {
    it(`${kind} (trained heads): every turn equals a fresh run, reusing the cache and the head state`, async () => {
      const head = await loadHead(model, `${modelDir}/heads/${file}.safetensors`);
      const freshHead = await loadHead(model, `${modelDir}/heads/${file}.safetensors`);
      const cached = await threeTurns(head, freshHead);
      freshHead.dispose();
      expect(cached[0]).toBe(0);
      expect(cached[1]).toBeGreaterThan(N);
      expect(cached[2]).toBeGreaterThan(cached[1]);
      head.dispose();
    }, 120_000);
  }

  it('a head with only the required members (no rollback): every turn equals a fresh run, prefilled from the start', async () => {
    // Proposes the greedy continuation's tokens only by chance: a head that keeps no state at all.
    const minimal = (): DraftHead => {
      const inner = new RandomHead(4, model.config.vocabSize);
      return { name: 'minimal', depth: 4, observe: () => {}, propose: (req) => inner.propose(req), reset: () => inner.reset() };
    };
    const cached = await threeTurns(minimal(), minimal());
    expect(cached).toEqual([0, 0, 0]);
  }, 120_000);

  for (const file of ['hydra-pp', 'eagle']) {
    it(`a diverging prompt reuses exactly the common prefix; the same prompt reuses all but its last token (${file} heads)`, async () => {
      const head = await loadHead(model, `${modelDir}/heads/${file}.safetensors`);
      const tree = getTree('cpu-16');
      const session = new DecodeSession(model, { head, tree });
      const a = tok.encode('Lily and Ben went to the park. They', { bos: true });
      await session.run({ prompt: a, maxNewTokens: N });
      const k = 6;
      const b = [...a.slice(0, k), ...tok.encode(' dog ran fast')];
      expect(b[k]).not.toBe(a[k]);
      const rb = await session.run({ prompt: b, maxNewTokens: N });
      expect(rb.cachedPromptTokens).toBe(k);
      expect(rb.tokenIds).toEqual((await decoder.generate({ prompt: b, maxNewTokens: N })).tokenIds);
      const again = await session.run({ prompt: b, maxNewTokens: N });
      expect(again.cachedPromptTokens).toBe(b.length - 1);
      expect(again.tokenIds).toEqual(rb.tokenIds);
      // A prompt that starts elsewhere starts over.
      const c = tok.encode('The cat', { bos: false });
      const rc = await session.run({ prompt: c, maxNewTokens: 8 });
      expect(rc.cachedPromptTokens).toBe(0);
      expect(rc.tokenIds).toEqual((await decoder.generate({ prompt: c, maxNewTokens: 8 })).tokenIds);
      session.dispose();
      head.dispose();
    }, 120_000);
  }

  it('sampling: a turn in a session draws the same tokens as a fresh run with the same seed', async () => {
    const head = await loadHead(model, `${modelDir}/heads/hydra.safetensors`);
    const tree = getTree('cpu-8');
    const session = new DecodeSession(model, { head, tree });
    const opts = { maxNewTokens: N, sampling: { temperature: 0.8 }, verifier: samplingVerifier({ temperature: 0.8 }), seed: 5 };
    const p = tok.encode('Tom had a red ball.', { bos: true });
    const first = await session.run({ prompt: p, ...opts });
    const next = [...p, ...first.tokenIds, ...tok.encode(' Then')];
    const turn = await session.run({ prompt: next, ...opts });
    expect(turn.cachedPromptTokens).toBeGreaterThan(p.length);
    const freshHead = await loadHead(model, `${modelDir}/heads/hydra.safetensors`);
    const fresh = await decoder.generate({ prompt: next, head: freshHead, tree, ...opts });
    expect(turn.tokenIds).toEqual(fresh.tokenIds);
    session.dispose();
    head.dispose();
    freshHead.dispose();
  }, 120_000);

  it('a head used by another session in between: the session starts over and stays exact', async () => {
    const head = await loadHead(model, `${modelDir}/heads/hydra-pp.safetensors`);
    const tree = getTree('cpu-16');
    const s1 = new DecodeSession(model, { head, tree });
    const s2 = new DecodeSession(model, { head, tree });
    const p = tok.encode('Once upon a time', { bos: true });
    const r1 = await s1.run({ prompt: p, maxNewTokens: N });
    await s2.run({ prompt: tok.encode('The sun was', { bos: true }), maxNewTokens: N });
    const next = [...p, ...r1.tokenIds, ...tok.encode(' Then')];
    const r = await s1.run({ prompt: next, maxNewTokens: N });
    expect(r.cachedPromptTokens).toBe(0);
    expect(r.tokenIds).toEqual((await decoder.generate({ prompt: next, maxNewTokens: N })).tokenIds);
    s1.dispose();
    s2.dispose();
    head.dispose();
  }, 120_000);

  it('two generations at once on a session, or on one head, are a SessionBusyError', async () => {
    const session = new DecodeSession(model);
    const a = session.generate({ prompt: [1], maxNewTokens: 8 });
    await a.next();
    await expect(session.run({ prompt: [1], maxNewTokens: 8 })).rejects.toThrow(SessionBusyError);
    await expect(session.run({ prompt: [1], maxNewTokens: 8 })).rejects.toThrow(/this session is already generating; await it or use another session/);
    expect(() => session.reset()).toThrow(SessionBusyError);
    await a.return(undefined as never); // the consumer stops early: the session is free again
    expect(session.busy).toBe(false);
    expect(session.tokens.length).toBeGreaterThan(1); // and keeps what it fed
    const held = [...session.tokens];
    expect((await session.run({ prompt: [...held, 5], maxNewTokens: 2 })).cachedPromptTokens).toBe(held.length);
    const both = await Promise.allSettled([session.run({ prompt: [1], maxNewTokens: 4 }), session.run({ prompt: [1], maxNewTokens: 4 })]);
    expect(both[0].status).toBe('fulfilled');
    expect(both[1].status === 'rejected' && both[1].reason).toBeInstanceOf(SessionBusyError);
    session.dispose();

    const head = await loadHead(model, `${modelDir}/heads/medusa.safetensors`);
    const tree = getTree('cpu-8');
    const s1 = new DecodeSession(model, { head, tree });
    const s2 = new DecodeSession(model, { head, tree });
    const g = s1.generate({ prompt: [1], maxNewTokens: 16 });
    await g.next();
    await expect(s2.run({ prompt: [1], maxNewTokens: 4 })).rejects.toThrow(/draft head 'medusa' is already generating in another session/);
    await expect(decoder.generate({ prompt: [1], maxNewTokens: 4, head, tree })).rejects.toThrow(SessionBusyError);
    await g.return(undefined as never);
    expect((await s2.run({ prompt: [1], maxNewTokens: 4 })).tokenIds).toHaveLength(4);
    s1.dispose();
    s2.dispose();
    head.dispose();
  }, 120_000);

  it('after a failed generation the session starts over', async () => {
    const session = new DecodeSession(model);
    const p = tok.encode('Once upon a time', { bos: true });
    await session.run({ prompt: p, maxNewTokens: 8 });
    await expect(session.run({ prompt: [...p, 9999], maxNewTokens: 8 })).rejects.toThrow(/out of range/);
    // validation failed before anything ran: what the session held is intact
    expect(session.tokens.length).toBeGreaterThan(p.length);
    const r = await session.run({ prompt: p, maxNewTokens: 8 });
    expect(r.cachedPromptTokens).toBe(p.length - 1);
    session.dispose();
    await expect(session.run({ prompt: p, maxNewTokens: 1 })).rejects.toThrow(/disposed/);
  }, 60_000);

  it('counts the GPU dispatches of each step (after the prefill), as the device records them', async () => {
    const prompt = tok.encode('Once upon a time', { bos: true });
    const head = await loadHead(model, `${modelDir}/heads/hydra-pp.safetensors`);
    for (const h of [null, head]) {
      const tree = h ? getTree('cpu-16') : undefined;
      // The prefill alone: one token out, no step.
      let before = device.stats.dispatches;
      const only = await decoder.generate({ prompt, maxNewTokens: 1, head: h, tree });
      const prefill = device.stats.dispatches - before;
      expect(only.steps).toBe(0);
      expect(only.dispatchesPerStep).toBe(0);
      before = device.stats.dispatches;
      const r = await decoder.generate({ prompt, maxNewTokens: 16, head: h, tree });
      expect(r.steps).toBeGreaterThan(1);
      expect(r.dispatchesPerStep * r.steps).toBeCloseTo(device.stats.dispatches - before - prefill, 6);
      expect(r.dispatchesPerStep).toBeGreaterThan(model.config.nLayers);
    }
    head.dispose?.();
  });
});
