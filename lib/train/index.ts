/**
 * lib/train: training, distillation (Eq. 1: the terms of lib/distill's methods), evaluation,
 * checkpoints, runs, sweeps and the demo.
 *
 * @example
 *   import { runExperiment } from 'channel-distill';
 *   const r = await runExperiment({name: 'cwd', runsDir: 'runs', dataRoot: 'data/synthetic-cityscapes', downsample: 2,
 *     model: 'student-r18', teacherDir: 'data/teacher',
 *     train: {iters: 120, batchSize: 4, terms: [{method: 'cwd', on: 'feature', weight: 3, temperature: 4}]}});
 *   console.log(r.eval?.mIoU);
 */
export { polyLR } from './schedule';
export type { PolyLROptions } from './schedule';
export { crossEntropy2d, downsampleLabels } from './loss';
export type { CrossEntropyOptions } from './loss';
export { Optimizer, defaultOptimizerConfig } from './optim';
export type { OptimizerConfig } from './optim';
export { defaultTrainConfig, resolveTrainConfig, asTrainConfig, configHash, canonicalJSON, configDiff, EXPERIMENT_DEFAULTS, TERM_DEFAULTS, optimizerFor } from './config';
export type { TrainConfig, ExperimentSpec, TrainConfigInput } from './config';
export { DEMO_RECIPE, NOTEBOOK_RECIPES, RESEARCH_RECIPES, recipeFlags } from './recipes';
export type { DemoRecipe, NotebookRecipe, ResearchRecipe } from './recipes';
export { termNames, validateTermConfigs } from './terms';
export type { TermConfig, TapPoint, LossTerm, StepTensors } from './terms';
export { buildTerms, checkTermOptions, termMethods, MethodTerm } from './build-terms';
export { Trainer, runConfig } from './trainer';
export type { TrainData, StepRecord, TrainerOptions } from './trainer';
export { evaluate, evaluateFullResolution, evaluatePredictions } from './evaluate';
export type { EvalResult, FullResolutionEvalOptions, FullResolutionEvalResult } from './evaluate';
export {
  fileIOHandler, readModelArtifacts, loadWeightsInto, saveTensors, loadTensors, CheckpointDir, writeFileAtomic, float32ToFloat16Bits,
} from './checkpoint';
export type { WeightQuantization, FileIOHandlerOptions, CheckpointPointer } from './checkpoint';
export { saveModelPackage, loadModelPackage, readManifest } from './model-package';
export type { ModelManifest } from './model-package';
export { RunDir, gitCommit, openRun } from './run-dir';
export type { RunInfo, RunConfig, RunData, RunEval, OpenedRun } from './run-dir';
export { exportExperiment, exportRun, recordPackageEval, syntheticDatasetInfo } from './export';
export type { ExportOptions } from './export';
export { frameBatches, framesToBatch, loadSplitFrames, renderSplitFrames, listSplit, downsampleFrame } from './frames';
export { runExperiment, validateExperiment, resolveExperiment, finishedRun, isResolved, cachedFrames, cachedTeacher, disposeResult } from './experiment';
export type { ExperimentResult, ResolvedExperiment } from './experiment';
export { expandGrid, shardCells, parseShard, runSweep, mergeSweep, validateSweep, initSweepDir, groupOverSeeds } from './sweep';
export { planSlurmSweep, submitSlurmSweep, slurmResources, checkRunsDir, localStorageWarnings, describeStorage, shellQuote, SLURM_DEFAULTS } from './slurm';
export type { SlurmResources, SlurmSweepPlan, SlurmSubmission } from './slurm';
export type { SweepSpec, SweepCell, Shard, Grid, CellResult, SeedGroup } from './sweep';
export { METHOD_PRESETS, methodPreset } from './presets';
export { runDemo, demoSpecs, defaultDemoOptions, validateDemo, demoChart } from './demo';
export type { DemoOptions, DemoReport } from './demo';
