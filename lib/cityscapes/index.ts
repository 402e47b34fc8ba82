// Public API of lib/cityscapes: each module adds its exports here.
export {};
