import * as tf from '@tensorflow/tfjs';
import { checkOptionKeys, checkPair, safeSqrt, stopGradient } from './common';
import { defineLoss } from './descriptor';
import { fusedLocalAffinity, fusedLossesActive } from '../backend/loss-kernels';

export type LocalAffinityOptions = Record<string, never>;

/** The 4 neighbour offsets (dy, dx) whose mirror images complete the 8-neighbourhood. */
const HALF_NEIGHBOURHOOD: ReadonlyArray<readonly [number, number]> = [[0, 1], [1, 0], [1, 1], [1, -1]];

/** Euclidean distances ‖f_i − f_j‖₂ over C for every unordered neighbour pair (i, j) inside the image, concatenated [N, P]. */
function neighbourDistances(f: tf.Tensor4D): tf.Tensor2D {
  const [n, h, w, c] = f.shape;
  const parts: tf.Tensor2D[] = [];
  for (const [dy, dx] of HALF_NEIGHBOURHOOD) {
    const rows = h - dy;
    const cols = w - Math.abs(dx);
    if (rows <= 0 || cols <= 0) continue;
    const x0 = Math.max(0, -dx);
    const a = tf.slice(f, [0, 0, x0, 0], [n, rows, cols, c]);
    const b = tf.slice(f, [0, dy, x0 + dx, 0], [n, rows, cols, c]);
    const d = safeSqrt(tf.sum(tf.squaredDifference(a, b), 3));
    parts.push(tf.reshape(d, [n, rows * cols]));
  }
  return tf.concat(parts, 1);
}

/**
 * Local affinity (LOCAL), Xie et al. BMVC 2018 "Improving fast segmentation with teacher-student
 * learning"; CWD paper Table 1/2 "LOCAL" (69.81 mIoU on the feature map).
 * PROJECT-DEFINED convention (no public implementation of LOCAL exists):
 *
 *     d_f(i,j) = ‖f[:, i] − f[:, j]‖₂   for each pixel i and each of its 8 neighbours j inside the image (no padding)
 *     L = mean over all (n, i, j) ordered pairs of (d_s(i,j) − d_t(i,j))²,   #pairs = N·(8HW − 6H − 6W + 4)
 *
 * Each unordered pair appears twice among the ordered ones, so the mean over the 4HW−3H−3W+2 unordered
 * pairs per image (what is computed) is the same number. The distance's gradient at d = 0 (identical
 * neighbours, e.g. ReLU zeros) is taken as 0, as PyTorch's norm does. Channel counts may differ.
 * On wasm with the native addon it runs as one fused kernel each way (lib/backend/loss-kernels.ts), same values.
 *
 * @example
 *   const tf = require('@tensorflow/tfjs');
 *   const { localAffinity } = require('./lib/distill');
 *   localAffinity(tf.randomNormal([2, 16, 16, 32]), tf.randomNormal([2, 16, 16, 64])).print();
 */
export function localAffinity(
  student: tf.Tensor4D, teacher: tf.Tensor4D, options: LocalAffinityOptions = {},
): tf.Scalar {
  const loss = 'localAffinity';
  checkOptionKeys(options, [], loss);
  checkPair(student, teacher, loss, false);
  const [, h, w] = student.shape;
  if (h * w < 2) throw new Error(`localAffinity: needs at least 2 pixels, got H×W = ${h}×${w}`);
  if (fusedLossesActive()) return fusedLocalAffinity(student, teacher); // one native op each way (wasm)
  return tf.tidy(() => {
    const ds = neighbourDistances(student);
    const dt = neighbourDistances(stopGradient(teacher) as tf.Tensor4D);
    return tf.mean(tf.squaredDifference(ds, dt)) as tf.Scalar;
  });
}
localAffinity.defaultConfig = (): LocalAffinityOptions => ({});

export const localLoss = defineLoss({
  name: 'local', fn: localAffinity, defaultConfig: localAffinity.defaultConfig,
  description: '8-neighbourhood feature distances, mean squared difference (project-defined convention)',
  source: 'Xie et al. BMVC 2018; CWD Table 2 LOCAL', needsSameChannels: false, needsLabels: false,
  referenceWeight: null,
});
