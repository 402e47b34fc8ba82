// Public API of lib/distill: each module adds its exports here.
export {};
