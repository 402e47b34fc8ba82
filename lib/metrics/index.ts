// Public API of lib/metrics.
export { ConfusionMatrix, CITYSCAPES_TRAIN_CATEGORIES, CITYSCAPES_CATEGORY_OF_TRAIN_ID } from './confusion';
export type { ConfusionMatrixConfig, LabelArray, LabelInput } from './confusion';
export { CityscapesEvaluator, CITYSCAPES_AVG_CLASS_SIZE } from './cityscapes-eval';
export type { CityscapesScores } from './cityscapes-eval';
