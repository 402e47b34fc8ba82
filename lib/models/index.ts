// Public API of lib/models: each module adds its exports here.
export {};
