/**
 * Stand-ins for the training tests: a tiny two-output segmentation net and a toy dataset whose label
 * is derivable from the image (coloured rectangles + noise). Test-only: the real models and data
 * live in lib/models and lib/data.
 */
import * as tf from '@tensorflow/tfjs';
import type { SegmentationNet } from '../../lib/models/types';
import type { Batch } from '../../lib/data/types';
import type { TrainData } from '../../lib/train/trainer';
import { Rng, hashInts } from '../../lib/rng';

export const K = 4;
const COLOURS = [[-1, -1, -1], [1, -1, 0.5], [-0.5, 1, -1], [0.5, 0.5, 1]];

/** A tiny net: conv s2 → conv (feature, `width` ch) → 1×1 conv (logits, K classes), output stride 2. */
export function tinyNet(seed = 0, width = 8): SegmentationNet {
  const init = (s: number) => tf.initializers.glorotUniform({ seed: seed * 100 + s });
  const input = tf.input({ shape: [null, null, 3] });
  const h1 = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: init(1) }).apply(input) as tf.SymbolicTensor;
  const bn = tf.layers.batchNormalization({}).apply(h1) as tf.SymbolicTensor;
  const feature = tf.layers.conv2d({ filters: width, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(2) }).apply(bn) as tf.SymbolicTensor;
  const logits = tf.layers.conv2d({ filters: K, kernelSize: 1, kernelInitializer: init(3) }).apply(feature) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: [feature, logits] });
  return { model, config: { arch: 'tiny', numClasses: K, seed, width }, featureChannels: width, outputStride: 2 };
}

/** One toy frame: background class 0 with 3 rectangles of classes 1..3, colour = class + noise; a few 255 pixels. */
export function toyBatch(seed: number, n: number, h = 16, w = 32): Batch {
  const rng = new Rng(seed);
  const img = new Float32Array(n * h * w * 3);
  const lab = new Int32Array(n * h * w);
  for (let b = 0; b < n; b++) {
    for (let r = 1; r <= 3; r++) {
      const y0 = rng.int(h - 4), x0 = rng.int(w - 6), hh = 3 + rng.int(6), ww = 4 + rng.int(10);
      for (let y = y0; y < Math.min(h, y0 + hh); y++) for (let x = x0; x < Math.min(w, x0 + ww); x++) lab[(b * h + y) * w + x] = r;
    }
    for (let i = 0; i < h * w; i++) {
      const c = lab[b * h * w + i];
      for (let k = 0; k < 3; k++) img[(b * h * w + i) * 3 + k] = COLOURS[c][k] + (rng.next() - 0.5) * 0.8;
    }
    lab[b * h * w] = 255;
  }
  return { images: tf.tensor4d(img, [n, h, w, 3]), labels: tf.tensor3d(lab, [n, h, w], 'int32'), ids: [] };
}

/** TrainData over toy batches: batch k is a pure function of (seed, k). */
export function toyData(seed = 0): TrainData {
  return { batch: (step, bs) => toyBatch(hashInts([seed, step]), bs) };
}

/** A fixed validation split of toy batches (fresh tensors on every iteration). */
export function* toyVal(count = 4, n = 4): Generator<Batch> {
  for (let i = 0; i < count; i++) yield toyBatch(1_000_000 + i, n);
}
