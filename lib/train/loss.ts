/**
 * The task loss ℓ(y, y^S) of Eq. 1: per-pixel softmax cross-entropy with the Cityscapes ignore
 * label (255), averaged over the labelled pixels (PyTorch `CrossEntropyLoss(ignore_index=255)`).
 */
import * as tf from '@tensorflow/tfjs';

export interface CrossEntropyOptions {
  /** Label value that contributes nothing (default 255). */
  ignoreIndex?: number;
  /**
   * Where the loss is computed when logits (stride 8) are smaller than the labels:
   * - 'upsample' (default, as mmseg/PSPNet/the paper's code): logits are resized bilinearly
   *   (align_corners = false) to the label size, the loss is over every labelled pixel;
   * - 'downsample': labels are subsampled with nearest neighbour to the logits size (cheaper,
   *   loses thin structures). Pixel centres are sampled at floor((i + 0.5)·H/h).
   */
  mode?: 'upsample' | 'downsample';
}

/**
 * Nearest-neighbour subsampling of an int label map [N, H, W] to [N, h, w] (pixel-centre rule).
 * Two gathers on the device with indices from the shapes alone: no read of the labels (webgpu has
 * no synchronous reads in Node).
 */
export function downsampleLabels(labels: tf.Tensor3D, h: number, w: number): tf.Tensor3D {
  const [, H, W] = labels.shape;
  if (H === h && W === w) return labels.clone();
  const rows = Int32Array.from({ length: h }, (_, y) => Math.min(H - 1, Math.floor(((y + 0.5) * H) / h)));
  const cols = Int32Array.from({ length: w }, (_, x) => Math.min(W - 1, Math.floor(((x + 0.5) * W) / w)));
  return tf.tidy(() => tf.gather(tf.gather(labels, tf.tensor1d(rows, 'int32'), 1), tf.tensor1d(cols, 'int32'), 2) as tf.Tensor3D);
}

/**
 * Softmax cross-entropy over classes at every pixel, ignoring `ignoreIndex`.
 * @param logits [N, h, w, K] raw scores (any stride).
 * @param labels [N, H, W] int32 trainIds in 0..K-1 or `ignoreIndex`.
 * @returns scalar mean over labelled pixels (0 when no pixel is labelled).
 * @example
 *   const logits = tf.zeros([1, 2, 2, 19]) as tf.Tensor4D;
 *   const labels = tf.tensor3d([[[0, 1], [255, 3]]], [1, 2, 2], 'int32');
 *   (await crossEntropy2d(logits, labels).data())[0];  // ln 19 ≈ 2.944
 */
export function crossEntropy2d(
  logits: tf.Tensor4D,
  labels: tf.Tensor3D,
  options: CrossEntropyOptions = {},
): tf.Scalar {
  const ignoreIndex = options.ignoreIndex ?? 255;
  const mode = options.mode ?? 'upsample';
  if (logits.rank !== 4) throw new Error(`crossEntropy2d: logits must be [N, h, w, K], got shape [${logits.shape}]`);
  if (labels.rank !== 3) throw new Error(`crossEntropy2d: labels must be [N, H, W], got shape [${labels.shape}]`);
  if (logits.shape[0] !== labels.shape[0]) {
    throw new Error(`crossEntropy2d: batch sizes differ: logits [${logits.shape}] vs labels [${labels.shape}]`);
  }
  if (mode !== 'upsample' && mode !== 'downsample') throw new Error(`crossEntropy2d: unknown mode '${mode}'`);
  const K = logits.shape[3];
  return tf.tidy(() => {
    let lg = logits;
    let lb = labels;
    const [, h, w] = logits.shape;
    const [, H, W] = labels.shape;
    if (h !== H || w !== W) {
      if (mode === 'upsample') lg = tf.image.resizeBilinear(logits, [H, W], false);
      else lb = downsampleLabels(labels, h, w);
    }
    const lbInt = lb.dtype === 'int32' ? lb : lb.toInt();
    const valid = tf.notEqual(lbInt, tf.scalar(ignoreIndex, 'int32'));
    const safe = tf.where(valid, lbInt, tf.zerosLike(lbInt));
    const oneHot = tf.oneHot(safe.flatten(), K).reshape(lg.shape) as tf.Tensor4D;
    const logp = tf.logSoftmax(lg);
    const nll = tf.neg(tf.sum(tf.mul(oneHot, logp), -1));
    const mask = valid.toFloat();
    const count = tf.maximum(tf.sum(mask), tf.scalar(1));
    return tf.div(tf.sum(tf.mul(nll, mask)), count) as tf.Scalar;
  });
}
