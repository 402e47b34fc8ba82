import { defineLoss } from './descriptor';
import { gridLoss } from './normalized-divergence';

export interface ChannelBhattacharyyaOptions {
  /** Softmax temperature of the channel normalisation (default 1). */
  temperature?: number;
}

/**
 * Bhattacharyya distance between channel distributions, CWD paper Table 4 "Bhat (Channel, Bhat)"
 * 72.21 mIoU (Bhattacharyya 1943). PROJECT-DEFINED: no public repository implements it:
 *
 *     L = Σ_{n,c} −ln Σ_i √(p_s,nc,i · p_t,nc,i) / (N·C),    p = softmax_HW(x/T)
 *
 * computed as −logSumExp(½(log p_s + log p_t)) (stable at any magnitude). Symmetric in its arguments,
 * 0 iff the distributions agree. = `normalizedDivergence({normalization: 'channel', divergence: 'bhattacharyya'})`.
 *
 * @example
 *   const tf = require('@tensorflow/tfjs');
 *   const { channelBhattacharyya } = require('./lib/distill');
 *   channelBhattacharyya(tf.randomNormal([2, 8, 8, 4]), tf.randomNormal([2, 8, 8, 4])).print();
 */
export const channelBhattacharyya = gridLoss('channelBhattacharyya', 'channel', 'bhattacharyya', 1);

export const bhattacharyyaLoss = defineLoss({
  name: 'bhattacharyya', fn: channelBhattacharyya, defaultConfig: channelBhattacharyya.defaultConfig,
  description: 'Bhattacharyya distance of channel distributions, ÷(N·C) (project-defined)',
  source: 'CWD Table 4 Channel/Bhat 72.21', needsSameChannels: true, needsLabels: false, referenceWeight: null,
});
