// Public API of @hydra-ts/decode.
export {};
