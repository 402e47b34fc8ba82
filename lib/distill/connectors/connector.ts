/**
 * Connectors map the student's feature to the teacher's channel count before a loss that compares
 * channel c with channel c (CWD, PI, L2, …). They live on the STUDENT side and are trained with the student
 * (their `variables` go into the student optimizer's var list).
 *
 * Interface (shared by every connector, plain objects, no tf.layers):
 * - `apply(x)`: NHWC `[N,H,W,Cin]` → `[N,H,W,Cout]`, differentiable w.r.t. x and `variables`.
 * - `variables`: the trainable tf.Variables, with unique names `<name>/<weight>`.
 * - `getConfig()`: a JSON-safe config; `createConnector(config)` rebuilds an (untrained) twin.
 * - `getWeights()` / `setWeights(tensors)`: values in `variables` order (copies in, copies out).
 * - `toJSON()` / `connectorFromJSON(state)`: config + weights as plain numbers, for checkpoints.
 * - `dispose()`: free the variables.
 */
import * as tf from '@tensorflow/tfjs';
import { shapeStr } from '../common';

export type ConnectorType = 'conv1x1' | 'channel-mlp';

export interface ConnectorConfig {
  type: ConnectorType;
  /** Student channels. */
  inChannels: number;
  /** Teacher channels. */
  outChannels: number;
  /** Add a bias (conv1x1 default false, as CIRKD/TorchDistiller; channel-mlp default true). */
  useBias?: boolean;
  /** channel-mlp only: hidden width (default outChannels). */
  hiddenChannels?: number;
  /** Seed of the initialiser (default 0, so two runs start from the same weights). */
  seed?: number;
  /** Name prefix of the variables (made unique with a counter). */
  name?: string;
}

export interface ConnectorWeightState {
  name: string;
  shape: number[];
  values: number[];
}

export interface ConnectorState {
  config: ConnectorConfig;
  weights: ConnectorWeightState[];
}

export interface Connector {
  apply(x: tf.Tensor4D): tf.Tensor4D;
  readonly variables: tf.Variable[];
  getConfig(): ConnectorConfig;
  getWeights(): tf.Tensor[];
  setWeights(weights: tf.Tensor[]): void;
  toJSON(): ConnectorState;
  dispose(): void;
}

let counter = 0;
/** A fresh variable-name prefix: `${base}_${k}`. tfjs rejects duplicate variable names. */
export function uniqueName(base: string): string {
  counter += 1;
  return `${base}_${counter}`;
}

/**
 * PyTorch's default Conv2d init, U(−1/√fan_in, 1/√fan_in) (kaiming_uniform with a = √5 for the weight,
 * the same bound for the bias), seeded.
 */
export function torchDefaultInit(shape: number[], fanIn: number, seed: number): tf.Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  return tf.randomUniform(shape, -bound, bound, 'float32', seed);
}

/** 1×1 convolution as a matMul over channels (no Conv2DBackpropFilter needed on wasm). kernel [1,1,Cin,Cout]. */
export function pointwise(x: tf.Tensor4D, kernel: tf.Tensor, bias: tf.Tensor | null): tf.Tensor4D {
  const [n, h, w, cin] = x.shape;
  const cout = kernel.shape[3] as number;
  let y = tf.matMul(tf.reshape(x, [n * h * w, cin]), tf.reshape(kernel, [cin, cout]));
  if (bias) y = tf.add(y, bias);
  return tf.reshape(y, [n, h, w, cout]);
}

export function checkConnectorInput(x: tf.Tensor, inChannels: number, who: string): void {
  if (!(x instanceof tf.Tensor) || x.rank !== 4) {
    throw new Error(`${who}.apply: expected an NHWC tensor [N,H,W,${inChannels}], got ${x instanceof tf.Tensor ? shapeStr(x.shape) : typeof x}`);
  }
  if (x.shape[3] !== inChannels) {
    throw new Error(`${who}.apply: expected ${inChannels} input channels (config.inChannels), got ${shapeStr(x.shape)}`);
  }
}

export function checkChannels(config: ConnectorConfig, who: string): void {
  for (const key of ['inChannels', 'outChannels'] as const) {
    const v = config[key];
    if (!Number.isInteger(v) || v < 1) throw new Error(`${who}: config.${key} must be an integer ≥ 1, got ${String(v)}`);
  }
}

/** Base class with the shared weight (de)serialisation. */
export abstract class BaseConnector implements Connector {
  abstract readonly variables: tf.Variable[];
  abstract apply(x: tf.Tensor4D): tf.Tensor4D;
  abstract getConfig(): ConnectorConfig;

  getWeights(): tf.Tensor[] {
    return this.variables.map((v) => v.clone());
  }

  setWeights(weights: tf.Tensor[]): void {
    const who = this.getConfig().type;
    if (weights.length !== this.variables.length) {
      throw new Error(`${who}.setWeights: expected ${this.variables.length} tensors, got ${weights.length}`);
    }
    weights.forEach((w, i) => {
      const v = this.variables[i];
      if (w.shape.join(',') !== v.shape.join(',')) {
        throw new Error(`${who}.setWeights: weight ${i} (${v.name}) has shape ${shapeStr(v.shape)}, got ${shapeStr(w.shape)}`);
      }
      v.assign(w as tf.Tensor);
    });
  }

  toJSON(): ConnectorState {
    return {
      config: this.getConfig(),
      weights: this.variables.map((v) => ({
        name: v.name.replace(/^.*\//, ''), shape: [...v.shape], values: Array.from(v.dataSync()),
      })),
    };
  }

  dispose(): void {
    this.variables.forEach((v) => v.dispose());
  }
}
