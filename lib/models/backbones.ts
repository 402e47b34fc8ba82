/**
 * Backbones (encoders) at output stride 8: a dilated ResNet (basic or bottleneck blocks, stages 3–4
 * dilated 2/4 instead of strided, as in PSPNet / DeepLab "d8" models) and a dilated MobileNetV2.
 */
import * as tf from '@tensorflow/tfjs';
import { basicBlock, bottleneckBlock, invertedResidual, LayerFactory, Sym } from './blocks';

/** A dilated ResNet. Paper sizes: ResNet18 = basic [2,2,2,2], ResNet101 = bottleneck [3,4,23,3], base 64. */
export type ResNetBackboneConfig = {
  type: 'resnet';
  block: 'basic' | 'bottleneck';
  /** Blocks per stage (4 stages). */
  blocks: number[];
  /** Stage-1 width (planes) at widthMultiplier 1; stage i has base·2^(i−1) planes (×4 out for bottleneck). */
  baseChannels: number;
  /** Stem output channels at widthMultiplier 1. */
  stemChannels: number;
  /** Multiplies every width ("R18(0.5)" = 0.5). */
  widthMultiplier: number;
  /** 'deep': three 3×3 convs (ResNetV1c, mmseg); 'classic': one 7×7 conv. Both stride 2 + max-pool 2 (/4). */
  stem: 'deep' | 'classic';
  /** Per-stage strides, default [1, 2, 1, 1] (with the /4 stem: output stride 8). */
  strides: number[];
  /** Per-stage dilations, default [1, 1, 2, 4]. */
  dilations: number[];
  /** First block of a dilated stage uses half the dilation (mmseg contract_dilation). */
  contractDilation: boolean;
};

export function defaultResNetConfig(): ResNetBackboneConfig {
  return {
    type: 'resnet', block: 'basic', blocks: [2, 2, 2, 2], baseChannels: 64, stemChannels: 64, widthMultiplier: 1,
    stem: 'deep', strides: [1, 2, 1, 1], dilations: [1, 1, 2, 4], contractDilation: true,
  };
}

/** MobileNetV2 (inverted residuals). Paper size: widthMultiplier 1, the 7 standard stages. */
export type MobileNetV2BackboneConfig = {
  type: 'mobilenetv2';
  widthMultiplier: number;
  /** Stem conv channels at widthMultiplier 1 (32). */
  stemChannels: number;
  /** Stages as [expandRatio t, channels c, blocks n] (MobileNetV2 Table 2 without the last 1280 conv). */
  stages: [number, number, number][];
  /** Per-stage strides; default (1,2,2,1,1,1,1) → output stride 8 with the stride-2 stem (mmseg d8). */
  strides: number[];
  /** Per-stage dilations; default (1,1,1,2,2,4,4). */
  dilations: number[];
  /** Channel counts are rounded to a multiple of this (MobileNet's make_divisible). */
  divisor: number;
};

export function defaultMobileNetV2Config(): MobileNetV2BackboneConfig {
  return {
    type: 'mobilenetv2', widthMultiplier: 1, stemChannels: 32,
    stages: [[1, 16, 1], [6, 24, 2], [6, 32, 3], [6, 64, 4], [6, 96, 3], [6, 160, 3], [6, 320, 1]],
    strides: [1, 2, 2, 1, 1, 1, 1], dilations: [1, 1, 1, 2, 2, 4, 4], divisor: 8,
  };
}

export type BackboneConfig = ResNetBackboneConfig | MobileNetV2BackboneConfig;

export interface BackboneOutput {
  output: Sym;
  channels: number;
  stride: number;
}

export function scaled(channels: number, multiplier: number): number {
  return Math.max(1, Math.round(channels * multiplier));
}

/** MobileNet's make_divisible: round to the nearest multiple of divisor, never below 90% of the value. */
export function makeDivisible(value: number, divisor: number): number {
  const v = Math.max(divisor, Math.floor((value + divisor / 2) / divisor) * divisor);
  return v < 0.9 * value ? v + divisor : v;
}

function checkLengths(name: string, lists: Record<string, unknown[]>, n: number): void {
  for (const [key, list] of Object.entries(lists)) {
    if (!Array.isArray(list) || list.length !== n) {
      throw new Error(`${name}: backbone.${key} must have ${n} entries (one per stage), got ${JSON.stringify(list)}`);
    }
  }
}

export function resnetBackbone(f: LayerFactory, x: Sym, c: ResNetBackboneConfig): BackboneOutput {
  checkLengths('resnet', { blocks: c.blocks, strides: c.strides, dilations: c.dilations }, c.blocks.length);
  const stem = scaled(c.stemChannels, c.widthMultiplier);
  let y: Sym;
  if (c.stem === 'deep') {
    const half = Math.max(1, Math.round(stem / 2));
    y = f.convBnAct(x, { filters: half, kernel: 3, stride: 2, name: 'stem_1' });
    y = f.convBnAct(y, { filters: half, kernel: 3, name: 'stem_2' });
    y = f.convBnAct(y, { filters: stem, kernel: 3, name: 'stem_3' });
  } else if (c.stem === 'classic') {
    y = f.convBnAct(x, { filters: stem, kernel: 7, stride: 2, name: 'stem_1' });
  } else {
    throw new Error(`resnet: backbone.stem must be 'deep' or 'classic', got ${JSON.stringify(c.stem)}`);
  }
  y = maxPool(f, y, 'stem_pool');
  let stride = 4;
  const block = c.block === 'basic' ? basicBlock : c.block === 'bottleneck' ? bottleneckBlock : null;
  if (!block) throw new Error(`resnet: backbone.block must be 'basic' or 'bottleneck', got ${JSON.stringify(c.block)}`);
  c.blocks.forEach((n, i) => {
    const planes = scaled(c.baseChannels * 2 ** i, c.widthMultiplier);
    const d = c.dilations[i];
    for (let j = 0; j < n; j++) {
      const s = j === 0 ? c.strides[i] : 1;
      const dil = j === 0 && c.contractDilation && d > 1 ? d / 2 : d;
      y = block(f, y, planes, s, dil, `layer${i + 1}_${j}`);
    }
    stride *= c.strides[i];
  });
  return { output: y, channels: channelsOfSym(y), stride };
}

export function mobileNetV2Backbone(f: LayerFactory, x: Sym, c: MobileNetV2BackboneConfig): BackboneOutput {
  checkLengths('mobilenetv2', { stages: c.stages, strides: c.strides, dilations: c.dilations }, c.stages.length);
  let y = f.convBnAct(x, {
    filters: makeDivisible(c.stemChannels * c.widthMultiplier, c.divisor), kernel: 3, stride: 2, name: 'stem', act: 'relu6',
  });
  let stride = 2;
  c.stages.forEach(([t, ch, n], i) => {
    const out = makeDivisible(ch * c.widthMultiplier, c.divisor);
    for (let j = 0; j < n; j++) {
      y = invertedResidual(f, y, out, j === 0 ? c.strides[i] : 1, t, c.dilations[i], `stage${i + 1}_${j}`);
    }
    stride *= c.strides[i];
  });
  return { output: y, channels: channelsOfSym(y), stride };
}

function channelsOfSym(x: Sym): number {
  return x.shape[x.shape.length - 1] as number;
}

function maxPool(f: LayerFactory, x: Sym, name: string): Sym {
  return tf.layers.maxPooling2d({ name: f.name(name), poolSize: 3, strides: 2, padding: 'same' }).apply(x) as Sym;
}

export function buildBackbone(f: LayerFactory, x: Sym, c: BackboneConfig): BackboneOutput {
  if (c.type === 'resnet') return resnetBackbone(f, x, c);
  if (c.type === 'mobilenetv2') return mobileNetV2Backbone(f, x, c);
  throw new Error(`backbone.type must be 'resnet' or 'mobilenetv2', got ${JSON.stringify((c as { type: unknown }).type)}`);
}
