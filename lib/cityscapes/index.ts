// Public API of lib/cityscapes.
export * from './labels';
export { renderStreetScene, encodeInstanceIds, DEFAULT_STYLE, ID as LABEL_ID } from './scene';
export type { SceneOptions, SceneRequirements, CityStyle } from './scene';
export {
  generateSyntheticCityscapes, defaultSyntheticOptions, renderSyntheticFrame, formatClassFrequencies, cityStyle,
  requirementsFor, frameStem, DEFAULT_SYNTHETIC_ROOT, PROJECT_ROOT, SYNTHETIC_MANIFEST, SYNTHETIC_VERSION,
} from './synthetic';
export type { SyntheticCityscapesOptions, SyntheticCityscapesResult } from './synthetic';
export {
  CityscapesDataset, CityscapesDataError, openCityscapes, listCityscapes, loadCityscapesFrame, loadCityscapesGroundTruth, resolveCityscapesRoot, resolveDataRoot, syntheticSetStaleness,
  resizeNearest, scaledSize,
} from './dataset';
export type { CityscapesEntry, CityscapesDatasetConfig, CityscapesGroundTruth, LabelSource, OpenCityscapesOptions, DataRoot, DataRootSource } from './dataset';
export { encodePng, encodePng16 } from './synthetic';
export { PREDICTION_SUFFIX, PredictionFolder, predictionPaths, readPredictionLabelIds, writePrediction } from './predictions';
