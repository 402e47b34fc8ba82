// Public API of lib/metrics: each module adds its exports here.
export {};
