/**
 * One experiment = one run folder: load data, build (or load) the networks, train with optional
 * distillation terms, evaluate on val, write eval.json. Used by the CLI, sweeps and the demo.
 *
 * `validateExperiment` checks everything that can be checked without heavy work (options, model
 * preset, term methods/options, the run name, the teacher folder, the PNG headers of both splits
 * (sizes, channels; for val also every chunk and CRC, as val is otherwise decoded only after
 * training), and that the frames after `downsample` (or the crop) are large enough for the model), so
 * bad input fails before the first step rather than at the final evaluation.
 *
 * `runExperiment` locks the run folder (lib/train/run-dir.ts `RunLock`) for its whole duration, so a
 * second process on the same run refuses; `fresh` deletes only that run folder, inside `runsDir`,
 * and says what it deleted.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { CITYSCAPES_TRAIN_CLASSES } from '../cityscapes/labels';
import { checkSplitFiles } from '../cityscapes/png-check';
import { buildModel, modelConfig, ModelConfig, PRESETS, validateConfig } from '../models';
import type { Frame } from '../data/types';
import type { SegmentationNet } from '../models/types';
import { buildTerms, checkTermOptions } from './build-terms';
import { configDiff, configHash, EXPERIMENT_DEFAULTS, resolveTrainConfig, TrainConfig, type ExperimentSpec } from './config';
import { evaluate, EvalResult } from './evaluate';
import { frameBatches, listSplit, loadSplitFrames } from './frames';
import { ArrayFrameSource, TrainLoader } from '../data/loader';
import { DEFAULT_JITTER } from '../data/augment';
import { loadModelPackage, readManifest, type ModelManifest } from './model-package';
import { deleteRun, openRun, RunLock, runDirOf, type OpenedRun } from './run-dir';
import { runConfig, StepRecord, Trainer } from './trainer';

export type { ExperimentSpec, TrainConfigInput } from './config';

/**
 * An experiment validated and resolved once (`validateExperiment`): the spec, its resolved train
 * config, the student's model config, the manifests it reads (teacher, init package), and the config
 * hash its run folder gets. `runExperiment` takes it as it is; everything below it uses these values.
 */
export interface ResolvedExperiment {
  readonly resolved: true;
  spec: ExperimentSpec;
  train: TrainConfig;
  /** The student's model config as the run records it (seed = train.seed). */
  student: ModelConfig;
  /** The teacher package's manifest when the run has terms, else null. */
  teacherManifest: ModelManifest | null;
  /** The init package's manifest (`spec.init`), else null. */
  initManifest: ModelManifest | null;
  /** The augmentation's scale range. */
  scale: [number, number];
  /** What the run's config hash covers besides train, student and teacher configs. */
  hashExtra: Record<string, unknown>;
  /** The config hash of the run folder (config.json `configHash`), as the trainer computes it. */
  configHash: string;
}

export interface ExperimentResult {
  name: string;
  runDir: string;
  eval: (EvalResult & { classNames: string[] }) | null;
  steps: number;
  resumedAt: number | null;
  trainSeconds: number;
  meanStepSeconds: number;
  student: SegmentationNet;
}

/**
 * Resolve a spec without touching its data: the train config (validated), the model config, the
 * teacher and init manifests, and the config hash its run folder gets. Throws naming the bad field.
 */
export function resolveExperiment(spec: ExperimentSpec): ResolvedExperiment {
  runDirOf(spec.runsDir, spec.name); // the name must name a folder inside runsDir
  if (!(spec.model in PRESETS)) throw new Error(`unknown model preset '${spec.model}'; valid: ${Object.keys(PRESETS).join(', ')}`);
  modelConfig(spec.model, spec.modelOverrides as never); // validates overrides
  if (!Number.isInteger(spec.downsample) || spec.downsample < 1) throw new Error(`downsample must be an integer >= 1, got ${spec.downsample}`);
  if (spec.scale !== undefined) {
    const [lo, hi] = spec.scale;
    if (!(lo > 0 && hi >= lo && hi <= 8)) throw new Error(`scale must be [min, max] with 0 < min <= max <= 8, got [${spec.scale}]`);
  }
  if (spec.stopAt !== undefined && (!Number.isInteger(spec.stopAt) || spec.stopAt < 1)) throw new Error(`stopAt must be an integer >= 1, got ${spec.stopAt}`);
  const train = resolveTrainConfig(spec.train as Record<string, unknown>, 'train config');
  checkTermOptions(train.terms, 'train config.terms');
  let initManifest: ModelManifest | null = null;
  if (spec.init !== undefined) {
    initManifest = readManifest(spec.init);
    const m = initManifest as { model?: string };
    if (m.model !== spec.model) throw new Error(`init (--init) ${spec.init} holds a '${m.model}' model, but the run's model preset is '${spec.model}': they must match`);
    if (spec.modelOverrides && Object.keys(spec.modelOverrides).some((k) => k !== 'seed')) throw new Error(`init (--init) ${spec.init}: model overrides other than seed cannot be combined with an init package`);
  }
  let teacherManifest: ModelManifest | null = null;
  if (train.terms.length > 0) {
    if (!spec.teacherDir) throw new Error('distillation terms need a teacher (--teacher DIR, e.g. data/teacher)');
    teacherManifest = readManifest(spec.teacherDir);
  }
  return identify(spec, train, teacherManifest, initManifest);
}

/**
 * Check a spec without heavy work and resolve it, once (`resolveExperiment`, then the data: splits,
 * PNG headers, every byte of val, frame sizes against the model). Throws naming the bad field.
 */
export function validateExperiment(spec: ExperimentSpec): ResolvedExperiment {
  const x = resolveExperiment(spec);
  const nTrain = Math.min(listSplit(spec.dataRoot, 'train').length, spec.trainLimit ?? Infinity);
  if (spec.holdout !== undefined && (!Number.isInteger(spec.holdout) || spec.holdout < 1 || spec.holdout >= nTrain)) {
    throw new Error(`holdout (--holdout) must be an integer from 1 to ${nTrain - 1} (the train split of ${spec.dataRoot} has ${nTrain} frames${spec.trainLimit ? ` after --train-limit ${spec.trainLimit}` : ''}), got ${spec.holdout}`);
  }
  if (spec.evaluate !== false) listSplit(spec.dataRoot, 'val');
  const splits = spec.evaluate !== false ? (['train', 'val'] as const) : (['train'] as const);
  const mc = modelConfig(spec.model, spec.modelOverrides as never);
  // headers of both splits (train frames are decoded in full before the first step), and every byte of val
  for (const split of splits) checkSplitFiles(spec.dataRoot, split, split === 'val');
  for (const split of splits) checkFrameSizes(spec, mc, split);
  return x;
}

/**
 * Run reuse: the finished run of an experiment, when its folder holds one with the same config hash;
 * null when there is no finished run; an error naming every differing field when the folder holds a
 * run of another config (never a silent reuse).
 */
export function finishedRun(experiment: ExperimentSpec | ResolvedExperiment): OpenedRun | null {
  const x = isResolved(experiment) ? experiment : resolveExperiment(experiment);
  const dir = runDirOf(x.spec.runsDir, x.spec.name);
  if (!fs.existsSync(dir)) return null;
  const run = openRun(dir);
  if (!run.finished) return null;
  if (!run.info) throw new Error(`${dir} has eval.json but no config.json: delete the folder to retrain it`);
  if (run.info.configHash !== x.configHash) {
    const wanted = runConfig(x.train, x.student, x.teacherManifest ? validateConfig(x.teacherManifest.modelConfig) : null, x.hashExtra);
    const diff = configDiff(run.info.config, wanted).slice(0, 8);
    throw new Error(`${dir} was trained differently (config hash ${run.info.configHash}, this experiment ${x.configHash}: ${diff.join('; ') || 'the configs differ'}): delete that folder to retrain it, or use another runs folder or name`);
  }
  return run;
}

/** The run identity of a resolved experiment: the student config, hashExtra and the config hash the trainer records. */
function identify(spec: ExperimentSpec, train: TrainConfig, teacherManifest: ModelManifest | null, initManifest: ModelManifest | null): ResolvedExperiment {
  const scale = spec.scale ?? EXPERIMENT_DEFAULTS.scale;
  const student = JSON.parse(JSON.stringify(validateConfig({ ...modelConfig(spec.model, spec.modelOverrides as never), seed: train.seed } as ModelConfig))) as ModelConfig;
  const hashExtra = {
    model: spec.model, modelOverrides: spec.modelOverrides ?? null,
    data: [spec.downsample, spec.trainLimit ?? null, spec.crop ?? null, scale, spec.jitter ?? false, ...(spec.holdout ? [{ holdout: spec.holdout }] : [])],
    ...(initManifest ? { init: initManifest.configHash ?? null } : {}),
    teacher: teacherManifest ? teacherManifest.configHash ?? spec.teacherDir : null,
  };
  const teacher = teacherManifest ? validateConfig(teacherManifest.modelConfig) : null;
  return {
    resolved: true, spec, train, student, teacherManifest, initManifest, scale: [...scale] as [number, number], hashExtra,
    configHash: configHash(runConfig(train, student, teacher, hashExtra)),
  };
}

/** The smallest input side a model accepts: its PPM grid on the stride-8 map (ceil(side / 8) >= largest bin), else 8. */
export function minInputSide(c: ModelConfig): number {
  return c.head.type === 'ppm' ? 8 * (Math.max(...c.head.bins) - 1) + 1 : 8;
}

/** Check the PNGs of a split (structure, channels, sizes) and that its frames, downsampled (and cropped), suit the model. */
function checkFrameSizes(spec: ExperimentSpec, mc: ModelConfig, split: 'train' | 'val'): void {
  const { sizes } = checkSplitFiles(spec.dataRoot, split, split === 'val');
  const need = minInputSide(mc);
  const why = mc.head.type === 'ppm' ? `its pyramid pooling has a ${Math.max(...mc.head.bins)}x${Math.max(...mc.head.bins)} grid on the stride-8 map` : 'its output stride is 8';
  for (const [w0, h0] of sizes) {
    const w = Math.floor(w0 / spec.downsample);
    const h = Math.floor(h0 / spec.downsample);
    const maxDown = Math.floor(Math.min(w0, h0) / need);
    if (Math.min(w, h) < need) {
      throw new Error(`downsample ${spec.downsample} (--downsample) shrinks the ${w0}x${h0} ${split} frames of ${spec.dataRoot} to ${w}x${h}, `
        + `below the ${need}-pixel side that model '${spec.model}' needs (${why}): `
        + (maxDown >= 1 ? `use a downsample of ${maxDown} or less` : 'these frames are too small for this model'));
    }
    if (split === 'train' && spec.crop) {
      const [ch, cw] = spec.crop;
      if (Math.min(ch, cw) < need) throw new Error(`crop ${ch}x${cw} (--crop HxW) is below the ${need}-pixel side that model '${spec.model}' needs (${why})`);
    }
  }
}

const frameCache = new Map<string, Frame[]>();
/** Frames of a split, cached in-process (sweeps and the demo reuse them). */
export async function cachedFrames(root: string, split: string, downsample: number, limit?: number): Promise<Frame[]> {
  const key = `${path.resolve(root)}|${split}|${downsample}|${limit ?? ''}`;
  let f = frameCache.get(key);
  if (!f) {
    f = await loadSplitFrames(root, split, { downsample, limit });
    frameCache.set(key, f);
  }
  return f;
}

const teacherCache = new Map<string, SegmentationNet>();
/** The teacher package's network, loaded once per process (`manifest`: already read, not read again). */
export function cachedTeacher(dir: string, manifest?: ModelManifest): SegmentationNet {
  const key = path.resolve(dir);
  let t = teacherCache.get(key);
  if (!t) {
    t = loadModelPackage(dir, manifest).net;
    teacherCache.set(key, t);
  }
  return t;
}

/**
 * Run (or resume, or skip when finished) one experiment.
 * @example
 *   const r = await runExperiment({name: 'cwd', runsDir: 'runs', dataRoot: 'data/synthetic-cityscapes', downsample: 2,
 *     model: 'student-r18', teacherDir: 'data/teacher', train: {iters: 300, batchSize: 4, terms: [{method: 'cwd', on: 'feature', weight: 3, temperature: 4}]}});
 */
export async function runExperiment(
  experiment: ExperimentSpec | ResolvedExperiment,
  hooks: { onStep?: (r: StepRecord, t: Trainer) => void; log?: (msg: string) => void; runInfo?: Record<string, unknown> } = {},
): Promise<ExperimentResult> {
  const log = hooks.log ?? (() => undefined);
  const x = isResolved(experiment) ? experiment : validateExperiment(experiment);
  const spec = x.spec;
  const runDir = path.join(spec.runsDir, spec.name);
  const lock = RunLock.acquire(runDirOf(spec.runsDir, spec.name), { log, command: hooks.runInfo?.command as string | undefined });
  try {
    if (spec.fresh) {
      const what = deleteRun(spec.runsDir, spec.name, lock);
      if (what) log(`fresh: deleted the previous run ${what}`);
    }
    return await runLocked(x, runDir, hooks, log, hooks.log);
  } finally {
    lock.release();
  }
}

/** True for the result of `validateExperiment`. */
export function isResolved(x: ExperimentSpec | ResolvedExperiment): x is ResolvedExperiment {
  return (x as ResolvedExperiment).resolved === true;
}

async function runLocked(
  x: ResolvedExperiment, runDir: string,
  hooks: { onStep?: (r: StepRecord, t: Trainer) => void; runInfo?: Record<string, unknown> }, log: (m: string) => void,
  warn: ((m: string) => void) | undefined,
): Promise<ExperimentResult> {
  const { spec, train, scale } = x;
  const allTrain = await cachedFrames(spec.dataRoot, 'train', spec.downsample, spec.trainLimit);
  const trainFrames = spec.holdout ? allTrain.slice(0, allTrain.length - spec.holdout) : allTrain;
  const student = buildModel(x.student);
  let initInfo: Record<string, unknown> | null = null;
  if (spec.init) {
    const pkg = loadModelPackage(spec.init, x.initManifest ?? undefined);
    const from = pkg.net.model.getWeights();
    const to = student.model.getWeights();
    if (from.length !== to.length || from.some((w, i) => w.shape.join('x') !== to[i].shape.join('x'))) {
      pkg.net.model.dispose();
      student.model.dispose();
      throw new Error(`init (--init) ${spec.init}: its weights do not fit model '${spec.model}' (${from.length} vs ${to.length} tensors, or different shapes)`);
    }
    student.model.setWeights(from);
    pkg.net.model.dispose();
    const m = pkg.manifest as Record<string, unknown>;
    initInfo = { configHash: m.configHash ?? null, stepsTrained: m.stepsTrained ?? null, createdAt: m.createdAt ?? null };
    log(`student starts from ${spec.init} (${m.stepsTrained ?? '?'} steps)`);
  }
  const teacher = train.terms.length ? cachedTeacher(spec.teacherDir!, x.teacherManifest ?? undefined) : undefined;
  const terms = teacher ? buildTerms(train.terms, { student, teacher, seed: train.seed }) : [];
  const trainer = new Trainer({
    student, teacher, terms, config: train,
    data: new TrainLoader(new ArrayFrameSource(trainFrames), {
      seed: train.seed, batchSize: train.batchSize, cropSize: spec.crop ?? [trainFrames[0].height, trainFrames[0].width],
      scaleRange: scale, jitter: spec.jitter ? DEFAULT_JITTER : null,
    }),
    runDir,
    runInfo: {
      kind: teacher ? 'distill' : 'train',
      model: spec.model,
      teacherDir: spec.teacherDir ?? null,
      data: { root: spec.dataRoot, downsample: spec.downsample, trainLimit: spec.trainLimit ?? null, valLimit: spec.valLimit ?? null, holdout: spec.holdout ?? null, crop: spec.crop ?? null, scale, jitter: spec.jitter ?? false, trainFrames: trainFrames.length },
      init: spec.init ? { dir: spec.init, ...initInfo } : null,
      hashExtra: x.hashExtra,
      ...(hooks.runInfo ?? {}),
    },
    onStep: hooks.onStep,
    log: warn, // undefined: the trainer's default (stderr), so warnings are never swallowed
  });
  try {
    const existing = trainer.run!.readJSON<{ mIoU: number }>('eval.json');
    const resumedAt = await trainer.resume();
    if (resumedAt !== null) log(`resuming ${runDir} at step ${resumedAt}/${train.iters}`);
    const t0 = Date.now();
    const recs = await trainer.train(spec.stopAt ?? train.iters);
    const trainSeconds = (Date.now() - t0) / 1000;
    let ev: ExperimentResult['eval'] = null;
    if (spec.evaluate !== false) {
      if (existing && recs.length === 0 && (existing as { step?: number }).step === trainer.step) {
        ev = existing as ExperimentResult['eval'];
      } else {
        const evalFrames = spec.holdout
          ? allTrain.slice(allTrain.length - spec.holdout)
          : await cachedFrames(spec.dataRoot, 'val', spec.downsample, spec.valLimit);
        const r = await evaluate(student, frameBatches(evalFrames, 4), { classNames: [...CITYSCAPES_TRAIN_CLASSES] });
        ev = { ...r, classNames: [...CITYSCAPES_TRAIN_CLASSES] };
        trainer.run!.writeJSON('eval.json', { split: spec.holdout ? `train-holdout (last ${spec.holdout} train frames)` : 'val', step: trainer.step, ...ev });
      }
    }
    const secs = recs.map((r) => r.seconds);
    return {
      name: spec.name, runDir, eval: ev, steps: trainer.step, resumedAt, trainSeconds, student,
      meanStepSeconds: secs.length ? secs.reduce((a, b) => a + b, 0) / secs.length : NaN,
    };
  } finally {
    trainer.dispose();
  }
}

/** Free a finished experiment's student. */
export function disposeResult(r: ExperimentResult): void {
  r.student.model.dispose();
  void tf;
}
