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
import { buildModel, modelConfig, ModelConfig, PRESETS } from '../models';
import type { Frame } from '../data/types';
import type { SegmentationNet } from '../models/types';
import { buildTerms, checkTermOptions } from './build-terms';
import { resolveTrainConfig, TrainConfig } from './config';
import type { OptimizerConfig } from './optim';
import { evaluate, EvalResult } from './evaluate';
import { frameBatches, listSplit, loadSplitFrames } from './frames';
import { ArrayFrameSource, TrainLoader } from '../data/loader';
import { DEFAULT_SCALE_RANGE, DEFAULT_JITTER } from '../data/augment';
import { loadModelPackage, readManifest } from './model-package';
import { deleteRun, RunLock, runDirOf } from './run-dir';
import { StepRecord, Trainer } from './trainer';

/** A partial train config as accepted by `resolveTrainConfig`. */
export type TrainConfigInput = Partial<Omit<TrainConfig, 'optimizer'>> & { optimizer?: Partial<OptimizerConfig> };

export interface ExperimentSpec {
  /** Run folder name under `runsDir`. */
  name: string;
  runsDir: string;
  /** Dataset root in the Cityscapes layout. */
  dataRoot: string;
  /** Integer shrink factor applied to every frame (2: 512×256 → 256×128). */
  downsample: number;
  trainLimit?: number;
  valLimit?: number;
  /**
   * Hold out the last N train frames (after `trainLimit`): train on the others and evaluate on these
   * instead of val. Weight searches use it, so that no choice is made on the val split.
   */
  holdout?: number;
  /**
   * A model package (e.g. `data/student-init`) whose weights start the student instead of a random
   * init (the stand-in for the paper's ImageNet-pretrained backbones). Its model preset must be `model`.
   */
  init?: string;
  /** Random crop [h, w] of the training frames (default: the frame size). */
  crop?: [number, number];
  /** Random scale range of the augmentation (default [0.5, 2], the paper's; [1, 1] disables). */
  scale?: [number, number];
  /** Photometric jitter (brightness/contrast/saturation ±0.25; default false). */
  jitter?: boolean;
  /** Model preset (lib/models PRESETS) and overrides (e.g. {seed: 3}). */
  model: string;
  modelOverrides?: Record<string, unknown>;
  /** Teacher package folder (data/teacher), needed when train.terms is not empty. */
  teacherDir?: string;
  /** Train config fields (missing ones take `defaultTrainConfig()`); `optimizer` may be partial. */
  train: TrainConfigInput;
  /** Evaluate on val at the end (default true). */
  evaluate?: boolean;
  /** Delete an existing run folder first instead of resuming. */
  fresh?: boolean;
  /**
   * Stop after this many steps of the `train.iters` schedule (a budget cut that keeps the poly
   * schedule of the full run; not part of the config hash, so the run can be resumed to the end).
   */
  stopAt?: number;
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

/** Check a spec without heavy work; returns the resolved train config. Throws naming the bad field. */
export function validateExperiment(spec: ExperimentSpec): TrainConfig {
  runDirOf(spec.runsDir, spec.name); // the name must name a folder inside runsDir
  if (!(spec.model in PRESETS)) throw new Error(`unknown model preset '${spec.model}'; valid: ${Object.keys(PRESETS).join(', ')}`);
  const mc = modelConfig(spec.model, spec.modelOverrides as never); // validates overrides
  if (!Number.isInteger(spec.downsample) || spec.downsample < 1) throw new Error(`downsample must be an integer >= 1, got ${spec.downsample}`);
  if (spec.scale !== undefined) {
    const [lo, hi] = spec.scale;
    if (!(lo > 0 && hi >= lo && hi <= 8)) throw new Error(`scale must be [min, max] with 0 < min <= max <= 8, got [${spec.scale}]`);
  }
  const train = resolveTrainConfig(spec.train as Record<string, unknown>, 'train config');
  checkTermOptions(train.terms, 'train config.terms');
  const nTrain = Math.min(listSplit(spec.dataRoot, 'train').length, spec.trainLimit ?? Infinity);
  if (spec.holdout !== undefined && (!Number.isInteger(spec.holdout) || spec.holdout < 1 || spec.holdout >= nTrain)) {
    throw new Error(`holdout (--holdout) must be an integer from 1 to ${nTrain - 1} (the train split of ${spec.dataRoot} has ${nTrain} frames${spec.trainLimit ? ` after --train-limit ${spec.trainLimit}` : ''}), got ${spec.holdout}`);
  }
  if (spec.init !== undefined) {
    const m = readManifest(spec.init) as { model?: string };
    if (m.model !== spec.model) throw new Error(`init (--init) ${spec.init} holds a '${m.model}' model, but the run's model preset is '${spec.model}': they must match`);
    if (spec.modelOverrides && Object.keys(spec.modelOverrides).some((k) => k !== 'seed')) throw new Error(`init (--init) ${spec.init}: model overrides other than seed cannot be combined with an init package`);
  }
  if (spec.evaluate !== false) listSplit(spec.dataRoot, 'val');
  if (train.terms.length > 0) {
    if (!spec.teacherDir) throw new Error('distillation terms need a teacher (--teacher DIR, e.g. data/teacher)');
    readManifest(spec.teacherDir);
  }
  const splits = spec.evaluate !== false ? (['train', 'val'] as const) : (['train'] as const);
  // headers of both splits (train frames are decoded in full before the first step), and every byte of val
  for (const split of splits) checkSplitFiles(spec.dataRoot, split, split === 'val');
  for (const split of splits) checkFrameSizes(spec, mc, split);
  return train;
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
export function cachedTeacher(dir: string): SegmentationNet {
  const key = path.resolve(dir);
  let t = teacherCache.get(key);
  if (!t) {
    t = loadModelPackage(dir).net;
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
  spec: ExperimentSpec,
  hooks: { onStep?: (r: StepRecord, t: Trainer) => void; log?: (msg: string) => void; runInfo?: Record<string, unknown> } = {},
): Promise<ExperimentResult> {
  const log = hooks.log ?? (() => undefined);
  const train = validateExperiment(spec);
  const runDir = path.join(spec.runsDir, spec.name);
  const lock = RunLock.acquire(runDirOf(spec.runsDir, spec.name), { log, command: hooks.runInfo?.command as string | undefined });
  try {
    if (spec.fresh) {
      const what = deleteRun(spec.runsDir, spec.name, lock);
      if (what) log(`fresh: deleted the previous run ${what}`);
    }
    return await runLocked(spec, train, runDir, hooks, log, hooks.log);
  } finally {
    lock.release();
  }
}

async function runLocked(
  spec: ExperimentSpec, train: TrainConfig, runDir: string,
  hooks: { onStep?: (r: StepRecord, t: Trainer) => void; runInfo?: Record<string, unknown> }, log: (m: string) => void,
  warn: ((m: string) => void) | undefined,
): Promise<ExperimentResult> {
  const allTrain = await cachedFrames(spec.dataRoot, 'train', spec.downsample, spec.trainLimit);
  const trainFrames = spec.holdout ? allTrain.slice(0, allTrain.length - spec.holdout) : allTrain;
  const scale = spec.scale ?? DEFAULT_SCALE_RANGE;
  const student = buildModel({ ...modelConfig(spec.model, spec.modelOverrides as never), seed: train.seed } as ModelConfig);
  let initInfo: Record<string, unknown> | null = null;
  if (spec.init) {
    const pkg = loadModelPackage(spec.init);
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
  const teacher = train.terms.length ? cachedTeacher(spec.teacherDir!) : undefined;
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
      hashExtra: { model: spec.model, modelOverrides: spec.modelOverrides ?? null, data: [spec.downsample, spec.trainLimit ?? null, spec.crop ?? null, scale, spec.jitter ?? false, ...(spec.holdout ? [{ holdout: spec.holdout }] : [])], ...(initInfo ? { init: initInfo.configHash } : {}), teacher: teacher ? readManifest(spec.teacherDir!).configHash ?? spec.teacherDir : null },
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
    if (spec.stopAt !== undefined && (!Number.isInteger(spec.stopAt) || spec.stopAt < 1)) throw new Error(`stopAt must be an integer >= 1, got ${spec.stopAt}`);
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
