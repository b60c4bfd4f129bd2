// Acceptance rates for replayed heads (hydra bench --replay): P(rank r right | parent right) by
// depth, as hydra tune measured them for the trained stories260K heads (models/stories260K/heads)
// on the 8 calibration openings × 128 tokens with the medusa-63 tree: the acceptProb of
// bench-results/tuned-{medusa,hydra,hydra-pp}.json (commit 0eff8fa), to 4 decimals.
import type { AcceptanceTable } from '@hydra-ts/tree';
import type { SpeculativeKind } from './heads';

export const REPLAY_SOURCE = 'acceptance of the trained stories260K heads (bench-results/tuned-*.json)';

export const REPLAY_ACCEPTANCE: Partial<Record<SpeculativeKind, AcceptanceTable>> = {
  medusa: [
    [0.3747, 0.1217, 0.0779, 0.0511, 0.0365, 0.0195, 0.017, 0.0292, 0.0049, 0.0219],
    [0.3117, 0.1181, 0.0596, 0.049, 0.0245, 0.0343, 0.0325, 0.013, 0.0325, 0.039],
    [0.4476, 0.1429, 0.05, 0.0154, 0.0308, 0.0308],
    [0.5263, 0.1579],
  ],
  hydra: [
    [0.5825, 0.1347, 0.0741, 0.0337, 0.0202, 0.0269, 0.0101, 0.0067, 0.0067, 0.0135],
    [0.6367, 0.0927, 0.0431, 0.0284, 0.0047, 0.0237, 0.0175, 0, 0.0058, 0.0058],
    [0.6616, 0.1264, 0.0446, 0.0345, 0.0172, 0.0086],
    [0.7531, 0.0864],
  ],
  'hydra++': [
    [0.6383, 0.1028, 0.0638, 0.0284, 0.0319, 0.0426, 0.0035, 0.0106, 0.0142],
    [0.6654, 0.125, 0.0404, 0.0098, 0, 0.0049, 0, 0, 0.0113, 0.0056],
    [0.7121, 0.1087, 0.0476, 0.0233, 0.031, 0.0233],
    [0.7527, 0.0968],
  ],
};
