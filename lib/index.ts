/**
 * channel-distill public API. Layered like the paper:
 * data → models → distillation → training → visualisation.
 * Everything a notebook or a user imports comes from here.
 */
export * as tf from '@tensorflow/tfjs';
export * from './backend';
export * from './rng';
export * from './cityscapes';
export * from './metrics';
export * from './data';
export * from './models';
export * from './distill';
export * from './train';
export * from './viz';
