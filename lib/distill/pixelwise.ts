import * as tf from '@tensorflow/tfjs';
import { checkOptionKeys, checkPair, checkTemperature, klSum, logSoftmaxOverChannels, stopGradient } from './common';

export interface PixelWiseKDOptions {
  /** Softmax temperature T (default 1, as CIRKD `--kd-temperature`). */
  temperature?: number;
}

/**
 * Pixel-wise distillation (PI), Liu et al. CVPR 2019 (Structured KD) / Hinton KD per pixel; CWD paper
 * Table 2 "PI" and Table 4 "PI (Spatial, KL)" 70.02 mIoU.
 *
 * The C activations at each pixel become a distribution (softmax over channels of x/T) and
 *
 *     L = T² / (N·H·W) · Σ_{n,h,w} KL( softmax_C(t/T) ‖ softmax_C(s/T) )
 *
 * = CIRKD `losses/kd.py` (`kl_div(..., 'batchmean')` over N·H·W rows, ×T²). Log-softmax, stable at ±1e4.
 * Same as `normalizedDivergence({normalization: 'spatial', divergence: 'kl'})`.
 * Inputs NHWC, same shape (for logits, C = number of classes); the teacher never receives gradient.
 *
 * @example
 *   const tf = require('@tensorflow/tfjs');
 *   const { pixelWiseKD } = require('./lib/distill');
 *   const s = tf.randomNormal([2, 16, 16, 19]), t = tf.randomNormal([2, 16, 16, 19]);
 *   pixelWiseKD(s, t, {temperature: 1}).print();
 */
export function pixelWiseKD(
  student: tf.Tensor4D, teacher: tf.Tensor4D, options: PixelWiseKDOptions = {},
): tf.Scalar {
  const loss = 'pixelWiseKD';
  checkOptionKeys(options, ['temperature'], loss);
  const temperature = checkTemperature(options.temperature ?? pixelWiseKD.defaultConfig().temperature, loss);
  checkPair(student, teacher, loss, true);
  const [n, h, w] = student.shape;
  return tf.tidy(() => {
    const logPs = logSoftmaxOverChannels(student, temperature);
    const logPt = logSoftmaxOverChannels(stopGradient(teacher) as tf.Tensor4D, temperature);
    return tf.mul(klSum(logPt, logPs), (temperature * temperature) / (n * h * w)) as tf.Scalar;
  });
}
pixelWiseKD.defaultConfig = (): Required<PixelWiseKDOptions> => ({ temperature: 1 });
