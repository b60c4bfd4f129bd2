// The test heads' own contract: OracleHead's hit rate.
import { describe, expect, it } from 'vitest';
import { chain } from '@hydra-ts/tree';
import { OracleHead } from './testing';

describe('OracleHead', () => {
  const sequence = Array.from({ length: 400 }, (_, i) => (i * 7) % 50);
  const tree = chain(300); // one rank-0 node a depth
  const hits = async (head: OracleHead) => {
    const { tokens } = await head.propose({ tree, root: sequence[10]!, context: sequence.slice(0, 10) });
    let n = 0;
    for (let i = 1; i < tree.size; i++) if (tokens[i] === sequence[10 + tree.positionOffsets[i]!]) n++;
    return n / (tree.size - 1);
  };

  it('is always right at rank 0 by default, and about hitRate of the time otherwise', async () => {
    expect(await hits(new OracleHead(sequence, tree.depth, 50))).toBe(1);
    const rate = await hits(new OracleHead(sequence, tree.depth, 50, { hitRate: 0.5, seed: 3 }));
    expect(rate).toBeGreaterThan(0.4); // 0.5 plus the random token's 1/50 chance, over 300 nodes
    expect(rate).toBeLessThan(0.65);
    expect(await hits(new OracleHead(sequence, tree.depth, 50, { hitRate: 0, seed: 3 }))).toBeLessThan(0.1);
  });

  it('rejects a hit rate outside [0, 1]', () => {
    for (const bad of [-0.1, 1.5, Number.NaN]) expect(() => new OracleHead(sequence, 4, 50, { hitRate: bad })).toThrow(/hitRate must be in \[0, 1\]/);
  });
});
