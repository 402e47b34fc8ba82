import * as tf from '@tensorflow/tfjs';
import { checkOptionKeys, checkPair, checkTemperature, klSum, logSoftmaxOverSpace, stopGradient } from './common';

export interface ChannelWiseDivergenceOptions {
  /** Softmax temperature T (default 4: the paper's best in Fig. 3 and the official/CIRKD scripts; the paper's other experiments use T = 3). */
  temperature?: number;
}

/**
 * Channel-wise distillation (CWD), Shu et al. ICCV 2021, Eq. 3-4; Table 2 "CD (Ours)", Table 4 "Ours
 * (Channel, KL)" 74.87 mIoU. https://arxiv.org/abs/2011.13256
 *
 * For every image n and channel c, the H·W activations become a distribution (Eq. 3)
 * `φ(y_c)_i = exp(y_c,i / T) / Σ_j exp(y_c,j / T)`, and the loss is the KL divergence from the teacher's:
 *
 *     L = T² / (N·C) · Σ_{n,c} Σ_i φ(t_nc)_i · (log φ(t_nc)_i − log φ(s_nc)_i)
 *     ∂L/∂s_nc,i = T/(N·C) · (φ(s_nc)_i − φ(t_nc)_i)
 *
 * i.e. Eq. 4 (the per-image T²/C·Σ_c KL) averaged over the batch, exactly as mmrazor
 * `ChannelWiseDivergence` and TorchDistiller `CriterionCWD('channel', 'kl')`. Computed with log-softmax,
 * so activations of ±1e4 stay finite (TorchDistiller's `softmax().log()` gives NaN there).
 * Not multiplied by the loss weight α (the paper's α = 3): the caller does that.
 *
 * Inputs are NHWC `[N,H,W,C]`, same shape; for a channel mismatch map the student with
 * {@link Conv1x1Aligner} first. The teacher never receives gradient (`tf.grad` w.r.t. it is all zeros).
 * Invariant to adding a per-(n,c) constant to either input (softmax shift invariance). For T → ∞,
 * softmax(x/T)_i ≈ (1 + (x_i − x̄)/T)/(H·W) and KL(p‖q) ≈ ½Σ(p − q)²/p, so the loss tends to the
 * variance-matching limit ½·mean_{n,c} Var_HW(t_nc − s_nc) (tested at T = 5, 25, 100).
 *
 * @example
 *   const tf = require('@tensorflow/tfjs');
 *   const { channelWiseDivergence } = require('./lib/distill');
 *   const s = tf.randomNormal([2, 16, 16, 8]), t = tf.randomNormal([2, 16, 16, 8]);
 *   channelWiseDivergence(s, t, {temperature: 4}).print();   // ≥ 0
 *   channelWiseDivergence(t, t).print();                     // 0
 */
export function channelWiseDivergence(
  student: tf.Tensor4D, teacher: tf.Tensor4D, options: ChannelWiseDivergenceOptions = {},
): tf.Scalar {
  const loss = 'channelWiseDivergence';
  checkOptionKeys(options, ['temperature'], loss);
  const temperature = checkTemperature(options.temperature ?? channelWiseDivergence.defaultConfig().temperature, loss);
  checkPair(student, teacher, loss, true);
  const [n, , , c] = student.shape;
  const scale = (temperature * temperature) / (n * c);
  return tf.tidy(() => {
    const logPt = logSoftmaxOverSpace(stopGradient(teacher) as tf.Tensor4D, temperature);
    return cwdOp(student, logPt as tf.Tensor3D, temperature, scale);
  });
}

/**
 * The student side of CWD as one custom op with the analytic gradient
 * ∂L/∂s = T/(N·C)·(φ(s) − φ(t)) (the same numbers as autodiff through log-softmax, cheaper on wasm).
 */
function cwdOp(student: tf.Tensor4D, logPt: tf.Tensor3D, temperature: number, scale: number): tf.Scalar {
  const [n, h, w, c] = student.shape;
  const op = tf.customGrad(((s: tf.Tensor4D, lt: tf.Tensor3D, save: tf.GradSaveFunc) => {
    const logPs = logSoftmaxOverSpace(s, temperature);
    save([logPs, lt]);
    return {
      value: tf.mul(klSum(lt, logPs), scale),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [ls, lt2] = saved;
        const g = tf.mul(tf.sub(tf.exp(ls), tf.exp(lt2)), tf.mul(dy, scale / temperature)); // [N, C, H·W]
        return [tf.reshape(tf.transpose(g, [0, 2, 1]), [n, h, w, c]), tf.zerosLike(lt2)];
      },
    };
  }) as any); // eslint-disable-line @typescript-eslint/no-explicit-any
  return op(student, logPt) as tf.Scalar;
}
channelWiseDivergence.defaultConfig = (): Required<ChannelWiseDivergenceOptions> => ({ temperature: 4 });
