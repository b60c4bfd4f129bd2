// Public API of @hydra-ts/cli.
export {};
