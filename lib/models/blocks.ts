/**
 * Building blocks shared by the backbones and heads: conv + BatchNorm + activation, ResNet basic
 * and bottleneck blocks, MobileNetV2 inverted residuals. All NHWC, functional (SymbolicTensor in,
 * SymbolicTensor out), with deterministic He-normal initialisation from a seed and unique names.
 */
import * as tf from '@tensorflow/tfjs';
import { AtrousConv2D, ConvLayerArgs, FastBatchNorm } from './layers';

export type Sym = tf.SymbolicTensor;
export type Activation = 'relu' | 'relu6' | null;

export interface BuilderOptions {
  /** Seed of the weight initialisers (each layer gets seed + its index). */
  seed: number;
  /** Keras-style BatchNorm momentum: moving = moving·m + batch·(1 − m). 0.9 = PyTorch momentum 0.1. */
  bnMomentum: number;
  /** BatchNorm epsilon (1e-5 as in PyTorch). */
  bnEpsilon: number;
}

export interface ConvOptions {
  filters: number;
  kernel: number;
  stride?: number;
  dilation?: number;
  /** Adds a bias (no BatchNorm follows). */
  useBias?: boolean;
  name: string;
}

/** Creates layers with unique names and seeded initialisers; one per model build. */
export class LayerFactory {
  private index = 0;
  private readonly names = new Set<string>();

  constructor(readonly options: BuilderOptions) {}

  private nextSeed(): number {
    this.index += 1;
    return this.options.seed * 100003 + this.index;
  }

  name(name: string): string {
    if (this.names.has(name)) throw new Error(`model builder: duplicate layer name '${name}'`);
    this.names.add(name);
    return name;
  }

  conv(x: Sym, o: ConvOptions): Sym {
    const stride = o.stride ?? 1;
    const dilation = o.dilation ?? 1;
    if (stride > 1 && dilation > 1) {
      throw new Error(`${o.name}: a conv cannot be both strided (${stride}) and dilated (${dilation})`);
    }
    const args: ConvLayerArgs = {
      name: this.name(o.name),
      filters: o.filters,
      kernelSize: o.kernel,
      strides: stride,
      dilationRate: dilation,
      padding: 'same',
      useBias: o.useBias ?? false,
      kernelInitializer: tf.initializers.heNormal({ seed: this.nextSeed() }),
    };
    // Dilated convs use the unfused op (its gradient is the one lib/backend extends to dilation > 1).
    const layer = dilation > 1 ? new AtrousConv2D(args) : tf.layers.conv2d(args);
    return layer.apply(x) as Sym;
  }

  depthwise(x: Sym, o: Omit<ConvOptions, 'filters'>): Sym {
    const stride = o.stride ?? 1;
    const dilation = o.dilation ?? 1;
    if (stride > 1 && dilation > 1) {
      throw new Error(`${o.name}: a depthwise conv cannot be both strided (${stride}) and dilated (${dilation})`);
    }
    return tf.layers.depthwiseConv2d({
      name: this.name(o.name),
      kernelSize: o.kernel,
      strides: stride,
      dilationRate: dilation,
      padding: 'same',
      useBias: o.useBias ?? false,
      depthMultiplier: 1,
      depthwiseInitializer: tf.initializers.heNormal({ seed: this.nextSeed() }),
    }).apply(x) as Sym;
  }

  bn(x: Sym, name: string): Sym {
    return new FastBatchNorm({
      name: this.name(name),
      axis: -1,
      momentum: this.options.bnMomentum,
      epsilon: this.options.bnEpsilon,
    }).apply(x) as Sym;
  }

  act(x: Sym, act: Activation, name: string): Sym {
    if (act === null) return x;
    if (act === 'relu6') return tf.layers.reLU({ name: this.name(name), maxValue: 6 }).apply(x) as Sym;
    return tf.layers.activation({ name: this.name(name), activation: 'relu' }).apply(x) as Sym;
  }

  /** conv (no bias) → BatchNorm → activation; layers named `${name}_conv`, `${name}_bn`, `${name}_relu` (or `actName`). */
  convBnAct(x: Sym, o: Omit<ConvOptions, 'useBias'> & { act?: Activation; actName?: string }): Sym {
    const act = o.act === undefined ? 'relu' : o.act;
    const y = this.bn(this.conv(x, { ...o, name: `${o.name}_conv` }), `${o.name}_bn`);
    return this.act(y, act, o.actName ?? `${o.name}_${act ?? 'linear'}`);
  }

  add(xs: Sym[], name: string): Sym {
    return tf.layers.add({ name: this.name(name) }).apply(xs) as Sym;
  }

  concat(xs: Sym[], name: string): Sym {
    return tf.layers.concatenate({ name: this.name(name), axis: -1 }).apply(xs) as Sym;
  }
}

function channelsOf(x: Sym): number {
  const c = x.shape[x.shape.length - 1];
  if (c == null) throw new Error('model builder: the channel dimension must be known');
  return c;
}

/**
 * ResNet basic block (two 3×3 convs), expansion 1. Both convs use `dilation` (first block of a
 * dilated stage: the contracted dilation, as in mmseg's ResNetV1c with contract_dilation).
 */
export function basicBlock(f: LayerFactory, x: Sym, planes: number, stride: number, dilation: number, name: string): Sym {
  let y = f.convBnAct(x, { filters: planes, kernel: 3, stride, dilation: stride > 1 ? 1 : dilation, name: `${name}_1` });
  y = f.convBnAct(y, { filters: planes, kernel: 3, dilation, name: `${name}_2`, act: null });
  let shortcut = x;
  if (stride !== 1 || channelsOf(x) !== planes) {
    shortcut = f.convBnAct(x, { filters: planes, kernel: 1, stride, name: `${name}_down`, act: null });
  }
  return f.act(f.add([y, shortcut], `${name}_add`), 'relu', `${name}_out`);
}

/** ResNet bottleneck block (1×1 → 3×3 → 1×1), expansion 4, stride and dilation on the 3×3. */
export function bottleneckBlock(f: LayerFactory, x: Sym, planes: number, stride: number, dilation: number, name: string): Sym {
  const out = planes * 4;
  let y = f.convBnAct(x, { filters: planes, kernel: 1, name: `${name}_1` });
  y = f.convBnAct(y, { filters: planes, kernel: 3, stride, dilation: stride > 1 ? 1 : dilation, name: `${name}_2` });
  y = f.convBnAct(y, { filters: out, kernel: 1, name: `${name}_3`, act: null });
  let shortcut = x;
  if (stride !== 1 || channelsOf(x) !== out) {
    shortcut = f.convBnAct(x, { filters: out, kernel: 1, stride, name: `${name}_down`, act: null });
  }
  return f.act(f.add([y, shortcut], `${name}_add`), 'relu', `${name}_out`);
}

/**
 * MobileNetV2 inverted residual: 1×1 expand (×expandRatio, ReLU6) → 3×3 depthwise (stride,
 * dilation, ReLU6) → 1×1 linear projection; identity shortcut when stride 1 and channels match.
 */
export function invertedResidual(
  f: LayerFactory, x: Sym, out: number, stride: number, expandRatio: number, dilation: number, name: string,
): Sym {
  const cin = channelsOf(x);
  const hidden = Math.round(cin * expandRatio);
  let y = x;
  if (expandRatio !== 1) y = f.convBnAct(y, { filters: hidden, kernel: 1, name: `${name}_expand`, act: 'relu6' });
  y = f.bn(f.depthwise(y, { kernel: 3, stride, dilation: stride > 1 ? 1 : dilation, name: `${name}_dw_conv` }), `${name}_dw_bn`);
  y = f.act(y, 'relu6', `${name}_dw_relu6`);
  y = f.convBnAct(y, { filters: out, kernel: 1, name: `${name}_project`, act: null });
  if (stride === 1 && cin === out) y = f.add([x, y], `${name}_add`);
  return y;
}
