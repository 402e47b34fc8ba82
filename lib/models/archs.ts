/**
 * Segmentation architectures (PSPNet, DeepLabV3 on a dilated ResNet or MobileNetV2), their typed
 * default configs, a registry by arch name and the presets this project trains.
 *
 * Every model is a functional tf.LayersModel: input `image` [N, H, W, 3] (any H, W), outputs
 * `[feature, logits]` at output stride 8: feature = the head's last 3×3 conv + BN + ReLU (the map
 * before the classifier, the tap point the paper distils), logits = the score map.
 */
import * as tf from '@tensorflow/tfjs';
import { BackboneConfig, buildBackbone, defaultMobileNetV2Config, defaultResNetConfig } from './backbones';
import { LayerFactory, Sym } from './blocks';
import { buildHead, classifier, defaultASPPConfig, defaultPPMConfig, HeadConfig } from './heads';
import type { SegmentationNet } from './types';

export const ARCHS = ['pspnet-resnet', 'deeplabv3-resnet', 'pspnet-mobilenetv2', 'deeplabv3-mobilenetv2'] as const;
export type ArchName = (typeof ARCHS)[number];

/** Everything a model is built from (stored in checkpoints; `buildModel(config)` is deterministic given `seed`). */
export type ModelConfig = {
  arch: ArchName;
  /** Output classes (19 for Cityscapes). */
  numClasses: number;
  /** Nominal training input [H, W] (the model accepts any size; FLOP counts default to this). */
  inputSize: [number, number];
  backbone: BackboneConfig;
  head: HeadConfig;
  /** Channel dropout (Dropout2d) before the classifier, training only; masks seeded from `seed` per call. */
  dropout: number;
  /** Seed of the weight initialisers. */
  seed: number;
  /** Keras-style BatchNorm momentum (0.9 = PyTorch's 0.1). */
  bnMomentum: number;
  bnEpsilon: number;
};

const ARCH_PARTS: Record<ArchName, { backbone: BackboneConfig['type']; head: HeadConfig['type'] }> = {
  'pspnet-resnet': { backbone: 'resnet', head: 'ppm' },
  'deeplabv3-resnet': { backbone: 'resnet', head: 'aspp' },
  'pspnet-mobilenetv2': { backbone: 'mobilenetv2', head: 'ppm' },
  'deeplabv3-mobilenetv2': { backbone: 'mobilenetv2', head: 'aspp' },
};

/**
 * The CPU-scale ResNet18-style student backbone (width 1.0): basic blocks [2,2,2,2], widths
 * 16/32/64/128 (the paper's R18 is 64/128/256/512, i.e. ×4), deep stem.
 */
function cpuResNet18(): BackboneConfig {
  return { ...defaultResNetConfig(), baseChannels: 16, stemChannels: 16 };
}

function base(arch: ArchName, backbone: BackboneConfig, head: HeadConfig): ModelConfig {
  return {
    arch, numClasses: 19, inputSize: [256, 512], backbone, head, dropout: 0.1, seed: 0, bnMomentum: 0.9, bnEpsilon: 1e-5,
  };
}

/**
 * Default config of an architecture: the CPU-scale student (what trains here in practical time).
 * Paper-size configs are the `paper-*` presets.
 * @example const cfg = defaultConfig('pspnet-resnet'); cfg.numClasses = 5; const net = buildModel(cfg);
 */
export function defaultConfig(arch: ArchName): ModelConfig {
  switch (arch) {
    case 'pspnet-resnet':
      return base(arch, cpuResNet18(), { ...defaultPPMConfig(), poolChannels: 32, channels: 64 });
    case 'deeplabv3-resnet':
      return base(arch, cpuResNet18(), { ...defaultASPPConfig(), rates: [6, 12, 18], channels: 64 });
    case 'pspnet-mobilenetv2':
      return base(arch, { ...defaultMobileNetV2Config(), widthMultiplier: 0.25 }, { ...defaultPPMConfig(), poolChannels: 16, channels: 64 });
    case 'deeplabv3-mobilenetv2':
      return base(arch, { ...defaultMobileNetV2Config(), widthMultiplier: 0.25 }, { ...defaultASPPConfig(), rates: [6, 12, 18], channels: 64 });
    default:
      throw new Error(`unknown model arch ${JSON.stringify(arch)}: use one of ${ARCHS.join(', ')}`);
  }
}

export interface Preset {
  description: string;
  /** The paper's Table 5 numbers for the network this preset stands for (at 512×1024), if any. */
  paper?: { name: string; paramsM: number; gflops: number };
  config: () => ModelConfig;
}

/**
 * Named model configs. The CPU-scale presets keep the paper's architectures but divide the widths
 * (see the table in lib/models/README.md); `paper-*` presets are the paper's sizes, for the
 * Params/FLOPs comparison only (far too slow to train here).
 */
export const PRESETS: Record<string, Preset> = {
  teacher: {
    description: 'PSPNet on a dilated ResNet (bottleneck [2,2,2,2], base 16 → 64/128/256/512 out channels), PPM 1/2/3/6, 128-channel feature',
    paper: { name: 'T:PSPNet (R101)', paramsM: 70.43, gflops: 574.9 },
    config: () => ({
      ...defaultConfig('pspnet-resnet'),
      backbone: { ...defaultResNetConfig(), block: 'bottleneck', blocks: [2, 2, 2, 2], baseChannels: 16, stemChannels: 32 },
      head: { ...defaultPPMConfig(), poolChannels: 64, channels: 128 },
    }),
  },
  'teacher-r50': {
    description: 'a bigger teacher: PSPNet on a dilated ResNet-50-style backbone (bottleneck [3,4,6,3], base 16), PPM 1/2/3/6, 128-channel feature (~1.5× the teacher preset\'s FLOPs)',
    paper: { name: 'T:PSPNet (R101)', paramsM: 70.43, gflops: 574.9 },
    config: () => ({
      ...defaultConfig('pspnet-resnet'),
      backbone: { ...defaultResNetConfig(), block: 'bottleneck', blocks: [3, 4, 6, 3], baseChannels: 16, stemChannels: 32 },
      head: { ...defaultPPMConfig(), poolChannels: 64, channels: 128 },
    }),
  },
  'student-r18': {
    description: 'PSPNet-R18 at 1/4 of the paper widths: basic [2,2,2,2], 16/32/64/128, PPM 1/2/3/6, 64-channel feature',
    paper: { name: 'S:PSPNet-R18', paramsM: 13.07, gflops: 125.8 },
    config: () => defaultConfig('pspnet-resnet'),
  },
  'student-r18-0.5': {
    description: 'PSPNet-R18(0.5): the student-r18 backbone at width 0.5 (8/16/32/64), 32-channel feature',
    paper: { name: 'S:PSPNet-R18(0.5)', paramsM: 3.835, gflops: 31.53 },
    config: () => {
      const c = defaultConfig('pspnet-resnet');
      return { ...c, backbone: { ...cpuResNet18(), widthMultiplier: 0.5 }, head: { ...defaultPPMConfig(), poolChannels: 16, channels: 32 } };
    },
  },
  'student-deeplab': {
    description: 'DeepLabV3-R18: the student-r18 backbone, ASPP rates 6/12/18 (the paper’s 12/24/36 scaled to 256×512), 64-channel feature',
    paper: { name: 'S:Deeplab-R18', paramsM: 12.62, gflops: 123.9 },
    config: () => defaultConfig('deeplabv3-resnet'),
  },
  'student-mnv2': {
    description: 'PSPNet-MobileNetV2 at width 0.25 (stages 8..80 channels; the paper uses width 1), PPM 1/2/3/6 with 16-channel bins, 64-channel feature',
    paper: { name: 'S:PSPNet-MBV2', paramsM: 1.98, gflops: 16.4 },
    config: () => defaultConfig('pspnet-mobilenetv2'),
  },
  'student-deeplab-mnv2': {
    description: 'DeepLabV3-MobileNetV2 at width 0.25, ASPP rates 6/12/18, 64-channel feature',
    paper: { name: 'S:Deeplab-MBV2', paramsM: 2.45, gflops: 20.39 },
    config: () => defaultConfig('deeplabv3-mobilenetv2'),
  },
  'paper-pspnet-r101': {
    description: 'paper-size teacher: PSPNet-R101 (deep stem 64-64-128 as in the CCNet/SKD code, ResNet-101 d8, PPM 512, feature 512) at 512×1024 — for counting only',
    paper: { name: 'T:PSPNet (R101)', paramsM: 70.43, gflops: 574.9 },
    config: () => ({
      ...defaultConfig('pspnet-resnet'), inputSize: [512, 1024],
      backbone: { ...defaultResNetConfig(), block: 'bottleneck', blocks: [3, 4, 23, 3], stemChannels: 128 },
      head: defaultPPMConfig(),
    }),
  },
  'paper-pspnet-r18': {
    description: 'paper-size PSPNet-R18 (deep stem 64-64-128, ResNet-18 d8, head channels 128) at 512×1024 — for counting only',
    paper: { name: 'S:PSPNet-R18', paramsM: 13.07, gflops: 125.8 },
    config: () => ({
      ...defaultConfig('pspnet-resnet'), inputSize: [512, 1024],
      backbone: { ...defaultResNetConfig(), stemChannels: 128 }, head: { ...defaultPPMConfig(), poolChannels: 128, channels: 128 },
    }),
  },
  'paper-deeplab-r18': {
    description: 'paper-size DeepLabV3-R18 (deep stem 64-64-128, ASPP 12/24/36, channels 128) at 512×1024 — for counting only',
    paper: { name: 'S:Deeplab-R18', paramsM: 12.62, gflops: 123.9 },
    config: () => ({
      ...defaultConfig('deeplabv3-resnet'), inputSize: [512, 1024],
      backbone: { ...defaultResNetConfig(), stemChannels: 128 }, head: { ...defaultASPPConfig(), channels: 128 },
    }),
  },
  'paper-pspnet-mnv2': {
    description: 'paper-size PSPNet-MobileNetV2 (width 1, d8, head channels 128) at 512×1024 — for counting only',
    paper: { name: 'S:PSPNet-MBV2', paramsM: 1.98, gflops: 16.4 },
    config: () => ({
      ...defaultConfig('pspnet-mobilenetv2'), inputSize: [512, 1024],
      backbone: defaultMobileNetV2Config(), head: { ...defaultPPMConfig(), poolChannels: 128, channels: 128 },
    }),
  },
};

export type PresetName = keyof typeof PRESETS;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep-merge `overrides` into `base`; unknown keys are an error naming the key path. */
export function mergeConfig<T>(baseConfig: T, overrides: unknown, path = 'config'): T {
  if (overrides === undefined) return baseConfig;
  if (!isPlainObject(baseConfig) || !isPlainObject(overrides)) return overrides as T;
  const out: Record<string, unknown> = { ...baseConfig };
  for (const [key, value] of Object.entries(overrides)) {
    if (!(key in baseConfig)) {
      throw new Error(`${path}.${key} is not a model option: known options are ${Object.keys(baseConfig).join(', ')}`);
    }
    if (key === 'type' && value !== baseConfig[key]) {
      throw new Error(`${path}.type cannot be overridden (${JSON.stringify(baseConfig[key])} → ${JSON.stringify(value)}): pick another arch or preset`);
    }
    out[key] = mergeConfig(baseConfig[key], value, `${path}.${key}`);
  }
  return out as T;
}

/**
 * A model config from a preset name or an arch name, with optional deep overrides.
 * @example
 *   const cfg = modelConfig('student-r18', {numClasses: 19, inputSize: [128, 256]});
 *   const cfg2 = modelConfig('deeplabv3-resnet', {head: {rates: [4, 8, 12]}});
 */
export function modelConfig(name: string, overrides?: DeepPartial<ModelConfig>): ModelConfig {
  let cfg: ModelConfig;
  if (Object.prototype.hasOwnProperty.call(PRESETS, name)) cfg = PRESETS[name].config();
  else if ((ARCHS as readonly string[]).includes(name)) cfg = defaultConfig(name as ArchName);
  else {
    throw new Error(`unknown model ${JSON.stringify(name)}: presets are ${Object.keys(PRESETS).join(', ')}; archs are ${ARCHS.join(', ')}`);
  }
  return validateConfig(mergeConfig(cfg, overrides));
}

export type DeepPartial<T> = T extends (infer U)[] ? U[] : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

function positiveInt(v: unknown): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

/** Checks a config and returns it; errors name the option. */
export function validateConfig(c: ModelConfig): ModelConfig {
  if (!(ARCHS as readonly string[]).includes(c.arch)) {
    throw new Error(`config.arch ${JSON.stringify(c.arch)} is not an arch: use one of ${ARCHS.join(', ')}`);
  }
  const parts = ARCH_PARTS[c.arch];
  if (c.backbone?.type !== parts.backbone) {
    throw new Error(`config.backbone.type must be '${parts.backbone}' for arch '${c.arch}', got ${JSON.stringify(c.backbone?.type)}`);
  }
  if (c.head?.type !== parts.head) {
    throw new Error(`config.head.type must be '${parts.head}' for arch '${c.arch}', got ${JSON.stringify(c.head?.type)}`);
  }
  if (!positiveInt(c.numClasses)) throw new Error(`config.numClasses must be a positive integer, got ${JSON.stringify(c.numClasses)}`);
  if (!Array.isArray(c.inputSize) || c.inputSize.length !== 2 || !c.inputSize.every((s) => positiveInt(s) && s % 8 === 0)) {
    throw new Error(`config.inputSize must be [H, W] with positive multiples of 8 (the output stride), got ${JSON.stringify(c.inputSize)}`);
  }
  if (!(c.backbone.widthMultiplier > 0)) throw new Error(`config.backbone.widthMultiplier must be > 0, got ${c.backbone.widthMultiplier}`);
  const stages = c.backbone.type === 'resnet' ? c.backbone.blocks : c.backbone.stages;
  const stageKey = c.backbone.type === 'resnet' ? 'blocks' : 'stages';
  if (!Array.isArray(stages) || stages.length === 0) {
    throw new Error(`config.backbone.${stageKey} must be a non-empty list, got ${JSON.stringify(stages)}`);
  }
  for (const key of ['strides', 'dilations'] as const) {
    const list = c.backbone[key];
    if (!Array.isArray(list) || list.length !== stages.length || !list.every(positiveInt)) {
      throw new Error(`config.backbone.${key} must have ${stages.length} positive integers (one per stage of backbone.${stageKey}), got ${JSON.stringify(list)}`);
    }
  }
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new Error(`config.dropout must be in [0, 1), got ${c.dropout}`);
  if (!(c.bnMomentum >= 0 && c.bnMomentum < 1)) throw new Error(`config.bnMomentum must be in [0, 1), got ${c.bnMomentum}`);
  if (!Number.isInteger(c.seed)) throw new Error(`config.seed must be an integer, got ${c.seed}`);
  const list = c.head.type === 'ppm' ? c.head.bins : c.head.rates;
  if (!Array.isArray(list) || list.length === 0 || !list.every(positiveInt)) {
    throw new Error(`config.head.${c.head.type === 'ppm' ? 'bins' : 'rates'} must be a non-empty list of positive integers, got ${JSON.stringify(list)}`);
  }
  if (c.head.type === 'ppm') {
    const minSide = Math.min(...c.inputSize) / 8;
    const maxBin = Math.max(...c.head.bins);
    if (maxBin > minSide) {
      throw new Error(`config.head.bins: the largest bin (${maxBin}) exceeds the ${minSide}-pixel side of the stride-8 map of inputSize ${c.inputSize.join('x')}`);
    }
  }
  for (const key of ['channels', ...(c.head.type === 'ppm' ? ['poolChannels'] : [])] as const) {
    const v = (c.head as Record<string, unknown>)[key];
    if (!positiveInt(v)) throw new Error(`config.head.${key} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return c;
}

/**
 * Build a segmentation network from a config (validated first).
 * @example
 *   const net = buildModel(modelConfig('student-r18'));
 *   const [feature, logits] = net.model.predict(images) as tf.Tensor4D[]; // stride 8
 */
export function buildModel(config: ModelConfig): SegmentationNet {
  const c = validateConfig(config);
  const f = new LayerFactory({ seed: c.seed, bnMomentum: c.bnMomentum, bnEpsilon: c.bnEpsilon });
  const image = tf.input({ shape: [null, null, 3], name: f.name('image') });
  const backbone = buildBackbone(f, image, c.backbone);
  const feature: Sym = buildHead(f, backbone.output, c.head);
  const logits = classifier(f, feature, c.numClasses, c.dropout);
  const model = tf.model({ inputs: image, outputs: [feature, logits], name: c.arch.replace(/-/g, '_') });
  return {
    model,
    config: JSON.parse(JSON.stringify(c)) as ModelConfig,
    featureChannels: feature.shape[3] as number,
    outputStride: backbone.stride,
  };
}

/**
 * Build a preset or arch by name (with optional overrides).
 * @example const teacher = createModel('teacher', {numClasses: 19});
 */
export function createModel(name: string, overrides?: DeepPartial<ModelConfig>): SegmentationNet {
  return buildModel(modelConfig(name, overrides));
}
