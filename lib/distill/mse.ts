import * as tf from '@tensorflow/tfjs';
import { checkOptionKeys, checkPair, stopGradient } from './common';
import { defineLoss } from './descriptor';
import { fusedLossesActive, fusedMse } from '../backend/loss-kernels';

export interface MSEOptions {
  /**
   * 'mean' (default): Σ(s − t)² / (N·H·W·C), PyTorch `nn.MSELoss()` as CIRKD FitNet (after its 1×1 conv).
   * 'pixel': Σ(s − t)² / (N·H·W), the official CWD code's `norm_type='none', divergence='mse'` reduction
   * (Table 4 row "L2 w/o norm."; the official code only uses the first image, a bug not reproduced here).
   * 'sum': Σ(s − t)².
   */
  reduction?: 'mean' | 'pixel' | 'sum';
}

/**
 * L2 without normalisation ("L2 w/o norm."), CWD paper Table 4 (None, MSE) 70.83 mIoU; FitNets-style
 * feature mimicking. `L = Σ_{n,h,w,c} (s − t)² / D` with D from `reduction` (default: all elements).
 * Channel counts must match (use {@link Conv1x1Aligner} first). Teacher gets no gradient.
 * On wasm with the native addon it runs as one fused kernel each way (lib/backend/loss-kernels.ts), same values.
 *
 * @example
 *   const tf = require('@tensorflow/tfjs');
 *   const { mse } = require('./lib/distill');
 *   mse(tf.ones([1, 2, 2, 3]), tf.zeros([1, 2, 2, 3])).print();                      // 1
 *   mse(tf.ones([1, 2, 2, 3]), tf.zeros([1, 2, 2, 3]), {reduction: 'pixel'}).print(); // 3
 */
export function mse(student: tf.Tensor4D, teacher: tf.Tensor4D, options: MSEOptions = {}): tf.Scalar {
  const loss = 'mse';
  checkOptionKeys(options, ['reduction'], loss);
  const reduction = options.reduction ?? mse.defaultConfig().reduction;
  if (!['mean', 'pixel', 'sum'].includes(reduction)) {
    throw new Error(`mse: option reduction must be 'mean', 'pixel' or 'sum', got '${String(reduction)}'`);
  }
  checkPair(student, teacher, loss, true);
  const [n, h, w, c] = student.shape;
  const denom = reduction === 'mean' ? n * h * w * c : reduction === 'pixel' ? n * h * w : 1;
  if (fusedLossesActive()) return fusedMse(student, teacher, denom); // one native op each way (wasm)
  return tf.tidy(() => tf.div(tf.sum(tf.squaredDifference(student, stopGradient(teacher))), denom) as tf.Scalar);
}
mse.defaultConfig = (): Required<MSEOptions> => ({ reduction: 'mean' });

export const mseLoss = defineLoss({
  name: 'mse', fn: mse, defaultConfig: mse.defaultConfig,
  description: 'L2 without normalisation (mean over N·H·W·C by default)',
  source: 'CWD Table 4 None/MSE 70.83 (that row uses reduction "pixel")', needsSameChannels: true,
  needsLabels: false, referenceWeight: { value: 10, source: 'CIRKD λ_fitnet = 10' },
});
