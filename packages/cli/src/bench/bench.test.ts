import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CandidateTree, TreeError } from '@hydra-ts/tree';
import { UsageError } from '../errors';
import { bundledPromptFile, planBench } from '../commands/bench';
import { runTune } from '../commands/tune';
import { parsePrompts, PromptFileError, readPrompts } from './prompts';
import { acceptanceFromCounts, chooseTree, forwardMsAt, monotoneCost, type StepCost } from './tune-tree';
import { renderHtml } from './html';
import { formatTable, summarize, withSpeedups, type BenchReport, type RunFigures } from './report';

describe('prompt files', () => {
  it('reads .txt one prompt per line, trimmed, blank lines skipped', () => {
    expect(parsePrompts('  Once upon a time\r\n\n\tA cat sat.\n', 'p.txt')).toEqual(['Once upon a time', 'A cat sat.']);
  });

  it('reads .jsonl from "prompt", "text" or "turns"[0]', () => {
    const text = ['{"prompt": "a"}', '', '{"text": "b", "id": 3}', '{"turns": ["c", "later turn"]}'].join('\n');
    expect(parsePrompts(text, 'p.jsonl')).toEqual(['a', 'b', 'c']);
  });

  it('names the file and line of a bad .jsonl row', () => {
    expect(() => parsePrompts('{"prompt": "a"}\n{oops', 'p.jsonl')).toThrow(/p\.jsonl:2: not JSON/);
    expect(() => parsePrompts('{"prompt": 3}', 'p.jsonl')).toThrow(/p\.jsonl:1: expected a non-empty string/);
    expect(() => parsePrompts('["a"]', 'p.jsonl')).toThrow(PromptFileError);
    expect(() => parsePrompts('{"turns": []}', 'p.jsonl')).toThrow(PromptFileError);
  });

  it('rejects empty files, unknown types and missing files', () => {
    expect(() => parsePrompts('\n  \n', 'p.txt')).toThrow(/p\.txt: no prompts/);
    expect(() => parsePrompts('a', 'p.csv')).toThrow(/unknown prompt file type/);
    expect(() => readPrompts('/nonexistent/prompts.txt')).toThrow(PromptFileError);
  });

  it('ships 20 held-out story openings and 8 different calibration prompts', () => {
    const evalPrompts = readPrompts(bundledPromptFile());
    const calib = readPrompts(bundledPromptFile('calibration.txt'));
    expect(evalPrompts).toHaveLength(20);
    expect(calib).toHaveLength(8);
    expect(new Set(evalPrompts).size).toBe(20);
    expect(calib.filter((p) => evalPrompts.includes(p))).toEqual([]);
    expect(readPrompts(bundledPromptFile(), 5)).toEqual(evalPrompts.slice(0, 5));
  });
});

const linearCost = (fixed: number, perRow: number, maxRows = 128): StepCost => {
  const rows = [1, 2, 4, 8, 16, 32, 64, maxRows];
  return { forward: { rows, ms: rows.map((r) => fixed + perRow * r) }, headMs: [0], overheadMs: 0 };
};

describe('tree tuning', () => {
  // Every rank at every depth has a non-zero chance, so a bigger tree always has a larger E[τ].
  const accept = [0.7, 0.5, 0.4, 0.3].map((top1) => Array.from({ length: 6 }, (_, r) => top1 / (r + 1) ** 2 / 1.6));

  it('picks the widest tree when rows are free', () => {
    const flat: StepCost = { forward: { rows: [1, 64], ms: [5, 5] }, headMs: [1, 1, 1, 1], overheadMs: 0.5 };
    const r = chooseTree(accept, flat, { maxNodes: 40 });
    expect(r.best.nodes).toBe(40);
    expect(r.tree.size).toBe(41);
    expect(r.curve).toHaveLength(40);
  });

  it('picks a chain of top-1 guesses when every row costs a lot', () => {
    // Top-1 guesses are right 90% of the time, others 5%: at 1 ms a row over a 10 ms floor the
    // chain pays all the way down (chain-4: 4.095 / 15 ms) but a 5% sibling never does (4.145 / 16 ms).
    const p = [0, 1, 2, 3].map(() => [0.9, 0.05, 0.05]);
    const r = chooseTree(p, linearCost(10, 1));
    expect(r.tree.toJSON().paths).toEqual([[0], [0, 0], [0, 0, 0], [0, 0, 0, 0]]);
    expect(r.best.tokensPerSecond).toBeCloseTo((4.0951 / 15) * 1000, 9);
    // Steeper still (40 ms a row): one guess is all that pays (1.9 / 90 ms > 2.71 / 130 ms).
    expect(chooseTree(p, linearCost(10, 40)).tree.toJSON().paths).toEqual([[0]]);
  });

  it('matches a hand-worked example', () => {
    // Trees by budget (greedy on path products; ties to the shallower node):
    // n=1 {[0]} τ=1.6; n=2 +[1] τ=1.9; n=3 +[0,0] τ=2.2; n=4 +[1,0] τ=2.35.
    // Step ms = forward(n+1) = 11, 12, 13, 20  ->  tokens/s 145.5, 158.3, 169.2, 117.5: n = 3.
    const p = [
      [0.6, 0.3],
      [0.5, 0.2],
    ];
    const cost: StepCost = { forward: { rows: [1, 2, 3, 4, 5, 6, 7], ms: [10, 11, 12, 13, 20, 30, 40] }, headMs: [0, 0], overheadMs: 0 };
    const r = chooseTree(p, cost, { maxNodes: 6, name: 't' });
    expect(r.best.nodes).toBe(3);
    expect(r.tree.toJSON().paths).toEqual([[0], [1], [0, 0]]);
    expect(r.best.expectedAcceptLength).toBeCloseTo(2.2, 12);
    expect(r.best.tokensPerSecond).toBeCloseTo(2200 / 13, 9);
    expect(r.curve.map((c) => c.tokensPerSecond)).toEqual(
      [1.6 / 11, 1.9 / 12, 2.2 / 13, 2.35 / 20, 2.47 / 30, 2.53 / 40].map((x) => expect.closeTo(x * 1000, 9)),
    );
    // The chosen tree round-trips through the tree file format generate --tree reads.
    const again = CandidateTree.fromJSON(JSON.parse(JSON.stringify(r.tree.toJSON())));
    expect(again.toJSON()).toEqual(r.tree.toJSON());
  });

  it('adds head time by depth and per-step overhead to the step cost', () => {
    const p = [[0.9], [0.9], [0.9]];
    // A free forward but heads costing 10 ms per level: deeper is no longer free.
    // chain-1: 1.9/(1+10)=0.1727, chain-2: 2.71/(1+20)=0.129, chain-3: 3.439/31=0.111.
    const cost: StepCost = { forward: { rows: [1, 8], ms: [1, 1] }, headMs: [10, 20, 30], overheadMs: 0 };
    expect(chooseTree(p, cost).best.nodes).toBe(1);
    // With a large fixed overhead the extra depth pays: chain-3 3.439/131 > chain-2 2.71/121 > chain-1 1.9/111.
    expect(chooseTree(p, { ...cost, overheadMs: 100 }).best.nodes).toBe(3);
  });

  it('interpolates the forward cost table', () => {
    const f = { rows: [1, 4, 8], ms: [2, 5, 13] };
    expect(forwardMsAt(f, 1)).toBe(2);
    expect(forwardMsAt(f, 2)).toBeCloseTo(3, 12);
    expect(forwardMsAt(f, 6)).toBeCloseTo(9, 12);
    expect(forwardMsAt(f, 10)).toBeCloseTo(17, 12); // slope of the last segment, 2 ms/row
  });

  it('makes a noisy cost table non-decreasing from the larger trees down', () => {
    expect(monotoneCost({ rows: [1, 2, 4, 8, 16], ms: [30, 45, 60, 50, 80] }).ms).toEqual([30, 45, 50, 50, 80]);
  });

  it('turns counts into a table whose rows sum to at most 1', () => {
    const p = acceptanceFromCounts([[6, 3, 0], [1, 1, 1]], [[10, 10, 0], [2, 2, 2]]);
    expect(p[0]).toEqual([0.6, 0.3, 0]);
    expect(p[1].reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(p[1][0]).toBeCloseTo(1 / 3, 12);
  });

  it('rejects malformed cost tables with typed errors', () => {
    const ok = [[0.5]];
    expect(() => chooseTree(ok, { forward: { rows: [], ms: [] }, headMs: [], overheadMs: 0 })).toThrow(UsageError);
    expect(() => chooseTree(ok, { forward: { rows: [2, 1], ms: [1, 1] }, headMs: [], overheadMs: 0 })).toThrow(/increasing/);
    expect(() => chooseTree(ok, { forward: { rows: [1], ms: [0] }, headMs: [], overheadMs: 0 })).toThrow(/ms\[0\] = 0/);
    expect(() => chooseTree(ok, linearCost(1, 1), { maxNodes: 0 })).toThrow(/--max-nodes 0/);
    expect(() => chooseTree([[1.5]], linearCost(1, 1))).toThrow(TreeError);
  });
});

function run(prompt: number, tokens: number, steps: number, decodeMs: number, acc: number[], same: boolean | null): RunFigures {
  return {
    prompt,
    tokens,
    steps,
    tau: tokens / steps,
    tokensPerSecond: (tokens / decodeMs) * 1000,
    decodeMs,
    prefillMs: 1,
    baseMs: steps * 2,
    headMs: steps * 0.5,
    verifyMs: steps * 0.01,
    commitMs: steps * 0.1,
    acceptanceByDepth: acc,
    sameAsAr: same,
  };
}

function sampleReport(): BenchReport {
  const ar = summarize('ar', 'ar', null, null, [run(0, 64, 64, 1000, [], null), run(1, 64, 64, 1000, [], null)]);
  const hy = summarize('hydra <b>', 'hydra', 'cpu-16', 'untrained (createHead)', [run(0, 64, 32, 800, [0.75, 0.25], true), run(1, 64, 16, 400, [1, 0.75], false)]);
  return {
    device: 'test device & co',
    model: 'models/stories260K',
    promptFile: 'prompts.txt',
    prompts: ['a', 'b'],
    maxNewTokens: 64,
    verifier: 'greedy',
    date: '2026-01-01',
    decoders: withSpeedups([ar, hy]),
  };
}

/** Tags open and close in order (no parser in the dependency tree; this is the well-formedness that matters). */
function checkBalanced(xml: string): void {
  const stack: string[] = [];
  for (const m of xml.matchAll(/<(\/?)([a-zA-Z][\w-]*)[^>]*?(\/?)>/g)) {
    const [, close, name, self] = m;
    if (self) continue;
    if (close) expect(stack.pop()).toBe(name);
    else stack.push(name);
  }
  expect(stack).toEqual([]);
}

describe('report', () => {
  it('pools τ and throughput over prompts and checks outputs against AR', () => {
    const [ar, hy] = sampleReport().decoders;
    expect(ar.tau).toBe(1);
    expect(ar.tokensPerSecond).toBeCloseTo(64, 9);
    expect(hy.tau).toBeCloseTo(128 / 48, 12);
    expect(hy.tokensPerSecond).toBeCloseTo(128 / 1.2, 9);
    expect(hy.speedup).toBeCloseTo(128 / 1.2 / 64, 9);
    expect(hy.acceptanceByDepth[0]).toBeCloseTo((0.75 * 32 + 16) / 48, 12);
    expect(hy.baseMsPerStep).toBeCloseTo(2, 12);
    expect(hy.identical).toEqual({ same: 1, of: 2 });
    const table = formatTable(sampleReport());
    expect(table).toMatch(/\| +106\.7 \|/);
    expect(table).toContain('1.67×');
    expect(table).toContain('NO 1/2');
  });

  it('writes an HTML page of well-formed SVG charts carrying the numbers', () => {
    const html = renderHtml(sampleReport());
    const svgs = [...html.matchAll(/<svg[\s\S]*?<\/svg>/g)].map((m) => m[0]);
    expect(svgs).toHaveLength(3);
    for (const svg of svgs) {
      expect(svg).toContain('xmlns="http://www.w3.org/2000/svg"');
      checkBalanced(svg);
      for (const n of svg.matchAll(/ (?:x|y|width|height)="([^"]*)"/g)) expect(n[1]).toMatch(/^-?\d+(\.\d+)?$/);
    }
    checkBalanced(html.replace(/<!doctype html>/i, '').replace(/<meta[^>]*>/g, ''));
    expect(svgs[0]).toContain('106.7 (1.67× AR)');
    expect(html).not.toContain('LP_NUM_THREADS'); // only said of the llvmpipe driver
    expect(renderHtml({ ...sampleReport(), device: 'mesa software llvmpipe', softwareThreads: '0' })).toContain('llvmpipe</b> (LP_NUM_THREADS 0)');
    for (const svg of svgs.slice(0, 2)) {
      // Every value label ends inside the chart (7 px a character at 12 px).
      const width = Number(/width="([\d.]+)"/.exec(svg)![1]);
      for (const t of svg.matchAll(/<text x="([\d.]+)"[^>]*font-size="12">([^<]*)<\/text>/g)) {
        expect(Number(t[1]) + 7 * t[2]!.length, t[2]).toBeLessThanOrEqual(width);
      }
    }
    expect(svgs[0]).toContain('>64.0');
    expect(svgs[1]).toContain('2.67');
    expect(svgs[2]).toContain('depth 2');
    expect(svgs[2]).toContain('0.833'); // hydra at depth 1, in the bar's title
    expect(html).toContain('hydra &lt;b&gt;');
    expect(html).not.toContain('hydra <b>');
    expect(html).toContain('test device &amp; co');
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
  });
});

describe('bad options', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'hydra-bench-'));
  const prompts = path.join(dir, 'p.txt');
  writeFileSync(prompts, 'Once upon a time\nA dog ran.\n');

  it('plans a valid run without loading anything', () => {
    const plan = planBench({ prompts, decoders: 'hydra,ar', trees: 'chain-3,cpu-8', limit: 1 });
    expect(plan.decoders).toEqual(['ar', 'hydra']);
    expect(plan.trees.map((t) => t.name)).toEqual(['chain-3', 'cpu-8']);
    expect(plan.prompts).toEqual(['Once upon a time']);
    expect(plan.numHeads).toBe(3);
  });

  it('tells apart tree files whose trees share a name by their file names', () => {
    const a = path.join(dir, 'tuned-gpu.json');
    const b = path.join(dir, 'tuned-cpu.json');
    writeFileSync(a, JSON.stringify({ name: 'tuned-hydra++', paths: [[0], [1], [0, 0]] }));
    writeFileSync(b, JSON.stringify({ name: 'tuned-hydra++', paths: [[0]] }));
    const plan = planBench({ prompts, trees: `${a},${b},cpu-8` });
    expect(plan.trees.map((t) => t.name)).toEqual(['tuned-hydra++ (tuned-gpu.json)', 'tuned-hydra++ (tuned-cpu.json)', 'cpu-8']);
    expect(plan.trees.map((t) => t.size)).toEqual([4, 2, 9]);
    expect(() => planBench({ prompts, trees: `${a},cpu-8,${a}` })).toThrow(/--trees lists .*tuned-gpu.json twice/);
  });

  it('throws typed errors naming the option', () => {
    expect(() => planBench({ prompts, decoders: 'ar,eagle' })).toThrow(/--decoder eagle/);
    expect(() => planBench({ prompts, decoders: 'ar,ar' })).toThrow(/twice/);
    expect(() => planBench({ prompts, maxNewTokens: '0' })).toThrow(/--max-new-tokens 0/);
    expect(() => planBench({ prompts, tree: 'cpu-8', trees: 'cpu-16' })).toThrow(/--tree and --trees/);
    expect(() => planBench({ prompts, verifier: 'typical' })).toThrow(/--temperature > 0/);
    expect(() => planBench({ prompts, limit: 'x' })).toThrow(UsageError);
    expect(() => planBench({ prompts, trees: 'nope' })).toThrow(TreeError);
    expect(() => planBench({ prompts, trees: path.join(dir, 'missing.json') })).toThrow(/file not found/);
    expect(() => planBench({ prompts: path.join(dir, 'none.txt') })).toThrow(PromptFileError);
    expect(() => planBench({ prompts, decoders: ',' })).toThrow(UsageError);
  });

  it('tune checks its options before loading the model', async () => {
    await expect(runTune({})).rejects.toThrow(/--out <tree.json> is required/);
    await expect(runTune({ out: 'x.json', decoder: 'ar' })).rejects.toThrow(UsageError);
    await expect(runTune({ out: 'x.json', rows: '4,2' })).rejects.toThrow(/increasing/);
    await expect(runTune({ out: 'x.json', maxNodes: '0' })).rejects.toThrow(/--max-nodes 0/);
  });
});
