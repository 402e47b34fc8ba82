import * as tf from '@tensorflow/tfjs';
import {
  BaseConnector, ConnectorConfig, checkChannels, checkConnectorInput, pointwise, torchDefaultInit, uniqueName,
} from './connector';

export interface Conv1x1AlignerConfig {
  inChannels: number;
  outChannels: number;
  /** Default false (CIRKD, TorchDistiller); pppppM's mmseg port uses a bias. */
  useBias?: boolean;
  seed?: number;
  name?: string;
}

/**
 * The paper's channel aligner: "A 1×1 convolution layer is employed to upsample the number of channels
 * for the student network if the number of channels mismatches" (CWD §3, Table 2 ®). Applied to the
 * STUDENT feature, trained with the student (CIRKD `Conv2d(s_ch, t_ch, 1, bias=False)`):
 *
 *     y[n,h,w,:] = x[n,h,w,:] · W (+ b),   W: [1,1,Cin,Cout]
 *
 * Implemented as a matMul over channels (same numbers as tf.conv2d with a 1×1 kernel, but it does not need
 * the Conv2DBackpropFilter kernel that tfjs-backend-wasm lacks). Init: PyTorch's Conv2d default
 * U(±1/√Cin), seeded.
 *
 * @example
 *   const tf = require('@tensorflow/tfjs');
 *   const { Conv1x1Aligner, channelWiseDivergence } = require('./lib/distill');
 *   const aligner = new Conv1x1Aligner({inChannels: 64, outChannels: 256});
 *   const s = tf.randomNormal([2, 16, 16, 64]), t = tf.randomNormal([2, 16, 16, 256]);
 *   const {value, grads} = tf.variableGrads(() => channelWiseDivergence(aligner.apply(s), t), aligner.variables);
 *   value.print(); console.log(Object.keys(grads));     // [ 'aligner_1/kernel' ]
 */
export class Conv1x1Aligner extends BaseConnector {
  readonly variables: tf.Variable[];
  readonly kernel: tf.Variable;
  readonly bias: tf.Variable | null;
  private readonly config: Required<Conv1x1AlignerConfig>;

  static defaultConfig(): Required<Omit<Conv1x1AlignerConfig, 'inChannels' | 'outChannels'>> {
    return { useBias: false, seed: 0, name: 'aligner' };
  }

  constructor(config: Conv1x1AlignerConfig) {
    super();
    const full = { ...Conv1x1Aligner.defaultConfig(), ...config };
    checkChannels({ ...full, type: 'conv1x1' }, 'Conv1x1Aligner');
    this.config = full;
    const prefix = uniqueName(full.name);
    const { inChannels: cin, outChannels: cout } = full;
    this.kernel = tf.tidy(() => tf.variable(torchDefaultInit([1, 1, cin, cout], cin, full.seed), true, `${prefix}/kernel`));
    this.bias = full.useBias
      ? tf.tidy(() => tf.variable(torchDefaultInit([cout], cin, full.seed + 1), true, `${prefix}/bias`))
      : null;
    this.variables = this.bias ? [this.kernel, this.bias] : [this.kernel];
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    checkConnectorInput(x, this.config.inChannels, 'Conv1x1Aligner');
    return tf.tidy(() => pointwise(x, this.kernel, this.bias));
  }

  getConfig(): ConnectorConfig {
    const { inChannels, outChannels, useBias, seed, name } = this.config;
    return { type: 'conv1x1', inChannels, outChannels, useBias, seed, name };
  }
}
