/**
 * Evaluation on a split: whole-image inference (no sliding window, no flip), logits upsampled
 * bilinearly to the image (= label) size by lib/models `predictLabels`, argmax, streamed into a `ConfusionMatrix` (cityscapesScripts rules).
 */
import * as tf from '@tensorflow/tfjs';
import { ConfusionMatrix } from '../metrics';
import type { Batch } from '../data/types';
import type { SegmentationNet } from '../models/types';
import { predictLabels } from '../models';

export interface EvalResult {
  perClassIoU: number[];
  /** Class names in trainId order when known. */
  classNames?: string[];
  mIoU: number;
  pixelAccuracy: number;
  images: number;
  seconds: number;
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
      const pred = predictLabels(net, batch.images);
      try {
        await cm.updateAsync(pred, batch.labels);
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
