/**
 * Evaluation on a split: whole-image inference (no sliding window, no flip), logits upsampled
 * bilinearly to the label size, argmax, streamed into a `ConfusionMatrix` (cityscapesScripts rules).
 */
import * as tf from '@tensorflow/tfjs';
import { ConfusionMatrix } from '../metrics';
import type { Batch } from '../data/types';
import type { SegmentationNet } from '../models/types';

export interface EvalResult {
  perClassIoU: number[];
  /** Class names in trainId order when known. */
  classNames?: string[];
  mIoU: number;
  pixelAccuracy: number;
  images: number;
  seconds: number;
}

/** Predicted trainIds [N, H, W] for a batch of images at label size (H, W). */
export function predictLabels(net: SegmentationNet, images: tf.Tensor4D, size?: [number, number]): tf.Tensor3D {
  return tf.tidy(() => {
    const out = net.model.predict(images) as tf.Tensor[];
    if (!Array.isArray(out) || out.length < 2) {
      throw new Error(`predictLabels: the model must have outputs [feature, logits] (got ${Array.isArray(out) ? out.length : 1} output)`);
    }
    const logits = out[1] as tf.Tensor4D;
    const [H, W] = size ?? [images.shape[1], images.shape[2]];
    const up = logits.shape[1] === H && logits.shape[2] === W ? logits : tf.image.resizeBilinear(logits, [H, W], false);
    return tf.argMax(up, -1).toInt() as tf.Tensor3D;
  });
}

/**
 * Evaluate `net` on batches (the consumer — this function — disposes each batch).
 * @example
 *   const r = await evaluate(net, valBatches(), {numClasses: 19});
 *   console.log(r.mIoU, r.perClassIoU);
 */
export async function evaluate(
  net: SegmentationNet,
  batches: Iterable<Batch> | AsyncIterable<Batch>,
  options: { numClasses?: number; classNames?: string[]; ignoreIndex?: number } = {},
): Promise<EvalResult> {
  const numClasses = options.numClasses ?? net.config.numClasses;
  const cm = new ConfusionMatrix(numClasses, { ignoreIndex: options.ignoreIndex ?? 255 });
  const t0 = Date.now();
  let images = 0;
  for await (const batch of batches as AsyncIterable<Batch>) {
    try {
      const pred = predictLabels(net, batch.images, [batch.labels.shape[1], batch.labels.shape[2]]);
      try {
        cm.update(pred, batch.labels);
      } finally {
        pred.dispose();
      }
      images += batch.images.shape[0];
    } finally {
      batch.images.dispose();
      batch.labels.dispose();
    }
  }
  if (images === 0) throw new Error('evaluate: the split has no images');
  return {
    perClassIoU: Array.from(cm.perClassIoU()),
    classNames: options.classNames,
    mIoU: cm.meanIoU(),
    pixelAccuracy: cm.pixelAccuracy(),
    images,
    seconds: (Date.now() - t0) / 1000,
  };
}
