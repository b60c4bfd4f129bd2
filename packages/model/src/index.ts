// Public API of @hydra-ts/model.
export {};
