// Public API of lib/cityscapes.
export * from './labels';
