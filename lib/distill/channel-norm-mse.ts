import { defineLoss } from './descriptor';
import { gridLoss } from './normalized-divergence';

export interface ChannelNormMSEOptions {
  /** Softmax temperature of the channel normalisation (default 1 as the official code; no T² factor). */
  temperature?: number;
}

/**
 * L2 on channel-normalised maps, CWD paper Table 4 "L2 (Channel, MSE)" 71.60 mIoU; the official
 * `CriterionCWD(norm_type='channel', divergence='mse')`:
 *
 *     L = Σ_{n,c,i} (softmax_HW(s_nc/T)_i − softmax_HW(t_nc/T)_i)² / (N·C)
 *
 * = `normalizedDivergence({normalization: 'channel', divergence: 'mse'})`. Channel counts must match.
 *
 * @example
 *   const tf = require('@tensorflow/tfjs');
 *   const { channelNormMSE } = require('./lib/distill');
 *   channelNormMSE(tf.randomNormal([2, 8, 8, 4]), tf.randomNormal([2, 8, 8, 4])).print();
 */
export const channelNormMSE = gridLoss('channelNormMSE', 'channel', 'mse', 1);

export const channelMseLoss = defineLoss({
  name: 'channel-mse', fn: channelNormMSE, defaultConfig: channelNormMSE.defaultConfig,
  description: 'squared error of channel-softmaxed maps, ÷(N·C)', source: 'CWD Table 4 Channel/MSE 71.60',
  needsSameChannels: true, needsLabels: false, referenceWeight: null,
});
