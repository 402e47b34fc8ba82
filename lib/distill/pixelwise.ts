import { defineLoss } from './descriptor';
import { gridLoss } from './normalized-divergence';

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
export const pixelWiseKD = gridLoss('pixelWiseKD', 'spatial', 'kl', 1);

export const piLoss = defineLoss({
  name: 'pi', fn: pixelWiseKD, defaultConfig: pixelWiseKD.defaultConfig,
  description: 'pixel-wise KD: softmax over channels per pixel, KL, ×T²/(N·H·W)',
  source: 'Liu et al. CVPR 2019 (SKD); CWD Table 2 PI, Table 4 Spatial/KL 70.02',
  needsSameChannels: true, needsLabels: false,
  referenceWeight: { value: 10, source: 'SKD λ_pi = 10; CIRKD λ_kd = 1' },
});

/** The same loss under its Table 4 name. */
export const spatialKLLoss = defineLoss({
  name: 'spatial-kl', fn: pixelWiseKD, defaultConfig: pixelWiseKD.defaultConfig,
  description: "alias of 'pi' (Table 4 naming: Spatial normalisation, KL)",
  source: 'CWD Table 4 PI row', needsSameChannels: true, needsLabels: false, referenceWeight: null,
});
