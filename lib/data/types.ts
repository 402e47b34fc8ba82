import type * as tf from '@tensorflow/tfjs';

/** One decoded Cityscapes frame on the host: RGB uint8 HWC and trainIds (255 = ignore). */
export interface Frame {
  /** Stable id, e.g. `aachen_000000_000019`. */
  id: string;
  width: number;
  height: number;
  /** RGB, row-major HWC, length height·width·3. */
  image: Uint8Array;
  /** trainIds 0..18, 255 = ignore, length height·width. */
  label: Uint8Array;
}

/** A training/eval batch as tensors (the consumer disposes them). */
export interface Batch {
  /** [N, H, W, 3] float32, ImageNet mean/std normalised. */
  images: tf.Tensor4D;
  /** [N, H, W] int32 trainIds, 255 = ignore. */
  labels: tf.Tensor3D;
  /** Frame ids in batch order. */
  ids: string[];
}
