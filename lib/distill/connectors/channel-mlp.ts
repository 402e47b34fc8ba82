import * as tf from '@tensorflow/tfjs';
import {
  BaseConnector, ConnectorConfig, checkChannels, checkConnectorInput, pointwise, torchDefaultInit, uniqueName,
} from './connector';

export interface ChannelMLPConfig {
  inChannels: number;
  outChannels: number;
  /** Hidden width (default outChannels). */
  hiddenChannels?: number;
  /** Biases on both 1×1 convs (default true). */
  useBias?: boolean;
  seed?: number;
  name?: string;
}

/**
 * Learnable non-linear channel-wise transformation, Liu, Wang & Chu, "A Simple and Generic Framework for
 * Feature Distillation via Channel-wise Transformation" (ICCVW 2023, arXiv 2303.13212; related.md, first
 * paper). Our reading (the abstract gives no formula; summaries of the paper describe an MLP with one
 * hidden layer built from 1×1 convolutions, applied only to the student, trained with an L2 loss):
 *
 *     MLP(F) = W2 · ReLU(W1 · F + b1) + b2,     W1: Cin→hidden, W2: hidden→Cout, per pixel
 *
 * hidden = outChannels by default; no normalisation layer (so no running statistics to checkpoint).
 * Use it in place of {@link Conv1x1Aligner} (same interface), typically followed by {@link mse}.
 *
 * @example
 *   const tf = require('@tensorflow/tfjs');
 *   const { ChannelMLP, mse } = require('./lib/distill');
 *   const mlp = new ChannelMLP({inChannels: 64, outChannels: 256});
 *   mse(mlp.apply(tf.randomNormal([2, 8, 8, 64])), tf.randomNormal([2, 8, 8, 256])).print();
 */
export class ChannelMLP extends BaseConnector {
  readonly variables: tf.Variable[];
  private readonly config: Required<ChannelMLPConfig>;
  private readonly w1: tf.Variable;
  private readonly b1: tf.Variable | null;
  private readonly w2: tf.Variable;
  private readonly b2: tf.Variable | null;

  static defaultConfig(): Required<Omit<ChannelMLPConfig, 'inChannels' | 'outChannels' | 'hiddenChannels'>> {
    return { useBias: true, seed: 0, name: 'channel_mlp' };
  }

  constructor(config: ChannelMLPConfig) {
    super();
    const full: Required<ChannelMLPConfig> = {
      ...ChannelMLP.defaultConfig(), hiddenChannels: config.outChannels, ...config,
    } as Required<ChannelMLPConfig>;
    checkChannels({ ...full, type: 'channel-mlp' }, 'ChannelMLP');
    if (!Number.isInteger(full.hiddenChannels) || full.hiddenChannels < 1) {
      throw new Error(`ChannelMLP: config.hiddenChannels must be an integer ≥ 1, got ${String(full.hiddenChannels)}`);
    }
    this.config = full;
    const prefix = uniqueName(full.name);
    const { inChannels: cin, outChannels: cout, hiddenChannels: hid, seed } = full;
    this.w1 = tf.tidy(() => tf.variable(torchDefaultInit([1, 1, cin, hid], cin, seed), true, `${prefix}/w1`));
    this.b1 = full.useBias ? tf.tidy(() => tf.variable(torchDefaultInit([hid], cin, seed + 1), true, `${prefix}/b1`)) : null;
    this.w2 = tf.tidy(() => tf.variable(torchDefaultInit([1, 1, hid, cout], hid, seed + 2), true, `${prefix}/w2`));
    this.b2 = full.useBias ? tf.tidy(() => tf.variable(torchDefaultInit([cout], hid, seed + 3), true, `${prefix}/b2`)) : null;
    this.variables = [this.w1, this.b1, this.w2, this.b2].filter((v): v is tf.Variable => v !== null);
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    checkConnectorInput(x, this.config.inChannels, 'ChannelMLP');
    return tf.tidy(() => pointwise(tf.relu(pointwise(x, this.w1, this.b1)), this.w2, this.b2));
  }

  getConfig(): ConnectorConfig {
    const { inChannels, outChannels, hiddenChannels, useBias, seed, name } = this.config;
    return { type: 'channel-mlp', inChannels, outChannels, hiddenChannels, useBias, seed, name };
  }
}
