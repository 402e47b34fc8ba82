import * as tf from '@tensorflow/tfjs';
import { checkOptionKeys, checkPair, safeSqrt, stopGradient } from './common';
import { defineLoss } from './descriptor';
import { fusedAttentionTransfer, fusedLossesActive } from '../backend/loss-kernels';

export interface AttentionTransferOptions {
  /** Exponent p of the attention map mean_C(|x|^p); only p = 2 (CIRKD / mmrazor) is implemented. */
  p?: 2;
}

/** a(f) = v / max(‖v‖₂, 1e-12), v = mean_C(f²) flattened over H·W (F.normalize). Output [N, H·W]. */
function attentionMap(f: tf.Tensor4D): tf.Tensor2D {
  const [n, h, w] = f.shape;
  const v = tf.reshape(tf.mean(tf.square(f), 3), [n, h * w]);
  const norm = safeSqrt(tf.sum(tf.square(v), 1, true));
  return tf.div(v, tf.maximum(norm, 1e-12)) as tf.Tensor2D;
}

/**
 * Attention transfer (AT), Zagoruyko & Komodakis ICLR 2017; CWD paper Table 1/2 "AT" (72.37 mIoU on the
 * feature map). Exactly CIRKD `losses/at.py` = mmrazor `ATLoss` (p = 2):
 *
 *     a(f)[n] = v / max(‖v‖₂, 1e-12),   v = mean_C(f[n]²) flattened over H·W
 *     L = mean_{n, i} (a(s)[n,i] − a(t)[n,i])²           (÷ N·H·W)
 *
 * Student and teacher may have different channel counts (only H×W maps are compared) but need the same
 * N, H, W. The usual weight is large (CIRKD `--lambda-at 10000`). Teacher gets no gradient.
 * On wasm with the native addon it runs as one fused kernel each way (lib/backend/loss-kernels.ts), same values.
 *
 * @example
 *   const tf = require('@tensorflow/tfjs');
 *   const { attentionTransfer } = require('./lib/distill');
 *   attentionTransfer(tf.randomNormal([2, 16, 16, 64]), tf.randomNormal([2, 16, 16, 256])).print();
 */
export function attentionTransfer(
  student: tf.Tensor4D, teacher: tf.Tensor4D, options: AttentionTransferOptions = {},
): tf.Scalar {
  const loss = 'attentionTransfer';
  checkOptionKeys(options, ['p'], loss);
  if (options.p !== undefined && options.p !== 2) {
    throw new Error(`attentionTransfer: only p = 2 is implemented (CIRKD/mmrazor), got p = ${String(options.p)}`);
  }
  checkPair(student, teacher, loss, false);
  if (fusedLossesActive()) return fusedAttentionTransfer(student, teacher); // one native op each way (wasm)
  return tf.tidy(() => {
    const as = attentionMap(student);
    const at = attentionMap(stopGradient(teacher) as tf.Tensor4D);
    return tf.mean(tf.squaredDifference(as, at)) as tf.Scalar;
  });
}
attentionTransfer.defaultConfig = (): Required<AttentionTransferOptions> => ({ p: 2 });

export const atLoss = defineLoss({
  name: 'at', fn: attentionTransfer, defaultConfig: attentionTransfer.defaultConfig,
  description: 'attention transfer: L2-normalised mean_C(x²) maps, mean squared difference',
  source: 'Zagoruyko & Komodakis ICLR 2017; CWD Table 2 AT', needsSameChannels: false, needsLabels: false,
  referenceWeight: { value: 10000, source: 'CIRKD --lambda-at 10000' },
});
