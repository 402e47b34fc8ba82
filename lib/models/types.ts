import type * as tf from '@tensorflow/tfjs';

/**
 * A segmentation network as the paper distils it: a tf.LayersModel with two outputs,
 * `[feature, logits]`, both at the output stride (8) of the input:
 * - feature: the map before the classifier (the tap point of feature distillation), [N, h, w, C];
 * - logits: the score map, [N, h, w, numClasses].
 * Callers upsample logits (bilinear) to the label size for the task loss and for prediction.
 */
export interface SegmentationNet {
  model: tf.LayersModel;
  /** The config the model was built from (serialised into checkpoints). */
  config: Record<string, unknown> & { arch: string; numClasses: number };
  featureChannels: number;
  outputStride: number;
}
