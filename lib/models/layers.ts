/**
 * Custom TensorFlow.js layers the segmentation models need, registered with
 * `tf.serialization.registerClass` so that a model using them survives `model.save` →
 * `tf.loadLayersModel` (any IOHandler, e.g. the project's checkpoint writer).
 *
 * - {@link AdaptiveAvgPool2D}: PyTorch's `adaptive_avg_pool2d` to a b×b grid, for any input size
 *   (PSPNet's pyramid pooling bins; DeepLabV3's image pooling with b = 1).
 * - {@link BilinearResize}: bilinear resize to another tensor's spatial size (two inputs) or by a
 *   fixed factor (one input).
 *
 * Bilinear resizing always uses `alignCorners: true` semantics or the legacy TF corner mode, never
 * `halfPixelCenters`: the `ResizeBilinearGrad` kernels of tfjs 4.22 (cpu and wasm) ignore
 * `halfPixelCenters`, so a model resized with it would train on the gradient of a different op.
 */
import * as tf from '@tensorflow/tfjs';

type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;
type Shape = (number | null)[];

function single(inputs: tf.Tensor | tf.Tensor[], layer: string): tf.Tensor4D {
  const x = Array.isArray(inputs) ? inputs[0] : inputs;
  if (Array.isArray(inputs) && inputs.length !== 1) {
    throw new Error(`${layer}: expected one input tensor, got ${inputs.length}`);
  }
  if (x.rank !== 4) throw new Error(`${layer}: expected an NHWC rank-4 input, got shape [${x.shape}]`);
  return x as tf.Tensor4D;
}

/**
 * Row-averaging matrix P [bins, size] of PyTorch's adaptive average pooling along one axis:
 * bin i averages indices floor(i·size/bins) .. ceil((i+1)·size/bins) − 1.
 * @example adaptivePoolMatrix(5, 2) // [[1/3,1/3,1/3,0,0],[0,0,1/3,1/3,1/3]]
 */
export function adaptivePoolMatrix(size: number, bins: number): number[][] {
  if (!(Number.isInteger(size) && size > 0 && Number.isInteger(bins) && bins > 0)) {
    throw new Error(`adaptivePoolMatrix: size and bins must be positive integers, got size=${size}, bins=${bins}`);
  }
  const rows: number[][] = [];
  for (let i = 0; i < bins; i++) {
    const start = Math.floor((i * size) / bins);
    const end = Math.ceil(((i + 1) * size) / bins);
    const row = new Array<number>(size).fill(0);
    for (let j = start; j < end; j++) row[j] = 1 / (end - start);
    rows.push(row);
  }
  return rows;
}

/** Adaptive average pooling of an NHWC tensor to [N, bins, bins, C] (PyTorch semantics), differentiable. */
export function adaptiveAvgPool(x: tf.Tensor4D, bins: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    if (bins === 1) return tf.mean(x, [1, 2], true) as tf.Tensor4D;
    if (h % bins === 0 && w % bins === 0) {
      return tf.avgPool(x, [h / bins, w / bins], [h / bins, w / bins], 'valid');
    }
    // Two plain matMuls (no transpose flags: wasm's transposed BatchMatMul is slow).
    const ph = tf.tensor2d(adaptivePoolMatrix(h, bins));
    const pw = tf.tensor2d(adaptivePoolMatrix(w, bins));
    const xh = tf.reshape(tf.transpose(x, [1, 0, 2, 3]), [h, n * w * c]);
    const yh = tf.reshape(tf.matMul(ph, xh), [bins, n, w, c]); // [bh, N, W, C]
    const xw = tf.reshape(tf.transpose(yh, [2, 1, 0, 3]), [w, n * bins * c]); // [W, N·bh·C]
    const yw = tf.reshape(tf.matMul(pw, xw), [bins, n, bins, c]); // [bw, N, bh, C]
    return tf.transpose(yw, [1, 2, 0, 3]) as tf.Tensor4D;
  });
}

export interface AdaptiveAvgPool2DArgs extends LayerArgs {
  /** Output grid size b (output is [N, b, b, C]). */
  outputSize: number;
}

/**
 * Adaptive average pooling to a fixed b×b grid for any input size (PyTorch `AdaptiveAvgPool2d(b)`).
 * @example
 *   const x = tf.input({shape: [null, null, 64]});
 *   const pooled = new AdaptiveAvgPool2D({outputSize: 6}).apply(x); // [N, 6, 6, 64]
 */
export class AdaptiveAvgPool2D extends tf.layers.Layer {
  static className = 'AdaptiveAvgPool2D';
  readonly outputSize: number;

  constructor(args: AdaptiveAvgPool2DArgs) {
    super(args);
    if (!(Number.isInteger(args.outputSize) && args.outputSize > 0)) {
      throw new Error(`AdaptiveAvgPool2D: outputSize must be a positive integer, got ${args.outputSize}`);
    }
    this.outputSize = args.outputSize;
  }

  computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    return [s[0], this.outputSize, this.outputSize, s[3]];
  }

  call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = single(inputs, this.name);
    const [, h, w] = x.shape;
    if (h < this.outputSize || w < this.outputSize) {
      throw new Error(`${this.name}: input ${h}x${w} is smaller than the ${this.outputSize}x${this.outputSize} pooling grid`
        + ' (use a larger input size or smaller PPM bins)');
    }
    return adaptiveAvgPool(x, this.outputSize);
  }

  getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), outputSize: this.outputSize };
  }
}
tf.serialization.registerClass(AdaptiveAvgPool2D);

export interface BilinearResizeArgs extends LayerArgs {
  /** Fixed scale factor (one input). Omit it to resize input 0 to the size of input 1. */
  factor?: number;
  /** Corner alignment (default true: PyTorch `align_corners=True`, consistent with tfjs's gradient). */
  alignCorners?: boolean;
}

/**
 * Bilinear resize: `apply([x, ref])` resizes x to ref's height and width; `apply(x)` with `factor`
 * scales by that factor (output size round(H·factor) × round(W·factor)).
 * @example
 *   const up = new BilinearResize({name: 'up'}).apply([pooled, feature]);   // to feature's size
 *   const x2 = new BilinearResize({factor: 2}).apply(feature);               // 2× upsampling
 */
export class BilinearResize extends tf.layers.Layer {
  static className = 'BilinearResize';
  readonly factor: number | null;
  readonly alignCorners: boolean;

  constructor(args: BilinearResizeArgs = {}) {
    super(args);
    if (args.factor != null && !(args.factor > 0)) {
      throw new Error(`BilinearResize: factor must be > 0, got ${args.factor}`);
    }
    this.factor = args.factor ?? null;
    this.alignCorners = args.alignCorners ?? true;
  }

  computeOutputShape(inputShape: Shape | Shape[]): Shape {
    if (Array.isArray(inputShape[0])) {
      const [x, ref] = inputShape as Shape[];
      if (ref === undefined) return this.byFactor(x);
      return [x[0], ref[1], ref[2], x[3]];
    }
    return this.byFactor(inputShape as Shape);
  }

  private byFactor(s: Shape): Shape {
    if (this.factor == null) {
      throw new Error(`${this.name}: give two inputs [x, reference] or set a factor`);
    }
    const f = this.factor;
    return [s[0], s[1] == null ? null : Math.round(s[1] * f), s[2] == null ? null : Math.round(s[2] * f), s[3]];
  }

  call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      let x: tf.Tensor4D;
      let size: [number, number];
      if (Array.isArray(inputs) && inputs.length === 2) {
        x = inputs[0] as tf.Tensor4D;
        size = [inputs[1].shape[1] as number, inputs[1].shape[2] as number];
      } else {
        x = single(inputs, this.name);
        const s = this.byFactor(x.shape);
        size = [s[1] as number, s[2] as number];
      }
      if (x.shape[1] === size[0] && x.shape[2] === size[1]) return tf.clone(x);
      return tf.image.resizeBilinear(x, size, this.alignCorners);
    });
  }

  getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), factor: this.factor, alignCorners: this.alignCorners };
  }
}
tf.serialization.registerClass(BilinearResize);

/**
 * Bilinear upsampling of logits to a label/image size with the same convention as the models
 * (`alignCorners: true`), for the task loss and for prediction.
 * @example const full = upsampleLogits(logits, [256, 512]);
 */
export function upsampleLogits(logits: tf.Tensor4D, size: [number, number], alignCorners = true): tf.Tensor4D {
  if (logits.shape[1] === size[0] && logits.shape[2] === size[1]) return logits.clone();
  return tf.image.resizeBilinear(logits, size, alignCorners);
}

// tfjs-layers does not export its Conv2D class; take the constructor from an instance.
export type ConvLayerArgs = Parameters<typeof tf.layers.conv2d>[0];
const Conv2DBase = (tf.layers.conv2d({ filters: 1, kernelSize: 1, name: 'atrous_conv2d_base_probe' }) as unknown as {
  constructor: new (args: ConvLayerArgs) => tf.layers.Layer;
}).constructor;

/**
 * A `tf.layers.conv2d` whose forward pass uses the plain `tf.conv2d` op instead of
 * `tf.fused.conv2d`. Same weights, config and outputs as Conv2D; the difference is the gradient:
 * the fused op has its own gradient that rejects dilation rates > 1 in tfjs 4.22, while the plain
 * `Conv2D` kernel's gradient is the one lib/backend extends to dilated convs. The builders use it
 * for every conv with dilation > 1 (atrous convs of the output-stride-8 backbones and ASPP).
 * @example
 *   const y = new AtrousConv2D({filters: 64, kernelSize: 3, dilationRate: 2, padding: 'same'}).apply(x);
 */
export class AtrousConv2D extends Conv2DBase {
  static className = 'AtrousConv2D';

  call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = single(inputs, this.name);
      const self = this as any;
      if (self.dataFormat !== 'channelsLast') throw new Error(`${self.name}: only channelsLast (NHWC) is supported`);
      let y: tf.Tensor = tf.conv2d(x, self.kernel.read(), self.strides, self.padding === 'same' ? 'same' : 'valid', 'NHWC', self.dilationRate);
      if (self.bias != null) y = tf.add(y, self.bias.read());
      if (self.activation != null) y = self.activation.apply(y);
      return y;
    });
  }
}
tf.serialization.registerClass(AtrousConv2D as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>);

/**
 * Training-mode batch normalisation over N, H, W of an NHWC tensor with its analytic gradient
 * (one custom-gradient op instead of autodiff through moments / sub / mul / add):
 *   x̂ = (x − μ)·rstd, y = γ·x̂ + β; dβ = Σ dy, dγ = Σ dy·x̂, dx = γ·rstd·(dy − dβ/n − x̂·dγ/n).
 * The batch mean and (biased) variance are pushed to `stats` (kept: the caller disposes them).
 */
export function batchNormTraining(
  x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, epsilon: number, stats: tf.Tensor[] = [],
): tf.Tensor4D {
  if (x.dtype === 'float32' && tf.getKernel(BN_KERNEL, tf.getBackend()) && tf.getKernel(BN_GRAD_KERNEL, tf.getBackend())) {
    return batchNormTrainingKernel(x, gamma, beta, epsilon, stats);
  }
  const n = x.shape[0] * x.shape[1] * x.shape[2];
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, g, b] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const { mean, variance } = tf.moments(xIn, [0, 1, 2]);
    const rstd = tf.rsqrt(tf.add(variance, epsilon));
    const xhat = tf.mul(tf.sub(xIn, mean), rstd);
    const value = tf.add(tf.mul(xhat, g), b);
    stats.push(tf.keep(mean), tf.keep(variance));
    save([xhat, rstd, g]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sXhat, sRstd, sGamma] = saved;
        const dBeta = tf.sum(dy, [0, 1, 2]);
        const dGamma = tf.sum(tf.mul(dy, sXhat), [0, 1, 2]);
        const centred = tf.sub(tf.sub(dy, tf.div(dBeta, n)), tf.mul(sXhat, tf.div(dGamma, n)));
        const dx = tf.mul(centred, tf.mul(sGamma, sRstd));
        return [dx, dGamma, dBeta];
      },
    };
  });
  return op(x, gamma, beta) as tf.Tensor4D;
}

/** Backend kernels of {@link batchNormTraining} (lib/backend/native.ts registers them for wasm with the native addon). */
const BN_KERNEL = 'CwdBatchNormTraining';
const BN_GRAD_KERNEL = 'CwdBatchNormTrainingGrad';
/** moving ← moving − (moving − batch)·(1 − momentum) for the mean and the variance at once. */
const BN_MOVING_KERNEL = 'CwdBatchNormMovingUpdate';

/**
 * {@link batchNormTraining} as one forward and one backward kernel of the backend (same formulas;
 * x̂ is recomputed from the saved x, so no x̂ tensor is kept for the backward pass).
 */
function batchNormTrainingKernel(
  x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, epsilon: number, stats: tf.Tensor[],
): tf.Tensor4D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, g, b] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const [value, mean, variance] = tf.engine().runKernel(BN_KERNEL, { x: xIn, gamma: g, beta: b }, { epsilon }) as unknown as tf.Tensor[];
    stats.push(tf.keep(mean), tf.keep(variance));
    save([xIn, mean, variance, g]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sMean, sVar, sGamma] = saved;
        return tf.engine().runKernel(BN_GRAD_KERNEL, { dy, x: sx, mean: sMean, variance: sVar, gamma: sGamma }, { epsilon }) as unknown as tf.Tensor[];
      },
    };
  });
  return op(x, gamma, beta) as tf.Tensor4D;
}

export type BatchNormLayerArgs = NonNullable<Parameters<typeof tf.layers.batchNormalization>[0]>;
const BatchNormBase = (tf.layers.batchNormalization({ name: 'fast_batch_norm_base_probe' }) as unknown as {
  constructor: new (args: BatchNormLayerArgs) => tf.layers.Layer;
}).constructor;

/**
 * `tf.layers.batchNormalization` over the channel axis of NHWC tensors, computed with plain
 * element-wise ops instead of the `FusedBatchNorm` kernel. Same weights (gamma, beta, moving_mean,
 * moving_variance), config and outputs; in training mode it normalises with the batch statistics
 * and updates the moving averages exactly as tfjs's layer does (biased batch variance,
 * moving ← moving·momentum + batch·(1 − momentum)). Why: the tfjs 4.22 gradient of FusedBatchNorm
 * tiles its statistics to the full input shape and was ~15% of a training step here; training mode
 * uses {@link batchNormTraining}, one op with the analytic gradient.
 * @example const y = new FastBatchNorm({momentum: 0.9, epsilon: 1e-5}).apply(x);
 */
export class FastBatchNorm extends BatchNormBase {
  static className = 'FastBatchNorm';

  call(inputs: tf.Tensor | tf.Tensor[], kwargs: { [key: string]: any }): tf.Tensor {
    return tf.tidy(() => {
      const x = single(inputs, this.name);
      const self = this as any;
      if (!(self.axis === -1 || self.axis === 3) || !self.center || !self.scale) {
        throw new Error(`${this.name}: FastBatchNorm supports axis -1 with center and scale only`);
      }
      const gamma: tf.Tensor1D = self.gamma.read();
      const beta: tf.Tensor1D = self.beta.read();
      const eps: number = self.epsilon;
      if (!kwargs.training) {
        const scale = tf.mul(gamma, tf.rsqrt(tf.add(self.movingVariance.read(), eps)));
        const shift = tf.sub(beta, tf.mul(self.movingMean.read(), scale));
        return tf.add(tf.mul(x, scale), shift);
      }
      const stats: tf.Tensor[] = [];
      const y = batchNormTraining(x, gamma, beta, eps, stats);
      const [mean, variance] = stats;
      const momentum: number = self.momentum;
      if (tf.getKernel(BN_MOVING_KERNEL, tf.getBackend())) {
        // both moving averages in one kernel (same formula)
        const [m, v] = tf.engine().runKernel(BN_MOVING_KERNEL,
          { movingMean: self.movingMean.read(), movingVariance: self.movingVariance.read(), mean, variance }, { momentum }) as unknown as tf.Tensor[];
        self.movingMean.write(m);
        self.movingVariance.write(v);
      } else {
        for (const [variable, value] of [[self.movingMean, mean], [self.movingVariance, variance]] as const) {
          tf.tidy(() => {
            const orig = variable.read() as tf.Tensor;
            variable.write(tf.sub(orig, tf.mul(tf.sub(orig, value), 1 - momentum)));
          });
        }
      }
      tf.dispose(stats);
      return y;
    });
  }
}
tf.serialization.registerClass(FastBatchNorm as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>);

export interface ChannelDropoutArgs extends LayerArgs {
  /** Fraction of channels zeroed in training mode. */
  rate: number;
  /** Base seed; call k uses seed·1000003 + k, so masks differ per step but a run is reproducible. */
  seed?: number | null;
}

/**
 * Channel dropout (PyTorch `Dropout2d`, as in PSPNet's classifier): in training mode each channel of
 * each sample is zeroed with probability `rate` (the others scaled by 1/(1−rate)); identity in
 * inference mode. Seeded per call — unlike `tf.layers.dropout({seed})`, which draws the same mask at
 * every call and so would drop the same units for the whole training run.
 * @example const y = new ChannelDropout({rate: 0.1, seed: 0}).apply(feature);
 */
export class ChannelDropout extends tf.layers.Layer {
  static className = 'ChannelDropout';
  readonly rate: number;
  readonly seed: number | null;
  /**
   * Training-mode calls so far: call k draws its masks with seed `seed * 1000003 + k`. Part of a
   * training checkpoint (`dropoutCounters` / `setDropoutCounters`; the trainer saves and restores it), so a resumed run draws the same masks.
   */
  calls = 0;

  constructor(args: ChannelDropoutArgs) {
    super(args);
    if (!(args.rate >= 0 && args.rate < 1)) throw new Error(`ChannelDropout: rate must be in [0, 1), got ${args.rate}`);
    this.rate = args.rate;
    this.seed = args.seed ?? null;
  }

  computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
  }

  call(inputs: tf.Tensor | tf.Tensor[], kwargs: { [key: string]: any }): tf.Tensor {
    return tf.tidy(() => {
      const x = single(inputs, this.name);
      if (!kwargs.training || this.rate === 0) return tf.clone(x);
      const seed = this.seed == null ? undefined : this.seed * 1000003 + this.calls;
      this.calls += 1;
      return tf.dropout(x, this.rate, [x.shape[0], 1, 1, x.shape[3]], seed);
    });
  }

  getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), rate: this.rate, seed: this.seed };
  }
}
tf.serialization.registerClass(ChannelDropout);

/**
 * The call counters of a model's ChannelDropout layers, in layer order: the state that decides the
 * next dropout masks, which a checkpoint must hold for a resumed run to draw the masks an
 * uninterrupted one would.
 * @example const saved = dropoutCounters(net.model); …; setDropoutCounters(net.model, saved);
 */
export function dropoutCounters(model: tf.LayersModel): number[] {
  return model.layers.filter((l): l is ChannelDropout => l instanceof ChannelDropout).map((l) => l.calls);
}

/** Restore counters saved by `dropoutCounters` (same architecture: same number of dropout layers). */
export function setDropoutCounters(model: tf.LayersModel, counters: number[]): void {
  const layers = model.layers.filter((l): l is ChannelDropout => l instanceof ChannelDropout);
  if (counters.length !== layers.length) {
    throw new Error(`setDropoutCounters: ${counters.length} saved counter(s) for ${layers.length} ChannelDropout layer(s) (different architecture?)`);
  }
  layers.forEach((l, i) => {
    if (!(Number.isInteger(counters[i]) && counters[i] >= 0)) throw new Error(`setDropoutCounters: counter ${i} must be an integer >= 0, got ${counters[i]}`);
    l.calls = counters[i];
  });
}
