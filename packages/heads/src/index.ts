// Public API of @hydra-ts/heads.
export {};
