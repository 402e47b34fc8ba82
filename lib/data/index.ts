// Public API of lib/data.
export type { Frame, Batch } from './types';
export {
  IMAGENET_MEAN, IMAGENET_STD, defaultAugmentConfig, validateAugmentConfig, sampleAugmentParams, augmentFrame,
  normalizeImage, denormalizeImage,
} from './augment';
export type { AugmentConfig, AugmentParams, JitterConfig } from './augment';
export { TrainLoader, EvalLoader, ArrayFrameSource, CachedFrameSource } from './loader';
export type { FrameSource, TrainLoaderConfig, EvalLoaderConfig, HostBatch } from './loader';
export { prepareSyntheticData } from './prepare';
export type { PrepareSyntheticOptions } from './prepare';
