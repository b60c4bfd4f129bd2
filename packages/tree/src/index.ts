// Public API of @hydra-ts/tree.
export { CandidateTree, MAX_TREE_NODES, MAX_RANK } from './candidate-tree';
export type { TreeNode, CandidateTreeJSON, CandidateTreeOptions, TreeLimits } from './candidate-tree';
export { TreeError } from './errors';
export {
  PRIOR_ACCEPTANCE,
  expectedAcceptLength,
  buildTreeFromAcceptance,
  buildTreeWithShape,
} from './acceptance';
export type { AcceptanceTable } from './acceptance';
export { chain, rootOnly, trees, getTree } from './builtin';
export { DynamicTree, DYNAMIC_DEFAULT_NODES, parseDynamicTree, growTree, treeFromLevels, frontierOf } from './dynamic';
export type { DynamicTreeOptions, LevelCandidates, ExpandLevel, DraftedLevels, DraftAllLevels, GrownTree } from './dynamic';
