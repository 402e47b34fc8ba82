import * as tf from '@tensorflow/tfjs';
import { defineLoss } from './descriptor';
import { normalizedDivergenceLoss } from './normalized-divergence';

export type ChannelMeanMSEOptions = Record<string, never>;

/**
 * Channel-mean + MSE, the official CWD code's `CriterionCWD(norm_type='channel_mean', divergence='mse')`
 * (an extra ablation, not a paper table row; its bundled logs give 61.8–68.8 mIoU). Like "channel
 * distillation" (Zhou et al. 2020) it reduces each channel to one scalar and loses all spatial information:
 *
 *     L = Σ_{n,c} (mean_HW s_nc − mean_HW t_nc)² / (N·C)
 *
 * = `normalizedDivergence({normalization: 'channel-mean', divergence: 'mse'})`. Channel counts must match.
 *
 * @example
 *   const tf = require('@tensorflow/tfjs');
 *   const { channelMeanMSE } = require('./lib/distill');
 *   channelMeanMSE(tf.randomNormal([2, 8, 8, 4]), tf.randomNormal([2, 8, 8, 4])).print();
 */
export function channelMeanMSE(
  student: tf.Tensor4D, teacher: tf.Tensor4D, options: ChannelMeanMSEOptions = {},
): tf.Scalar {
  if (options && Object.keys(options).length > 0) {
    throw new Error(`channelMeanMSE: takes no options, got ${Object.keys(options).join(', ')}`);
  }
  return normalizedDivergenceLoss(student, teacher, { normalization: 'channel-mean', divergence: 'mse' }, 'channelMeanMSE');
}
channelMeanMSE.defaultConfig = (): ChannelMeanMSEOptions => ({});

export const channelMeanMseLoss = defineLoss({
  name: 'channel-mean-mse', fn: channelMeanMSE, defaultConfig: channelMeanMSE.defaultConfig,
  description: 'squared error of per-channel spatial means, ÷(N·C)',
  source: 'official CWD code norm_type=channel_mean (extra ablation)', needsSameChannels: true,
  needsLabels: false, referenceWeight: null,
});
