// Public API of lib/models: segmentation teachers and students with outputs [feature, logits].
export type { SegmentationNet } from './types';
export {
  ARCHS, PRESETS, buildModel, createModel, defaultConfig, mergeConfig, modelConfig, validateConfig,
} from './archs';
export type { ArchName, DeepPartial, ModelConfig, Preset, PresetName } from './archs';
export {
  defaultMobileNetV2Config, defaultResNetConfig, makeDivisible,
} from './backbones';
export type { BackboneConfig, MobileNetV2BackboneConfig, ResNetBackboneConfig } from './backbones';
export { defaultASPPConfig, defaultPPMConfig } from './heads';
export type { ASPPHeadConfig, HeadConfig, PPMHeadConfig } from './heads';
export { AdaptiveAvgPool2D, AtrousConv2D, BilinearResize, ChannelDropout, dropoutCounters, setDropoutCounters, FastBatchNorm, batchNormTraining, adaptiveAvgPool, adaptivePoolMatrix, upsampleLogits } from './layers';
export { countFlops, countMacs, countParams, layerCosts } from './complexity';
export type { LayerCost } from './complexity';
export { forward, freezeNet, predictLabels, predictLogits, trainableVariables } from './predict';
export { loadNet, netToArtifacts, saveNet } from './serialize';
export { defaultInferenceOptions, inferLabels, inferProbabilities, validateInferenceOptions } from './inference';
export type { InferenceOptions } from './inference';
