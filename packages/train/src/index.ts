// Public API of @hydra-ts/train.
export {};
