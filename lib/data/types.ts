import type * as tf from '@tensorflow/tfjs';

/** One decoded frame (defined by lib/cityscapes, which decodes it; re-exported here for the pipeline). */
export type { Frame } from '../cityscapes/dataset';

/** A training/eval batch as tensors (the consumer disposes them). */
export interface Batch {
  /** [N, H, W, 3] float32, ImageNet mean/std normalised. */
  images: tf.Tensor4D;
  /** [N, H, W] int32 trainIds, 255 = ignore. */
  labels: tf.Tensor3D;
  /** Frame ids in batch order. */
  ids: string[];
}
