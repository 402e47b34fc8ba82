import * as tf from '@tensorflow/tfjs';
import { checkOptionKeys, checkPair, safeSqrt, shapeStr, stopGradient } from './common';
import { defineLoss } from './descriptor';
import { fusedLossesActive, fusedPairwiseAffinity, PA_FUSED_MAX_NODES } from '../backend/loss-kernels';

export interface PairwiseAffinityOptions {
  /** Pooling window as a fraction of the map: kh = int(H·scale), kw = int(W·scale) (SKD `--pool-scale`, default 0.5). */
  scale?: number;
  /** Fixed pooling window [kh, kw] instead of `scale` (CIRKD uses [2, 2]). */
  window?: [number, number] | null;
  /**
   * Stop the gradient through the L2 norm of each pixel's feature vector (SKD, default true). false gives
   * the exact derivative of the value (CIRKD's `F.normalize`). The values agree up to the epsilon.
   */
  detachNorm?: boolean;
}

/**
 * PyTorch `MaxPool2d(kernel=(kh,kw), stride=(kh,kw), padding=0, ceil_mode=True)` on NHWC.
 * tf.maxPool(…, 'same') is NOT ceil mode (it pads both sides: for L = 7, k = 3 its windows are [-1..1],
 * [2..4], [5..7] where PyTorch's are [0..2], [3..5], [6]). Here the map is padded at the bottom/right
 * only, up to oh·kh × ow·kw, with −Infinity, then pooled with 'valid', so the last window is the partial
 * one as in PyTorch. (With stride = kernel and no padding every ceil-mode window starts inside the
 * input, so PyTorch's "drop the last window" rule never fires.)
 *
 * The backward pass is our own (tf.customGrad): tfjs-backend-wasm 4.22's MaxPoolGrad sends the gradient
 * of every window whose maximum is negative to the wrong element (measured; test/distill/golden.test.ts
 * "maxPoolCeil gradient …"), which silently breaks PA on signed features. The gradient goes to the arg-max of each window, split
 * equally between exact ties (PyTorch picks one of them; ties only occur on constant windows).
 */
export function maxPoolCeil(x: tf.Tensor4D, kh: number, kw: number): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const oh = Math.ceil(h / kh);
  const ow = Math.ceil(w / kw);
  const pool = tf.customGrad(((input: tf.Tensor4D, save: tf.GradSaveFunc) => {
    const padded = (oh * kh !== h || ow * kw !== w)
      ? tf.pad(input, [[0, 0], [0, oh * kh - h], [0, ow * kw - w], [0, 0]], -Infinity)
      : input.clone();
    const y = tf.maxPool(padded, [kh, kw], [kh, kw], 'valid');
    save([padded, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [p, pooled] = saved;
        const windows = tf.reshape(p, [n, oh, kh, ow, kw, c]);
        // 1 where the element equals its window's max: x − max == 0 (exact in IEEE arithmetic). A broadcast
        // tf.equal(windows, max) is ~100× slower on wasm, and wasm's Sign returns 0 for |x| < ~1e-6.
        const mask = tf.cast(tf.equal(tf.sub(windows, tf.reshape(pooled, [n, oh, 1, ow, 1, c])), 0), 'float32');
        const share = tf.div(tf.reshape(dy, [n, oh, 1, ow, 1, c]), tf.sum(mask, [2, 4], true));
        const dPadded = tf.reshape(tf.mul(mask, share), [n, oh * kh, ow * kw, c]);
        return tf.slice(dPadded, [0, 0, 0, 0], [n, h, w, c]);
      },
    };
  }) as any);
  return pool(x) as tf.Tensor4D;
}

/** Pixel-pair cosine similarity matrix of one map: [N, M, M], M = pooled H·W. */
function similarity(f: tf.Tensor4D, detachNorm: boolean): tf.Tensor3D {
  const [n, h, w, c] = f.shape;
  const v = tf.reshape(f, [n, h * w, c]);
  const norm = safeSqrt(tf.sum(tf.square(v), 2, true));
  const unit = detachNorm
    ? tf.div(v, tf.add(stopGradient(norm), 1e-8))       // SKD utils.L2: f / (‖f‖ + 1e-8), norm detached
    : tf.div(v, tf.maximum(norm, 1e-12));              // CIRKD: F.normalize(f, p=2, dim=channels)
  return tf.matMul(unit, unit, false, true) as tf.Tensor3D;
}

/** Resolve the pooling window for a map of size H×W (throws when it would be empty). */
export function pairwiseWindow(h: number, w: number, options: PairwiseAffinityOptions = {}): [number, number] {
  const cfg = { ...pairwiseAffinity.defaultConfig(), ...options };
  let kh: number;
  let kw: number;
  if (cfg.window) {
    [kh, kw] = cfg.window;
  } else {
    if (typeof cfg.scale !== 'number' || !(cfg.scale > 0) || !Number.isFinite(cfg.scale)) {
      throw new Error(`pairwiseAffinity: option scale must be a finite number > 0, got ${String(cfg.scale)}`);
    }
    kh = Math.floor(h * cfg.scale);
    kw = Math.floor(w * cfg.scale);
  }
  if (!Number.isInteger(kh) || !Number.isInteger(kw) || kh < 1 || kw < 1) {
    throw new Error(`pairwiseAffinity: pooling window ${kh}×${kw} for a ${h}×${w} map is empty; use a larger scale or window`);
  }
  return [kh, kw];
}

/**
 * Pairwise affinity (PA), Liu et al. CVPR 2019 "Structured Knowledge Distillation for Semantic
 * Segmentation" (SKD); CWD paper Table 1/2 "PA" (71.23 mIoU on the feature map).
 * As SKD `CriterionPairWiseforWholeFeatAfterPool` (utils/criterion.py):
 *
 *     pool : max-pool, window = stride = (int(H·scale), int(W·scale)), ceil mode (partial last window)
 *     f̂_i  : f_i / (‖f_i‖₂ + 1e-8)    (norm over channels; detached in SKD, see `detachNorm`)
 *     S    : S[n]_ij = f̂_i · f̂_j       (M×M, M = pooled positions)
 *     L    = mean over N·M² of (S_t − S_s)²
 *
 * With `detachNorm: true` (default, SKD) the gradient is NOT the derivative of the value; set it false for
 * the CIRKD gradient (`F.normalize`, eps 1e-12, and `window: [2, 2]` for CIRKD's fixed pooling).
 * Channel counts may differ. Cost O(N·M²·C). On wasm with the native addon, maps of ≤ 256 pooled nodes run
 * as one fused kernel each way (lib/backend/loss-kernels.ts; same values, ties split the same way).
 *
 * @example
 *   const tf = require('@tensorflow/tfjs');
 *   const { pairwiseAffinity } = require('./lib/distill');
 *   const s = tf.randomNormal([2, 65, 65, 32]), t = tf.randomNormal([2, 65, 65, 64]);
 *   pairwiseAffinity(s, t).print();                      // scale 0.5: 32×32 windows → 3×3 nodes
 *   pairwiseAffinity(s, t, {window: [2, 2], detachNorm: false}).print();   // CIRKD
 */
export function pairwiseAffinity(
  student: tf.Tensor4D, teacher: tf.Tensor4D, options: PairwiseAffinityOptions = {},
): tf.Scalar {
  const loss = 'pairwiseAffinity';
  checkOptionKeys(options, ['scale', 'window', 'detachNorm'], loss);
  checkPair(student, teacher, loss, false);
  const [, h, w] = student.shape;
  const [kh, kw] = pairwiseWindow(h, w, options);
  if (kh > h || kw > w) {
    throw new Error(`pairwiseAffinity: pooling window ${kh}×${kw} is larger than the map ${shapeStr(student.shape)}`);
  }
  const detachNorm = options.detachNorm ?? pairwiseAffinity.defaultConfig().detachNorm;
  if (fusedLossesActive() && Math.ceil(h / kh) * Math.ceil(w / kw) <= PA_FUSED_MAX_NODES) {
    return fusedPairwiseAffinity(student, teacher, kh, kw, detachNorm); // one native op each way (wasm)
  }
  return tf.tidy(() => {
    const ss = similarity(maxPoolCeil(student, kh, kw), detachNorm);
    const st = similarity(maxPoolCeil(stopGradient(teacher) as tf.Tensor4D, kh, kw), detachNorm);
    return tf.mean(tf.squaredDifference(ss, st)) as tf.Scalar;
  });
}
pairwiseAffinity.defaultConfig = (): Required<PairwiseAffinityOptions> => ({ scale: 0.5, window: null, detachNorm: true });

export const paLoss = defineLoss({
  name: 'pa', fn: pairwiseAffinity, defaultConfig: pairwiseAffinity.defaultConfig,
  description: 'pairwise affinity: ceil-mode max-pool, cosine similarity matrix, mean squared difference',
  source: 'Liu et al. CVPR 2019 (SKD); CWD Table 2 PA', needsSameChannels: false, needsLabels: false,
  referenceWeight: { value: 0.5, source: 'SKD run_train_val.sh λ_pa = 0.5 (1.0 in the paper/options)' },
});
