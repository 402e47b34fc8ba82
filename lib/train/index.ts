// Public API of lib/train: each module adds its exports here.
export {};
