/**
 * The paper's Table 4 ablation as one builder: a normalisation φ (Eq. 3 or its alternatives) followed by a
 * discrepancy φ' (KL, MSE or Bhattacharyya), reduced like the official CWD code
 * (TorchDistiller `SemSeg-distill/utils/criterion.py`, `CriterionCWD(norm_type, divergence)`).
 *
 * Names follow the paper (Table 4 "Norm." column) — the commonest confusion in the issue threads:
 * - `'channel'`: softmax over the H·W positions of each channel of x/T (Eq. 3, CWD).
 * - `'spatial'`: softmax over the C channels at each pixel of x/T (PI, "normalizes the activation of each
 *   spatial location").
 * - `'none'`: the raw activations.
 * - `'channel-mean'`: the mean over H·W of each channel (the official code's `channel_mean` option, an
 *   extra ablation; not a Table 4 row).
 *
 * Reduction (sum of the per-element discrepancy, then): ÷(N·C) for `channel`/`channel-mean`,
 * ÷(N·H·W) for `spatial`/`none`; ×T² for `kl` only (the official code forces T = 1 for `mse`, we keep T
 * in the softmax if you pass one but never multiply by T² outside KL).
 *
 * | Table 4 row | builder options | named function |
 * |---|---|---|
 * | PI (Spatial, KL) 70.02 | `{normalization: 'spatial', divergence: 'kl'}` | {@link pixelWiseKD} |
 * | L2 w/o norm. (None, MSE) 70.83 | `{normalization: 'none', divergence: 'mse'}` | {@link mse} with `reduction: 'pixel'` (the named `mse` defaults to the plain mean over N·H·W·C) |
 * | L2 (Channel, MSE) 71.60 | `{normalization: 'channel', divergence: 'mse'}` | {@link channelNormMSE} |
 * | Bhat (Channel, Bhat) 72.21 | `{normalization: 'channel', divergence: 'bhattacharyya'}` | {@link channelBhattacharyya} |
 * | Ours (Channel, KL) 74.87 | `{normalization: 'channel', divergence: 'kl'}` | {@link channelWiseDivergence} |
 *
 * KL is KL(teacher ‖ student) with the teacher as the target distribution; the teacher never receives
 * gradient. (Channel, KL) — CWD — is one custom op with its analytic gradient
 * ∂L/∂s = T/(N·C)·(φ(s) − φ(t)) (the numbers of autodiff through log-softmax, cheaper on wasm).
 * On wasm with the native addon every cell runs instead as one fused native
 * forward and backward kernel (lib/backend/loss-kernels.ts; same values, `fusedLossesActive()`). Bhattacharyya (project-defined, no public reference implements it):
 * −ln Σ_i √(p_s,i · p_t,i) per distribution, computed as −logSumExp(½(log p_s + log p_t)).
 *
 * @example
 *   const tf = require('@tensorflow/tfjs');
 *   const { normalizedDivergence } = require('./lib/distill');
 *   const bhat = normalizedDivergence({normalization: 'channel', divergence: 'bhattacharyya'});
 *   const s = tf.randomNormal([2, 8, 8, 4]), t = tf.randomNormal([2, 8, 8, 4]);
 *   bhat(s, t).print();                         // ≥ 0, 0 when s == t
 */
import * as tf from '@tensorflow/tfjs';
import {
  bhattacharyyaSum, checkOptionKeys, checkPair, checkTemperature, klSum, logSoftmaxOverChannels,
  logSoftmaxOverSpace, stopGradient,
} from './common';
import { defineLoss, LossFn } from './descriptor';
import { fusedChannelMeanMse, fusedLossesActive, fusedMse, fusedNormalizedDivergence } from '../backend/loss-kernels';

export type Normalization = 'none' | 'spatial' | 'channel' | 'channel-mean';
export type Divergence = 'mse' | 'kl' | 'bhattacharyya';
export const NORMALIZATIONS: readonly Normalization[] = ['none', 'spatial', 'channel', 'channel-mean'];
export const DIVERGENCES: readonly Divergence[] = ['mse', 'kl', 'bhattacharyya'];

export interface NormalizedDivergenceOptions {
  /** φ: 'none' | 'spatial' (softmax over C per pixel) | 'channel' (softmax over H·W per channel, Eq. 3) | 'channel-mean'. */
  normalization: Normalization;
  /** φ': 'mse' (squared error, summed) | 'kl' (KL(teacher‖student)) | 'bhattacharyya'. */
  divergence: Divergence;
  /** Softmax temperature T for 'spatial'/'channel' (default 1); must stay 1 for 'none'/'channel-mean'. */
  temperature?: number;
}

/**
 * Compute one (normalisation, divergence) combination. `loss` names the caller in error messages.
 * Validates shapes (channels must match), the temperature and the combination.
 */
export function normalizedDivergenceLoss(
  student: tf.Tensor4D, teacher: tf.Tensor4D, options: NormalizedDivergenceOptions, loss = 'normalizedDivergence',
): tf.Scalar {
  checkOptionKeys(options, ['normalization', 'divergence', 'temperature'], loss);
  const { normalization, divergence } = options;
  const temperature = checkTemperature(options.temperature ?? 1, loss);
  if (!NORMALIZATIONS.includes(normalization)) {
    throw new Error(`${loss}: unknown normalization '${String(normalization)}'; valid: ${NORMALIZATIONS.join(', ')}`);
  }
  if (!DIVERGENCES.includes(divergence)) {
    throw new Error(`${loss}: unknown divergence '${String(divergence)}'; valid: ${DIVERGENCES.join(', ')}`);
  }
  const isSoftmax = normalization === 'spatial' || normalization === 'channel';
  if (!isSoftmax && divergence !== 'mse') {
    throw new Error(
      `${loss}: divergence '${divergence}' compares probability distributions and needs normalization `
      + `'spatial' or 'channel', got '${normalization}'`,
    );
  }
  if (!isSoftmax && temperature !== 1) {
    throw new Error(`${loss}: temperature applies only to the softmax normalizations ('spatial', 'channel'); got temperature ${temperature} with normalization '${normalization}'`);
  }
  checkPair(student, teacher, loss, true);
  const [n, h, w, c] = student.shape;
  if (fusedLossesActive()) {
    // wasm with the native addon: one forward and one backward kernel (lib/backend/loss-kernels.ts), same values
    if (normalization === 'none') return fusedMse(student, teacher, n * h * w);
    if (normalization === 'channel-mean') return fusedChannelMeanMse(student, teacher);
    const scale = (divergence === 'kl' ? temperature * temperature : 1) / (normalization === 'channel' ? n * c : n * h * w);
    return fusedNormalizedDivergence(student, teacher, { normalization, divergence, temperature, scale });
  }
  return tf.tidy(() => {
    const t = stopGradient(teacher) as tf.Tensor4D;
    let total: tf.Scalar;
    let denom: number;
    if (normalization === 'none') {
      total = tf.sum(tf.squaredDifference(student, t));
      denom = n * h * w;
    } else if (normalization === 'channel-mean') {
      total = tf.sum(tf.squaredDifference(tf.mean(student, [1, 2]), tf.mean(t, [1, 2])));
      denom = n * c;
    } else if (normalization === 'channel' && divergence === 'kl') {
      return channelKL(student, logSoftmaxOverSpace(t, temperature), temperature, (temperature * temperature) / (n * c));
    } else {
      const channel = normalization === 'channel';
      const logPs = channel ? logSoftmaxOverSpace(student, temperature) : logSoftmaxOverChannels(student, temperature);
      const logPt = channel ? logSoftmaxOverSpace(t, temperature) : logSoftmaxOverChannels(t, temperature);
      denom = channel ? n * c : n * h * w;
      if (divergence === 'kl') {
        total = tf.mul(klSum(logPt, logPs), temperature * temperature);
      } else if (divergence === 'mse') {
        total = tf.sum(tf.squaredDifference(tf.exp(logPs), tf.exp(logPt)));
      } else {
        total = bhattacharyyaSum(logPt, logPs, logPs.rank - 1);
      }
    }
    return tf.div(total, denom) as tf.Scalar;
  });
}

/**
 * Build a loss function `(student, teacher) => Scalar` for one Table 4 combination (see the module doc).
 * The options are validated when the function is called.
 */
export function normalizedDivergence(options: NormalizedDivergenceOptions): LossFn<Partial<NormalizedDivergenceOptions>> {
  return (student, teacher, override) => normalizedDivergenceLoss(student, teacher, { ...options, ...(override ?? {}) });
}

/**
 * (Channel, KL) as one custom op of the student with the analytic gradient: value
 * scale·Σ p_t (log p_t − log p_s), gradient scale/T·(p_s − p_t), from the teacher's log-distribution
 * `logPt` [N, C, H·W] (no gradient to it).
 */
function channelKL(student: tf.Tensor4D, logPt: tf.Tensor3D, temperature: number, scale: number): tf.Scalar {
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
  }) as Parameters<typeof tf.customGrad>[0]);
  return op(student, logPt) as tf.Scalar;
}

export interface TemperatureOptions {
  /** Softmax temperature T (default 1). */
  temperature?: number;
}

/**
 * A named cell of the Table 4 grid whose one option is the temperature (CWD, PI, channel MSE, …):
 * checks its option names, fills in `defaultTemperature`, and names itself in every error.
 * @example
 *   const tf = require('@tensorflow/tfjs');
 *   const { gridLoss } = require('./lib/distill');
 *   const spatialBhat = gridLoss('spatialBhat', 'spatial', 'bhattacharyya', 1);
 *   spatialBhat(tf.randomNormal([1, 4, 4, 3]), tf.randomNormal([1, 4, 4, 3]), {temperature: 2}).print();
 */
export function gridLoss(
  name: string, normalization: 'spatial' | 'channel', divergence: Divergence, defaultTemperature: number,
): LossFn<TemperatureOptions> & { defaultConfig(): Required<TemperatureOptions> } {
  const fn = (student: tf.Tensor4D, teacher: tf.Tensor4D, options: TemperatureOptions = {}): tf.Scalar => {
    checkOptionKeys(options, ['temperature'], name);
    const temperature = options.temperature ?? defaultTemperature;
    return normalizedDivergenceLoss(student, teacher, { normalization, divergence, temperature }, name);
  };
  return Object.assign(fn, { defaultConfig: (): Required<TemperatureOptions> => ({ temperature: defaultTemperature }) });
}

/** Table 4 grid cell (spatial × MSE), not a paper row: the two cells of the grid no named function covers. */
const spatialMse = gridLoss('spatial-mse', 'spatial', 'mse', 1);
export const spatialMseLoss = defineLoss({
  name: 'spatial-mse', fn: spatialMse, defaultConfig: spatialMse.defaultConfig,
  description: 'squared error of pixel-wise (channel) softmaxed maps, ÷(N·H·W)',
  source: 'Table 4 grid (spatial × mse), not a paper row', needsSameChannels: true, needsLabels: false,
  referenceWeight: null,
});

/** Table 4 grid cell (spatial × Bhattacharyya), not a paper row. */
const spatialBhattacharyya = gridLoss('spatial-bhattacharyya', 'spatial', 'bhattacharyya', 1);
export const spatialBhattacharyyaLoss = defineLoss({
  name: 'spatial-bhattacharyya', fn: spatialBhattacharyya, defaultConfig: spatialBhattacharyya.defaultConfig,
  description: 'Bhattacharyya distance of per-pixel channel distributions, ÷(N·H·W)',
  source: 'Table 4 grid (spatial × bhattacharyya), not a paper row', needsSameChannels: true,
  needsLabels: false, referenceWeight: null,
});
