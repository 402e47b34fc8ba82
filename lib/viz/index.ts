// Public API of lib/viz: each module adds its exports here.
export {};
