import * as tf from '@tensorflow/tfjs';
import { checkOptionKeys, checkPair, safeSqrt, shapeStr, stopGradient } from './common';
import { defineLoss } from './descriptor';

export interface IFVDOptions {
  /**
   * Ground-truth label map (trainIds), int32 `[N, Hl, Wl]` or `[N, Hl, Wl, 1]` at any resolution; it is
   * resized to the feature size with PyTorch's legacy nearest rule. Required.
   */
  labels?: tf.Tensor3D | tf.Tensor4D;
  /** Number of classes K; labels must be in [0, K) or equal `ignoreIndex` (default 19, Cityscapes). */
  numClasses?: number;
  /** Label value of ignored pixels (default 255). */
  ignoreIndex?: number;
  /**
   * Reduction. true (default, reference convention of IFVD/TorchDistiller/CIRKD): mean over all N·H·W
   * pixels, ignored pixels included (they compare their own feature with itself, cos = 1 for both
   * networks, so they add 0 to the numerator but count in the denominator). false: mean over the
   * non-ignored pixels only (0 if there are none).
   */
  countIgnored?: boolean;
  /**
   * Guard against labels outside [0, numClasses) that are not ignoreIndex (default true). Checked on
   * the device without reading the labels back (webgpu has no synchronous reads in Node): any such
   * label makes the loss NaN, so training stops at its finite-loss check. `await checkIfvdLabels(…)`
   * says which value is wrong.
   */
  validateLabels?: boolean;
}

/**
 * PyTorch legacy `F.interpolate(mode='nearest')` source indices: src = min(floor(dst · (in/out)), in−1),
 * with the scale in float32 as ATen computes it (identity when in == out, dst >> 1 when out == 2·in).
 */
export function nearestIndices(inSize: number, outSize: number): number[] {
  const idx: number[] = [];
  const scale = Math.fround(inSize / outSize);
  for (let d = 0; d < outSize; d++) {
    if (outSize === inSize) idx.push(d);
    else if (outSize === 2 * inSize) idx.push(d >> 1);
    else idx.push(Math.min(Math.floor(Math.fround(d * scale)), inSize - 1));
  }
  return idx;
}

/** Resize an int label map `[N,Hl,Wl]`/`[N,Hl,Wl,1]` to `[N,h,w]` with the legacy nearest rule. */
export function resizeLabelsNearest(labels: tf.Tensor3D | tf.Tensor4D, h: number, w: number): tf.Tensor3D {
  return tf.tidy(() => {
    const l3 = (labels.rank === 4 ? tf.squeeze(labels, [3]) : labels) as tf.Tensor3D;
    const [, hl, wl] = l3.shape;
    const rows = tf.gather(l3, tf.tensor1d(nearestIndices(hl, h), 'int32'), 1);
    return tf.gather(rows, tf.tensor1d(nearestIndices(wl, w), 'int32'), 2) as tf.Tensor3D;
  });
}

/** cos(x, y) over the last axis, x·y / (max(‖x‖,1e-8)·max(‖y‖,1e-8)). */
function cosine(x: tf.Tensor, y: tf.Tensor): tf.Tensor {
  const eps = 1e-8;
  const nx = tf.maximum(safeSqrt(tf.sum(tf.square(x), -1)), eps);
  const ny = tf.maximum(safeSqrt(tf.sum(tf.square(y), -1)), eps);
  return tf.div(tf.sum(tf.mul(x, y), -1), tf.mul(nx, ny));
}

/**
 * Per-pixel cosine similarity to the class prototype, `[N, H·W]`.
 * onehot: `[N, H·W, K]` float (all zeros on ignored pixels), valid: `[N, H·W, 1]`.
 */
function prototypeSimilarity(f: tf.Tensor4D, onehot: tf.Tensor3D, valid: tf.Tensor3D): tf.Tensor2D {
  const [n, h, w, c] = f.shape;
  const v = tf.reshape(f, [n, h * w, c]) as tf.Tensor3D;
  const counts = tf.sum(onehot, 1);                                   // [N, K]
  const sums = tf.matMul(onehot, v, true, false);                      // [N, K, C]
  const protos = tf.div(sums, tf.expandDims(tf.add(counts, 1e-6), 2)); // [N, K, C]
  const center = tf.add(tf.matMul(onehot, protos), tf.mul(tf.sub(1, valid), v)); // ignore → own feature
  return cosine(v, center) as tf.Tensor2D;
}

/**
 * Intra-class feature variation distillation (IFVD), Wang et al. ECCV 2020; CWD paper Table 1/2 "IFVD"
 * (71.35 mIoU on the feature map). As YukangWang/IFVD, TorchDistiller and CIRKD `CriterionIFV`:
 *
 *     y         : labels resized (legacy nearest) to the feature size H×W
 *     proto_k[n] = Σ_{i: y_i = k} f[n, i] / (count_k[n] + 1e-6)            per image, k ∈ [0, K)
 *     center_i  = proto_{y_i}  (an ignored pixel keeps its own feature)
 *     cs[n, i]  = cos(f[n, i], center_i)          (eps 1e-8)
 *     L         = mean_{n,i} (cs_s − cs_t)²        ÷ N·H·W, ignored pixels included (see `countIgnored`)
 *
 * Student gradients flow through the prototypes too. Channel counts may differ. Labels are passed in the
 * options: `ifvd(s, t, {labels, numClasses: 19})`.
 *
 * @example
 *   const tf = require('@tensorflow/tfjs');
 *   const { ifvd } = require('./lib/distill');
 *   const labels = tf.randomUniform([2, 64, 64], 0, 19, 'int32');
 *   ifvd(tf.randomNormal([2, 8, 8, 32]), tf.randomNormal([2, 8, 8, 64]), {labels, numClasses: 19}).print();
 */
export function ifvd(student: tf.Tensor4D, teacher: tf.Tensor4D, options: IFVDOptions = {}): tf.Scalar {
  const loss = 'ifvd';
  checkOptionKeys(options, ['labels', 'numClasses', 'ignoreIndex', 'countIgnored', 'validateLabels'], loss);
  const cfg = { ...ifvd.defaultConfig(), ...options };
  checkPair(student, teacher, loss, false);
  const { labels, numClasses, ignoreIndex } = cfg;
  if (!(labels instanceof tf.Tensor)) {
    throw new Error('ifvd: option labels (int32 tensor [N,H,W] or [N,H,W,1] of class ids) is required');
  }
  if (!(labels.rank === 3 || (labels.rank === 4 && labels.shape[3] === 1))) {
    throw new Error(`ifvd: labels must be [N,H,W] or [N,H,W,1], got ${shapeStr(labels.shape)}`);
  }
  if (labels.shape[0] !== student.shape[0]) {
    throw new Error(`ifvd: labels ${shapeStr(labels.shape)} and student ${shapeStr(student.shape)} have different batch sizes`);
  }
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new Error(`ifvd: option numClasses must be an integer ≥ 1, got ${String(numClasses)}`);
  }
  const [n, h, w] = student.shape;
  const guard = (loss: tf.Scalar): tf.Scalar => (cfg.validateLabels
    ? tf.where(invalidLabelsPresent(labels, numClasses, ignoreIndex), tf.scalar(NaN), loss) as tf.Scalar
    : loss);
  return tf.tidy(() => {
    const y = tf.reshape(resizeLabelsNearest(labels, h, w), [n, h * w]);
    const onehot = tf.oneHot(tf.cast(tf.where(tf.equal(y, ignoreIndex), tf.fill(y.shape, -1, 'int32'), tf.cast(y, 'int32')), 'int32') as tf.Tensor2D, numClasses);
    const oh = tf.cast(onehot, 'float32') as tf.Tensor3D;              // [N, H·W, K]; -1 → all zeros
    const valid = tf.sum(oh, 2, true) as tf.Tensor3D;                 // [N, H·W, 1]
    const cs = prototypeSimilarity(student, oh, valid);
    const ct = prototypeSimilarity(stopGradient(teacher) as tf.Tensor4D, oh, valid);
    const sq = tf.squaredDifference(cs, ct);
    if (cfg.countIgnored) return guard(tf.mean(sq) as tf.Scalar);
    const v2 = tf.reshape(valid, [n, h * w]);
    return guard(tf.div(tf.sum(tf.mul(sq, v2)), tf.maximum(tf.sum(v2), 1)) as tf.Scalar);
  });
}

/** Whether some label is neither in [0, numClasses) nor ignoreIndex (a bool scalar, on the device). */
function invalidLabelsPresent(labels: tf.Tensor, numClasses: number, ignoreIndex: number): tf.Scalar {
  return tf.tidy(() => {
    const y = tf.cast(labels, 'float32');
    const bad = tf.logicalAnd(tf.notEqual(y, ignoreIndex), tf.logicalOr(tf.less(y, 0), tf.greaterEqual(y, numClasses)));
    return tf.any(bad) as tf.Scalar;
  });
}

/**
 * Throws the first label value that `ifvd` would reject (not in [0, numClasses), not ignoreIndex),
 * naming it; resolves when all labels are valid. Reads the labels asynchronously, e.g.
 * `await checkIfvdLabels(labels, 19)` throws "ifvd: label value 33 is outside [0, 19) …".
 */
export async function checkIfvdLabels(labels: tf.Tensor, numClasses = 19, ignoreIndex = 255): Promise<void> {
  const data = await labels.data();
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v !== ignoreIndex && !(Number.isInteger(v) && v >= 0 && v < numClasses)) {
      throw new Error(`ifvd: label value ${v} is outside [0, ${numClasses}) and is not the ignoreIndex ${ignoreIndex} (numClasses = ${numClasses})`);
    }
  }
}
ifvd.defaultConfig = (): Required<Omit<IFVDOptions, 'labels'>> & { labels?: IFVDOptions['labels'] } => ({
  numClasses: 19, ignoreIndex: 255, countIgnored: true, validateLabels: true,
});

export const ifvdLoss = defineLoss({
  name: 'ifvd', fn: ifvd, defaultConfig: ifvd.defaultConfig as () => IFVDOptions,
  description: 'intra-class feature variation: cosine to class prototypes (labels), mean squared difference',
  source: 'Wang et al. ECCV 2020; CWD Table 2 IFVD', needsSameChannels: false, needsLabels: true,
  referenceWeight: { value: 200, source: 'IFVD/TorchDistiller λ_ifv = 200; CIRKD 20' },
});
