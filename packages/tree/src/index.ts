// Public API of @hydra-ts/tree.
export {};
