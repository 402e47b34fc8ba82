// Public API of lib/metrics.
export { ConfusionMatrix } from './confusion';
export type { ConfusionMatrixConfig, LabelArray, LabelInput } from './confusion';
