/**
 * The configuration schema of the project, and its one owner: every default of an experiment (data,
 * model, training, distillation terms) is declared here, each configuration is resolved and validated
 * once (`resolveTrainConfig`; `validateExperiment` in ./experiment.ts for a whole experiment), and
 * hashed (`configHash`) for run folders, checkpoints and results.
 *
 * - `EXPERIMENT_DEFAULTS`: runs folder, downsample, augmentation, the student and teacher model presets,
 *   the teacher package. (The data root's default is lib/cityscapes' `DEFAULT_SYNTHETIC_ROOT`: the
 *   synthetic set, which its one resolver `resolveDataRoot` generates when absent.)
 * - `defaultTrainConfig()`: the optimiser, schedule, loss and checkpoint fields (the optimiser's own
 *   defaults are `defaultOptimizerConfig()` of ./optim.ts) and `optimizerFor(type)`, the weight decay
 *   that goes with each optimiser in this project's recipes (Adam: none).
 * - `TERM_DEFAULTS`: the tap point and weight a one-term shortcut (`distill --method cwd`) takes;
 *   `validateTermConfigs` (./terms.ts) is the shape rule of a term; its temperature rule is lib/distill's
 *   `checkTemperature` (a finite number > 0), the one every loss applies.
 * - Model configurations: the presets of lib/models (`PRESETS`, `modelConfig`), which validate themselves.
 *
 * The budgets (how long, how big) of the demo, the notebooks and the research protocol are recipes:
 * ./recipes.ts. Changing a default here changes the config hash of every run that relied on it.
 */
import * as crypto from 'crypto';
import * as path from 'path';
import { DEFAULT_SCALE_RANGE } from '../data/augment';
import { defaultOptimizerConfig, OptimizerConfig } from './optim';
import { TermConfig, validateTermConfigs } from './terms';

/** Defaults of an experiment outside the train config (the CLI's flags show them in --help). */
export const EXPERIMENT_DEFAULTS = Object.freeze({
  /** Folder of run folders. */
  runsDir: 'runs',
  /** Integer shrink of every frame (2: 512x256 -> 256x128). */
  downsample: 2,
  /** Random scale range of the training augmentation (the paper's; lib/data/augment.ts). */
  scale: [...DEFAULT_SCALE_RANGE] as [number, number],
  /** Photometric jitter of the training augmentation. */
  jitter: false,
  /** Evaluate on val at the end of a run. */
  evaluate: true,
  /** Model preset of a student (lib/models PRESETS). */
  student: 'student-r18',
  /** Model preset of a teacher. */
  teacher: 'teacher',
  /** The shipped teacher package. */
  teacherDir: path.join('data', 'teacher'),
});

/** A term shortcut's defaults (`distill --method cwd`): the feature map, the paper's weight α = 3. */
export const TERM_DEFAULTS = Object.freeze({ on: 'feature' as const, weight: 3 });

/**
 * The optimiser fields of this project's recipes: SGD keeps the paper's weight decay (5e-4), Adam has
 * none (L2 decay added to Adam's gradient fights its per-weight step size).
 * @example optimizerFor('adam') // {type: 'adam', weightDecay: 0}
 */
export function optimizerFor(type: 'sgd' | 'adam'): { type: 'sgd' | 'adam'; weightDecay: number } {
  return { type, weightDecay: type === 'adam' ? 0 : defaultOptimizerConfig().weightDecay };
}

export interface TrainConfig {
  /** Seed of model init, batch sampling and every random draw in training. */
  seed: number;
  /** Number of optimiser steps (the poly schedule's max_iters). */
  iters: number;
  batchSize: number;
  /** Base learning rate (paper: 0.01 with SGD). */
  lr: number;
  /** Poly exponent (paper: 0.9). */
  lrPower: number;
  /** Linear warm-up steps (0 = none, as the paper). */
  warmupIters: number;
  optimizer: OptimizerConfig;
  /** Where the CE is computed: 'upsample' logits to the label size (paper) or 'downsample' labels. */
  lossMode: 'upsample' | 'downsample';
  /** Distillation terms (empty = a plain student/teacher run). */
  terms: TermConfig[];
  /** Checkpoint every N steps (0 = only at the end). */
  checkpointEvery: number;
  /** Checkpoints kept on disk. */
  keepCheckpoints: number;
  /** Print a log line every N steps (metrics.jsonl gets every step). */
  logEvery: number;
}

/** Paper defaults scaled for a CPU: SGD 0.9, wd 5e-4, lr 0.01, poly 0.9, batch 8. */
export function defaultTrainConfig(): TrainConfig {
  return {
    seed: 0,
    iters: 1000,
    batchSize: 8,
    lr: 0.01,
    lrPower: 0.9,
    warmupIters: 0,
    optimizer: defaultOptimizerConfig(),
    lossMode: 'upsample',
    terms: [],
    checkpointEvery: 100,
    keepCheckpoints: 2,
    logEvery: 10,
  };
}

/** Configs returned by `resolveTrainConfig` (a resolved config is not resolved again). */
const RESOLVED = new WeakSet<object>();

/** The resolved config itself when `c` came from `resolveTrainConfig`, else `c` resolved now. */
export function asTrainConfig(c: TrainConfig | Record<string, unknown>, where = 'config'): TrainConfig {
  return RESOLVED.has(c) ? (c as TrainConfig) : resolveTrainConfig(c as Record<string, unknown>, where);
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * Merge a partial config onto the defaults and validate every field; unknown keys are errors.
 * @example
 *   resolveTrainConfig({iters: 200, terms: [{method: 'cwd', on: 'logits', weight: 3, temperature: 4}]})
 */
export function resolveTrainConfig(partial: Record<string, unknown> = {}, where = 'config'): TrainConfig {
  const base = defaultTrainConfig();
  for (const k of Object.keys(partial)) {
    if (!(k in base)) throw new Error(`${where}: unknown option '${k}' (known: ${Object.keys(base).join(', ')})`);
  }
  const optPartial = partial.optimizer;
  if (optPartial !== undefined && !isPlainObject(optPartial)) throw new Error(`${where}.optimizer must be an object`);
  const optimizer = { ...base.optimizer, ...(optPartial ?? {}) } as OptimizerConfig;
  for (const k of Object.keys(optPartial ?? {})) {
    if (!(k in base.optimizer)) throw new Error(`${where}.optimizer: unknown option '${k}' (known: ${Object.keys(base.optimizer).join(', ')})`);
  }
  const c = { ...base, ...partial, optimizer } as TrainConfig;
  const int = (name: keyof TrainConfig, min: number) => {
    const v = c[name] as unknown;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new Error(`${where}.${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  };
  const num = (name: string, v: unknown, min: number, strict: boolean) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || (strict ? v <= min : v < min)) {
      throw new Error(`${where}.${name} must be a number ${strict ? '>' : '>='} ${min}, got ${JSON.stringify(v)}`);
    }
  };
  int('seed', 0);
  int('iters', 1);
  int('batchSize', 1);
  int('warmupIters', 0);
  int('checkpointEvery', 0);
  int('keepCheckpoints', 1);
  int('logEvery', 1);
  num('lr', c.lr, 0, true);
  num('lrPower', c.lrPower, 0, false);
  if (optimizer.type !== 'sgd' && optimizer.type !== 'adam') throw new Error(`${where}.optimizer.type must be "sgd" or "adam", got ${JSON.stringify(optimizer.type)}`);
  num('optimizer.momentum', optimizer.momentum, 0, false);
  if (optimizer.momentum >= 1) throw new Error(`${where}.optimizer.momentum must be < 1, got ${optimizer.momentum}`);
  num('optimizer.weightDecay', optimizer.weightDecay, 0, false);
  if (c.lossMode !== 'upsample' && c.lossMode !== 'downsample') throw new Error(`${where}.lossMode must be "upsample" or "downsample", got ${JSON.stringify(c.lossMode)}`);
  c.terms = validateTermConfigs(c.terms, `${where}.terms`);
  RESOLVED.add(c);
  return c;
}

/** Canonical JSON (sorted keys) so that equal configs hash equally. */
export function canonicalJSON(x: unknown): string {
  if (Array.isArray(x)) return `[${x.map(canonicalJSON).join(',')}]`;
  if (isPlainObject(x)) {
    return `{${Object.keys(x).sort().filter((k) => x[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonicalJSON(x[k])}`).join(',')}}`;
  }
  return JSON.stringify(x);
}

/**
 * The leaves in which two configs differ, as `path: run has A, wanted B` (for errors that name the difference).
 * @example configDiff({train: {iters: 4}}, {train: {iters: 8}}) // ['train.iters: run has 4, wanted 8']
 */
export function configDiff(have: unknown, want: unknown, at = ''): string[] {
  if (isPlainObject(have) && isPlainObject(want)) {
    const keys = [...new Set([...Object.keys(have), ...Object.keys(want)])].sort();
    return keys.flatMap((k) => configDiff(have[k], want[k], at ? `${at}.${k}` : k));
  }
  if (Array.isArray(have) && Array.isArray(want) && have.length === want.length) {
    return have.flatMap((h, i) => configDiff(h, want[i], `${at}.${i}`));
  }
  if (canonicalJSON(have ?? null) === canonicalJSON(want ?? null)) return [];
  return [`${at || '(top)'}: run has ${canonicalJSON(have ?? null)}, wanted ${canonicalJSON(want ?? null)}`];
}

/** First 12 hex digits of sha256(canonical JSON). */
export function configHash(x: unknown): string {
  return crypto.createHash('sha256').update(canonicalJSON(x)).digest('hex').slice(0, 12);
}

/** A partial train config as accepted by `resolveTrainConfig`. */
export type TrainConfigInput = Partial<Omit<TrainConfig, 'optimizer'>> & { optimizer?: Partial<OptimizerConfig> };

/** One experiment = one run folder (lib/train/experiment.ts `runExperiment`); defaults: `EXPERIMENT_DEFAULTS`. */
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

