// Public API of lib/data: each module adds its exports here.
export {};
