/**
 * Loss registry: a config names a distillation method by string.
 *
 * @example
 *   const tf = require('@tensorflow/tfjs');
 *   const { getLoss, computeLoss } = require('./lib/distill');
 *   const cwd = getLoss('cwd');                                   // unknown names throw, listing the valid ones
 *   const options = { ...cwd.defaultConfig(), temperature: 3 };   // { temperature: 3 }
 *   const student = tf.randomNormal([2, 8, 8, 16]), teacher = tf.randomNormal([2, 8, 8, 16]);
 *   cwd.fn(student, teacher, options).print();                    // tf.Scalar
 *   computeLoss('pa', student, teacher, {scale: 0.5}).print();
 */
import * as tf from '@tensorflow/tfjs';
import { attentionTransfer, AttentionTransferOptions } from './attention-transfer';
import { channelBhattacharyya, ChannelBhattacharyyaOptions } from './bhattacharyya';
import { channelMeanMSE, ChannelMeanMSEOptions } from './channel-mean-mse';
import { channelNormMSE, ChannelNormMSEOptions } from './channel-norm-mse';
import { channelWiseDivergence, ChannelWiseDivergenceOptions } from './cwd';
import { ifvd, IFVDOptions } from './ifvd';
import { localAffinity, LocalAffinityOptions } from './local-affinity';
import { mse, MSEOptions } from './mse';
import { normalizedDivergenceLoss } from './normalized-divergence';
import { pairwiseAffinity, PairwiseAffinityOptions } from './pairwise-affinity';
import { pixelWiseKD, PixelWiseKDOptions } from './pixelwise';

export interface TemperatureOptions { temperature?: number }

/** Options type of each registered loss. */
export interface LossOptionsMap {
  cwd: ChannelWiseDivergenceOptions;
  pi: PixelWiseKDOptions;
  'spatial-kl': PixelWiseKDOptions;
  at: AttentionTransferOptions;
  local: LocalAffinityOptions;
  pa: PairwiseAffinityOptions;
  ifvd: IFVDOptions;
  mse: MSEOptions;
  'channel-mse': ChannelNormMSEOptions;
  'spatial-mse': TemperatureOptions;
  bhattacharyya: ChannelBhattacharyyaOptions;
  'spatial-bhattacharyya': TemperatureOptions;
  'channel-mean-mse': ChannelMeanMSEOptions;
}
export type LossName = keyof LossOptionsMap;

export interface DistillationLoss<O> {
  name: LossName;
  /** One line: what it computes. */
  description: string;
  /** Where it comes from (paper, table row). */
  source: string;
  /** The loss function, `(student, teacher, options) => Scalar`, NHWC, teacher gets no gradient. */
  fn: (student: tf.Tensor4D, teacher: tf.Tensor4D, options?: O) => tf.Scalar;
  /** Default options (a fresh object each call). */
  defaultConfig(): O;
  /** true: student and teacher need the same channel count (use a connector otherwise). */
  needsSameChannels: boolean;
  /** true: `options.labels` is required (IFVD). */
  needsLabels: boolean;
  /** A loss weight used by the paper or the reference code, for information (the losses are unweighted). */
  referenceWeight: { value: number; source: string } | null;
}

function spatial(divergence: 'mse' | 'bhattacharyya', name: string) {
  return (s: tf.Tensor4D, t: tf.Tensor4D, o: TemperatureOptions = {}) =>
    normalizedDivergenceLoss(s, t, { normalization: 'spatial', divergence, temperature: o.temperature ?? 1 }, name);
}

/** Every registered loss by name. */
export const distillationLosses: { [K in LossName]: DistillationLoss<LossOptionsMap[K]> } = {
  cwd: {
    name: 'cwd', fn: channelWiseDivergence, defaultConfig: channelWiseDivergence.defaultConfig,
    description: 'channel-wise distillation: softmax over H·W per channel, KL(teacher‖student), ×T²/(N·C)',
    source: 'Shu et al. ICCV 2021 Eq. 3-4; Table 2 CD, Table 4 Channel/KL 74.87',
    needsSameChannels: true, needsLabels: false,
    referenceWeight: { value: 3, source: 'paper α = 3 (T = 3; Fig. 3 best T = 4, α = 3); CIRKD uses 50 on features' },
  },
  pi: {
    name: 'pi', fn: pixelWiseKD, defaultConfig: pixelWiseKD.defaultConfig,
    description: 'pixel-wise KD: softmax over channels per pixel, KL, ×T²/(N·H·W)',
    source: 'Liu et al. CVPR 2019 (SKD); CWD Table 2 PI, Table 4 Spatial/KL 70.02',
    needsSameChannels: true, needsLabels: false,
    referenceWeight: { value: 10, source: 'SKD λ_pi = 10; CIRKD λ_kd = 1' },
  },
  'spatial-kl': {
    name: 'spatial-kl', fn: pixelWiseKD, defaultConfig: pixelWiseKD.defaultConfig,
    description: "alias of 'pi' (Table 4 naming: Spatial normalisation, KL)",
    source: 'CWD Table 4 PI row', needsSameChannels: true, needsLabels: false, referenceWeight: null,
  },
  at: {
    name: 'at', fn: attentionTransfer, defaultConfig: attentionTransfer.defaultConfig,
    description: 'attention transfer: L2-normalised mean_C(x²) maps, mean squared difference',
    source: 'Zagoruyko & Komodakis ICLR 2017; CWD Table 2 AT', needsSameChannels: false, needsLabels: false,
    referenceWeight: { value: 10000, source: 'CIRKD --lambda-at 10000' },
  },
  local: {
    name: 'local', fn: localAffinity, defaultConfig: localAffinity.defaultConfig,
    description: '8-neighbourhood feature distances, mean squared difference (project-defined convention)',
    source: 'Xie et al. BMVC 2018; CWD Table 2 LOCAL', needsSameChannels: false, needsLabels: false,
    referenceWeight: null,
  },
  pa: {
    name: 'pa', fn: pairwiseAffinity, defaultConfig: pairwiseAffinity.defaultConfig,
    description: 'pairwise affinity: ceil-mode max-pool, cosine similarity matrix, mean squared difference',
    source: 'Liu et al. CVPR 2019 (SKD); CWD Table 2 PA', needsSameChannels: false, needsLabels: false,
    referenceWeight: { value: 0.5, source: 'SKD run_train_val.sh λ_pa = 0.5 (1.0 in the paper/options)' },
  },
  ifvd: {
    name: 'ifvd', fn: ifvd, defaultConfig: ifvd.defaultConfig as () => IFVDOptions,
    description: 'intra-class feature variation: cosine to class prototypes (labels), mean squared difference',
    source: 'Wang et al. ECCV 2020; CWD Table 2 IFVD', needsSameChannels: false, needsLabels: true,
    referenceWeight: { value: 200, source: 'IFVD/TorchDistiller λ_ifv = 200; CIRKD 20' },
  },
  mse: {
    name: 'mse', fn: mse, defaultConfig: mse.defaultConfig,
    description: 'L2 without normalisation (mean over N·H·W·C by default)',
    source: 'CWD Table 4 None/MSE 70.83 (that row uses reduction "pixel")', needsSameChannels: true,
    needsLabels: false, referenceWeight: { value: 10, source: 'CIRKD λ_fitnet = 10' },
  },
  'channel-mse': {
    name: 'channel-mse', fn: channelNormMSE, defaultConfig: channelNormMSE.defaultConfig,
    description: 'squared error of channel-softmaxed maps, ÷(N·C)', source: 'CWD Table 4 Channel/MSE 71.60',
    needsSameChannels: true, needsLabels: false, referenceWeight: null,
  },
  'spatial-mse': {
    name: 'spatial-mse', fn: spatial('mse', 'spatial-mse'), defaultConfig: () => ({ temperature: 1 }),
    description: 'squared error of pixel-wise (channel) softmaxed maps, ÷(N·H·W)',
    source: 'Table 4 grid (spatial × mse), not a paper row', needsSameChannels: true, needsLabels: false,
    referenceWeight: null,
  },
  bhattacharyya: {
    name: 'bhattacharyya', fn: channelBhattacharyya, defaultConfig: channelBhattacharyya.defaultConfig,
    description: 'Bhattacharyya distance of channel distributions, ÷(N·C) (project-defined)',
    source: 'CWD Table 4 Channel/Bhat 72.21', needsSameChannels: true, needsLabels: false, referenceWeight: null,
  },
  'spatial-bhattacharyya': {
    name: 'spatial-bhattacharyya', fn: spatial('bhattacharyya', 'spatial-bhattacharyya'),
    defaultConfig: () => ({ temperature: 1 }),
    description: 'Bhattacharyya distance of per-pixel channel distributions, ÷(N·H·W)',
    source: 'Table 4 grid (spatial × bhattacharyya), not a paper row', needsSameChannels: true,
    needsLabels: false, referenceWeight: null,
  },
  'channel-mean-mse': {
    name: 'channel-mean-mse', fn: channelMeanMSE, defaultConfig: channelMeanMSE.defaultConfig,
    description: 'squared error of per-channel spatial means, ÷(N·C)',
    source: 'official CWD code norm_type=channel_mean (extra ablation)', needsSameChannels: true,
    needsLabels: false, referenceWeight: null,
  },
};

export const LOSS_NAMES = Object.keys(distillationLosses) as LossName[];

/** Look a loss up by name; an unknown name is an error listing the valid ones. */
export function getLoss<K extends LossName>(name: K): DistillationLoss<LossOptionsMap[K]>;
export function getLoss(name: string): DistillationLoss<unknown>;
export function getLoss(name: string): DistillationLoss<unknown> {
  if (!Object.prototype.hasOwnProperty.call(distillationLosses, name)) {
    throw new Error(`unknown distillation loss '${name}'; valid names: ${LOSS_NAMES.join(', ')}`);
  }
  return distillationLosses[name as LossName] as unknown as DistillationLoss<unknown>;
}

/**
 * Evaluate a loss by name: `computeLoss('cwd', s, t, {temperature: 4})`; missing options take the defaults.
 */
export function computeLoss<K extends LossName>(
  name: K, student: tf.Tensor4D, teacher: tf.Tensor4D, options?: LossOptionsMap[K],
): tf.Scalar {
  const spec = getLoss(name);
  return spec.fn(student, teacher, options);
}
