/**
 * One experiment = one run folder: load data, build (or load) the networks, train with optional
 * distillation terms, evaluate on val, write eval.json. Used by the CLI, sweeps and the demo.
 *
 * `validateExperiment` checks everything that can be checked without heavy work (options, model
 * preset, term methods/options, data and teacher folders), so bad input fails before training.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { CITYSCAPES_TRAIN_CLASSES } from '../cityscapes/labels';
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
  if (!/^[A-Za-z0-9._@=+,-]+(\/[A-Za-z0-9._@=+,-]+)*$/.test(spec.name)) {
    throw new Error(`run name '${spec.name}' may contain only letters, digits and . _ - @ = + , (and / for sub-folders)`);
  }
  if (!(spec.model in PRESETS)) throw new Error(`unknown model preset '${spec.model}'; valid: ${Object.keys(PRESETS).join(', ')}`);
  modelConfig(spec.model, spec.modelOverrides as never); // validates overrides
  if (!Number.isInteger(spec.downsample) || spec.downsample < 1) throw new Error(`downsample must be an integer >= 1, got ${spec.downsample}`);
  if (spec.scale !== undefined) {
    const [lo, hi] = spec.scale;
    if (!(lo > 0 && hi >= lo && hi <= 8)) throw new Error(`scale must be [min, max] with 0 < min <= max <= 8, got [${spec.scale}]`);
  }
  const train = resolveTrainConfig(spec.train as Record<string, unknown>, 'train config');
  checkTermOptions(train.terms, 'train config.terms');
  listSplit(spec.dataRoot, 'train');
  if (spec.evaluate !== false) listSplit(spec.dataRoot, 'val');
  if (train.terms.length > 0) {
    if (!spec.teacherDir) throw new Error('distillation terms need a teacher (--teacher DIR, e.g. data/teacher)');
    readManifest(spec.teacherDir);
  }
  return train;
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
  if (spec.fresh) fs.rmSync(runDir, { recursive: true, force: true });
  const trainFrames = await cachedFrames(spec.dataRoot, 'train', spec.downsample, spec.trainLimit);
  const scale = spec.scale ?? DEFAULT_SCALE_RANGE;
  const student = buildModel({ ...modelConfig(spec.model, spec.modelOverrides as never), seed: train.seed } as ModelConfig);
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
      data: { root: spec.dataRoot, downsample: spec.downsample, trainLimit: spec.trainLimit ?? null, valLimit: spec.valLimit ?? null, crop: spec.crop ?? null, scale, jitter: spec.jitter ?? false, trainFrames: trainFrames.length },
      hashExtra: { model: spec.model, modelOverrides: spec.modelOverrides ?? null, data: [spec.downsample, spec.trainLimit ?? null, spec.crop ?? null, scale, spec.jitter ?? false], teacher: teacher ? readManifest(spec.teacherDir!).configHash ?? spec.teacherDir : null },
      ...(hooks.runInfo ?? {}),
    },
    onStep: hooks.onStep,
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
        const valFrames = await cachedFrames(spec.dataRoot, 'val', spec.downsample, spec.valLimit);
        const r = await evaluate(student, frameBatches(valFrames, 4), { classNames: [...CITYSCAPES_TRAIN_CLASSES] });
        ev = { ...r, classNames: [...CITYSCAPES_TRAIN_CLASSES] };
        trainer.run!.writeJSON('eval.json', { split: 'val', step: trainer.step, ...ev });
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
