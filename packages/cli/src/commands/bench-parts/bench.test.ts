import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CandidateTree, DynamicTree, TreeError } from '@hydra-ts/tree';
import { UsageError } from '../../errors';
import { bundledPromptFile, planBench } from '../bench';
import { runTune } from '../tune';
import { parsePrompts, PromptFileError, readPrompts } from './prompts';
import { renderHtml } from './html';
import { formatFloor, formatTable, summarize, withSpeedups, type BenchReport, type RunFigures } from './report';

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

describe('floor table', () => {
  it('prints dispatches, read-backs, step and floor times and their ratio per decoder', () => {
    const t = formatFloor([
      { label: 'ar', dispatchesPerStep: 34, readbacksPerStep: 1, stepMs: 1.3, floorMs: 0.26, overFloor: 5 },
      { label: 'hydra++', dispatchesPerStep: 61.25, readbacksPerStep: 1, stepMs: 2.6, floorMs: 0.43, overFloor: 2.6 / 0.43 },
    ]).split('\n');
    expect(t[0]).toMatch(/^\| decoder +\| dispatches\/step \| read-backs\/step \| step ms \| floor ms \| step \/ floor \|$/);
    expect(t[2]).toMatch(/^\| ar +\| +34\.0 \| +1\.00 \| +1\.300 \| +0\.260 \| +5\.00× \|$/);
    expect(t[3]).toContain('61.3');
    expect(t[3]).toContain('6.05×');
  });
});

describe('bad options', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'hydra-bench-'));
  const prompts = path.join(dir, 'p.txt');
  writeFileSync(prompts, 'Once upon a time\nA dog ran.\n');

  it('plans a valid run without loading anything', () => {
    const plan = planBench({ prompts, decoders: 'hydra,ar', trees: 'chain-3,cpu-8', limit: 1 });
    expect(plan.decoders).toEqual(['ar', 'hydra']);
    expect(plan.trees!.map((t) => (t as CandidateTree).name)).toEqual(['chain-3', 'cpu-8']);
    expect(plan.prompts).toEqual(['Once upon a time']);
    expect(plan.numHeads).toBe(3);
  });

  it('leaves the trees to the tuner when none is given, with 4 heads by default', () => {
    const plan = planBench({ prompts });
    expect(plan.trees).toBeNull();
    expect(plan.numHeads).toBe(4);
    expect(plan.replay).toBe(false);
    expect(planBench({ prompts, tree: 'root' }).trees!.map((t) => (t as CandidateTree).size)).toEqual([1]);
  });

  it('takes dynamic trees and the tuned tree beside fixed ones', () => {
    const plan = planBench({ prompts, trees: 'tuned,cpu-16,dynamic,dynamic-24' });
    expect(plan.trees![0]).toBe('tuned');
    expect((plan.trees![1] as CandidateTree).size).toBe(17);
    const [measured, fixed] = plan.trees!.slice(2) as DynamicTree[];
    expect([measured.name, measured.measured, measured.maxNodes]).toEqual(['dynamic', true, 32]);
    expect([fixed.name, fixed.measured, fixed.maxNodes]).toEqual(['dynamic-24', false, 24]);
    expect(() => planBench({ prompts, trees: 'dynamic-0' })).toThrow(/dynamic-<N> with N in/);
  });

  it('checks --replay against the options it cannot go with', () => {
    expect(planBench({ prompts, replay: true }).replay).toBe(true);
    expect(() => planBench({ prompts, replay: true, decoders: 'hydra' })).toThrow(/must include ar/);
    expect(() => planBench({ prompts, replay: true, temperature: '0.7' })).toThrow(/--temperature 0/);
    expect(() => planBench({ prompts, replay: true, untrainedHeads: true })).toThrow(/give one of them/);
    expect(() => planBench({ prompts, replay: true, numHeads: '5' })).toThrow(/cover 4 depths/);
  });

  it('tells apart tree files whose trees share a name by their file names', () => {
    const a = path.join(dir, 'tuned-gpu.json');
    const b = path.join(dir, 'tuned-cpu.json');
    writeFileSync(a, JSON.stringify({ name: 'tuned-hydra++', paths: [[0], [1], [0, 0]] }));
    writeFileSync(b, JSON.stringify({ name: 'tuned-hydra++', paths: [[0]] }));
    const plan = planBench({ prompts, trees: `${a},${b},cpu-8` });
    expect(plan.trees!.map((t) => (t as CandidateTree).name)).toEqual(['tuned-hydra++ (tuned-gpu.json)', 'tuned-hydra++ (tuned-cpu.json)', 'cpu-8']);
    expect(plan.trees!.map((t) => (t as CandidateTree).size)).toEqual([4, 2, 9]);
    expect(() => planBench({ prompts, trees: `${a},cpu-8,${a}` })).toThrow(/--trees lists .*tuned-gpu.json twice/);
  });

  it('throws typed errors naming the option', () => {
    expect(() => planBench({ prompts, decoders: 'ar,eagle4' })).toThrow(/--decoder eagle4: expected one of ar, medusa, hydra, hydra\+\+, eagle, eagle3/);
    expect(() => planBench({ prompts, decoders: 'ar,eagle', replay: true })).toThrow(/--replay: no recorded acceptance rates for eagle heads/);
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
    await expect(runTune({ decoder: 'ar' })).rejects.toThrow(UsageError);
    await expect(runTune({ rows: '1,4,2' })).rejects.toThrow(/increasing/);
    await expect(runTune({ rows: '2,4' })).rejects.toThrow(/starting at 1/);
    await expect(runTune({ maxNodes: '0' })).rejects.toThrow(/--max-nodes 0/);
    await expect(runTune({ budgetMs: '0' })).rejects.toThrow(/--budget-ms 0/);
  });
});
