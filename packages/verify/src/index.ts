// Public API of @hydra-ts/verify.
export {};
