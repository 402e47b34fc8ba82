/**
 * Decoder heads producing the distilled `feature` map (the map before the classifier):
 * - PSPNet's pyramid pooling module (Zhao et al., CVPR 2017, https://arxiv.org/abs/1612.01105);
 * - DeepLabV3's ASPP (Chen et al., 2017, https://arxiv.org/abs/1706.05587).
 * Then the classifier: channel dropout → 1×1 conv with bias → `logits`.
 */
import * as tf from '@tensorflow/tfjs';
import { LayerFactory, Sym } from './blocks';
import { AdaptiveAvgPool2D, BilinearResize, ChannelDropout } from './layers';

/** Pyramid pooling head. Paper (mmseg PSPHead, R101): bins [1,2,3,6], poolChannels 512, channels 512. */
export type PPMHeadConfig = {
  type: 'ppm';
  /** Adaptive-pooling grid sizes. */
  bins: number[];
  /** Channels of each pooled branch (1×1 conv + BN + ReLU). */
  poolChannels: number;
  /** Channels of the 3×3 bottleneck after the concat = the feature channels. */
  channels: number;
};

/** ASPP head. Paper (mmseg ASPPHead, d8): rates 12/24/36 at 512×1024 crops, channels 512. */
export type ASPPHeadConfig = {
  type: 'aspp';
  /** Dilation rates of the three 3×3 branches (besides the 1×1 branch and image pooling). */
  rates: number[];
  /** Channels of every branch and of the 3×3 bottleneck (= the feature channels). */
  channels: number;
};

export type HeadConfig = PPMHeadConfig | ASPPHeadConfig;

export function defaultPPMConfig(): PPMHeadConfig {
  return { type: 'ppm', bins: [1, 2, 3, 6], poolChannels: 512, channels: 512 };
}

export function defaultASPPConfig(): ASPPHeadConfig {
  return { type: 'aspp', rates: [12, 24, 36], channels: 512 };
}

/**
 * PPM: for each bin b, adaptive-avg-pool to b×b → 1×1 conv → BN → ReLU → bilinear upsample to x;
 * concat with x → 3×3 conv → BN → ReLU (the layer named `feature`).
 */
export function ppmHead(f: LayerFactory, x: Sym, c: PPMHeadConfig): Sym {
  if (!Array.isArray(c.bins) || c.bins.length === 0 || c.bins.some((b) => !(Number.isInteger(b) && b > 0))) {
    throw new Error(`ppm head: head.bins must be a non-empty list of positive integers, got ${JSON.stringify(c.bins)}`);
  }
  const branches: Sym[] = [x];
  for (const b of c.bins) {
    let y = new AdaptiveAvgPool2D({ name: f.name(`ppm_pool${b}`), outputSize: b }).apply(x) as Sym;
    y = f.convBnAct(y, { filters: c.poolChannels, kernel: 1, name: `ppm_bin${b}` });
    y = new BilinearResize({ name: f.name(`ppm_up${b}`) }).apply([y, x]) as Sym;
    branches.push(y);
  }
  const cat = f.concat(branches, 'ppm_concat');
  return f.convBnAct(cat, { filters: c.channels, kernel: 3, name: 'bottleneck', actName: 'feature' });
}

/**
 * ASPP: image pooling (global average → 1×1 conv → BN → ReLU → upsample), a 1×1 branch and three
 * dilated 3×3 branches; concat → 3×3 conv → BN → ReLU (the layer named `feature`).
 */
export function asppHead(f: LayerFactory, x: Sym, c: ASPPHeadConfig): Sym {
  if (!Array.isArray(c.rates) || c.rates.length === 0 || c.rates.some((r) => !(Number.isInteger(r) && r > 0))) {
    throw new Error(`aspp head: head.rates must be a non-empty list of positive integers, got ${JSON.stringify(c.rates)}`);
  }
  let pool = new AdaptiveAvgPool2D({ name: f.name('aspp_image_pool'), outputSize: 1 }).apply(x) as Sym;
  pool = f.convBnAct(pool, { filters: c.channels, kernel: 1, name: 'aspp_pool' });
  pool = new BilinearResize({ name: f.name('aspp_pool_up') }).apply([pool, x]) as Sym;
  const branches: Sym[] = [pool, f.convBnAct(x, { filters: c.channels, kernel: 1, name: 'aspp_1x1' })];
  for (const r of c.rates) {
    branches.push(f.convBnAct(x, { filters: c.channels, kernel: 3, dilation: r, name: `aspp_rate${r}` }));
  }
  const cat = f.concat(branches, 'aspp_concat');
  return f.convBnAct(cat, { filters: c.channels, kernel: 3, name: 'bottleneck', actName: 'feature' });
}

/** Classifier: channel dropout (training only, PyTorch Dropout2d) → 1×1 conv with bias → the layer named `logits`. */
export function classifier(f: LayerFactory, feature: Sym, numClasses: number, dropout: number): Sym {
  let y = feature;
  if (dropout > 0) y = new ChannelDropout({ name: f.name('cls_dropout'), rate: dropout, seed: f.options.seed }).apply(y) as Sym;
  return f.conv(y, { filters: numClasses, kernel: 1, useBias: true, name: 'logits' });
}

export function buildHead(f: LayerFactory, x: Sym, c: HeadConfig): Sym {
  if (c.type === 'ppm') return ppmHead(f, x, c);
  if (c.type === 'aspp') return asppHead(f, x, c);
  throw new Error(`head.type must be 'ppm' or 'aspp', got ${JSON.stringify((c as { type: unknown }).type)}`);
}
