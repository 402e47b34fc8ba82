/**
 * channel-distill command line: `npx channel-distill <command> [options]` (or `npx tsx lib/cli/main.ts`).
 * Every command validates all of its options (and configs, methods, folders) before any work starts.
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { formatHelp, OptSpecs, parseOptions, parseSize, stripOptions, UsageError } from './args';
import { Progress } from './progress';
import { initBackend } from '../backend';
import { resolveDataRoot } from '../cityscapes/dataset';
import { getLoss } from '../distill';
import { CITYSCAPES_TRAIN_CLASSES } from '../cityscapes/labels';
import { defaultSyntheticOptions } from '../cityscapes/synthetic';
import { prepareSyntheticData } from '../data/prepare';
import { validateInferenceOptions } from '../models/inference';
import { writeFileAtomic } from '../train/checkpoint';
import { defaultTrainConfig, EXPERIMENT_DEFAULTS, TERM_DEFAULTS, type ExperimentSpec } from '../train/config';
import { defaultDemoOptions, demoMethod, runDemo, validateDemo } from '../train/demo';
import { evaluate, evaluateFullResolution, evaluatePredictions } from '../train/evaluate';
import { cachedFrames, runExperiment, validateExperiment } from '../train/experiment';
import { exportExperiment, exportRun } from '../train/export';
import { frameBatches, listSplit } from '../train/frames';
import { loadModelPackage } from '../train/model-package';
import { METHOD_PRESETS, methodPreset } from '../train/presets';
import { DEMO_RECIPE } from '../train/recipes';
import { bestWeights, poolResults, pooledMarkdown, writePooled } from '../train/results';
import { openRun } from '../train/run-dir';
import * as slurm from '../train/slurm';
import { initSweepDir, mergeSweep, parseShard, runSweep, shardCells, validateSweep, type SweepCell } from '../train/sweep';
import { formatCityscapesScores, formatIoUTable } from '../viz/iou-table';

export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');
const TRAIN_DEFAULTS = defaultTrainConfig();
const SYNTHETIC = defaultSyntheticOptions();
/** The synthetic set that the data root resolver uses (lib/cityscapes DEFAULT_SYNTHETIC_ROOT), as a path from here. */
const DEFAULT_DATA = path.relative(process.cwd(), SYNTHETIC.out) || '.';

/** Options shared by the training commands. */
export const TRAIN_OPTIONS: OptSpecs = {
  name: { type: 'string', help: 'run name: results go to <runs>/<name>/ (an existing run with the same config resumes)', meta: 'NAME', shown: '<command>-<model>' },
  runs: { type: 'string', help: 'folder of run folders', default: EXPERIMENT_DEFAULTS.runsDir, meta: 'DIR' },
  data: { type: 'string', help: 'dataset root in the Cityscapes layout', meta: 'DIR', shown: `$CITYSCAPES_ROOT, else the synthetic set ${DEFAULT_DATA}, generated when absent` },
  downsample: { type: 'int', min: 1, help: 'shrink frames by this integer factor (2: 512x256 -> 256x128)', default: EXPERIMENT_DEFAULTS.downsample },
  'train-limit': { type: 'int', min: 1, help: 'use only the first N train frames' },
  'val-limit': { type: 'int', min: 1, help: 'evaluate on the first N val frames' },
  holdout: { type: 'int', min: 1, help: 'hold out the last N train frames: train on the others and evaluate on these instead of val (for weight searches)' },
  init: { type: 'string', help: 'start the student from this model package\'s weights (same model preset), e.g. data/student-init', meta: 'DIR' },
  crop: { type: 'string', help: 'random training crop HEIGHTxWIDTH', meta: 'HxW', shown: 'the frame size' },
  scale: { type: 'string', help: 'random scale range MIN-MAX of the training augmentation (the paper: 0.5-2; 1 disables)', default: EXPERIMENT_DEFAULTS.scale.join('-'), meta: 'MIN-MAX' },
  jitter: { type: 'bool', help: 'photometric jitter (brightness/contrast/saturation ±0.25) in the training augmentation', default: EXPERIMENT_DEFAULTS.jitter },
  model: { type: 'string', help: 'model preset (lib/models PRESETS)', meta: 'PRESET', shown: `${EXPERIMENT_DEFAULTS.student}; train-teacher: ${EXPERIMENT_DEFAULTS.teacher}` },
  'model-config': { type: 'json', help: 'JSON overrides of the model config', meta: 'JSON' },
  config: { type: 'string', help: 'JSON file with train config fields (iters, lr, terms, ...); flags override it', meta: 'FILE' },
  iters: { type: 'int', min: 1, help: 'optimiser steps', shown: TRAIN_DEFAULTS.iters },
  batch: { type: 'int', min: 1, help: 'batch size', shown: TRAIN_DEFAULTS.batchSize },
  lr: { type: 'number', gt: 0, help: 'base learning rate (poly decay, power 0.9)', shown: TRAIN_DEFAULTS.lr },
  seed: { type: 'int', min: 0, help: 'seed of init, sampling and augmentation', shown: TRAIN_DEFAULTS.seed },
  optimizer: { type: 'string', choices: ['sgd', 'adam'], help: 'optimiser', shown: TRAIN_DEFAULTS.optimizer.type },
  momentum: { type: 'number', min: 0, help: 'SGD momentum', shown: TRAIN_DEFAULTS.optimizer.momentum },
  'weight-decay': { type: 'number', min: 0, help: 'L2 weight decay (also with --optimizer adam: give 0 for none)', shown: TRAIN_DEFAULTS.optimizer.weightDecay },
  warmup: { type: 'int', min: 0, help: 'linear warm-up steps', shown: TRAIN_DEFAULTS.warmupIters },
  'loss-mode': { type: 'string', choices: ['upsample', 'downsample'], help: 'CE on logits upsampled to labels, or on labels downsampled', shown: TRAIN_DEFAULTS.lossMode },
  'checkpoint-every': { type: 'int', min: 0, help: 'checkpoint every N steps (0: only at the end)', shown: TRAIN_DEFAULTS.checkpointEvery },
  'log-every': { type: 'int', min: 1, help: 'log line every N steps when not on a terminal', shown: TRAIN_DEFAULTS.logEvery },
  fresh: { type: 'bool', help: 'delete an existing run folder (only a run folder inside --runs; says what it deletes) instead of resuming it' },
  'stop-at': { type: 'int', min: 1, help: 'stop after N steps of the --iters poly schedule (resume later to finish)' },
  eval: { type: 'bool', help: 'evaluate on val at the end (--no-eval to skip)', default: EXPERIMENT_DEFAULTS.evaluate },
  backend: { type: 'string', choices: ['tensorflow', 'webgpu', 'wasm', 'cpu'], help: 'TensorFlow.js backend (env CWD_BACKEND)', shown: 'the best available' },
};

/** Test-time inference options of eval and predict (lib/models inferLabels). */
export const INFERENCE_OPTIONS: OptSpecs = {
  mode: { type: 'string', choices: ['whole', 'slide'], help: 'whole-image or sliding-window inference', default: 'whole' },
  window: { type: 'string', help: 'sliding window HEIGHTxWIDTH in network-input pixels (with --mode slide)', meta: 'HxW' },
  stride: { type: 'string', help: 'sliding-window step HEIGHTxWIDTH (default 2/3 of the window)', meta: 'HxW' },
  flip: { type: 'bool', help: 'average with the horizontally flipped image' },
  scales: { type: 'list', help: 'multi-scale testing: input scale factors, e.g. 0.75,1,1.25 (default 1)', meta: 'S1,S2' },
};

/** Inference options from the eval/predict flags (validated before any work). */
export function inferenceFromOptions(command: string, o: Record<string, unknown>): Record<string, unknown> {
  const scales = o.scales === undefined ? [1] : (o.scales as string[]).map((x) => {
    const v = Number(x);
    if (!Number.isFinite(v) || v <= 0) throw new UsageError(`${command}: --scales must be a comma-separated list of positive numbers, got '${x}'`);
    return v;
  });
  const mode = (o.mode as string | undefined) ?? 'whole';
  if (mode !== 'slide' && (o.window !== undefined || o.stride !== undefined)) throw new UsageError(`${command}: --window/--stride need --mode slide`);
  if (mode === 'slide' && o.window === undefined) throw new UsageError(`${command}: --mode slide needs --window HxW`);
  try {
    return validateInferenceOptions({
      mode: mode as 'whole' | 'slide', crop: parseSize(command, 'window', o.window) ?? null,
      stride: parseSize(command, 'stride', o.stride) ?? null, flip: Boolean(o.flip), scales,
    }) as unknown as Record<string, unknown>;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`${command}: ${(e as Error).message}`);
  }
}

export const DISTILL_OPTIONS: OptSpecs = {
  teacher: { type: 'string', help: 'teacher package folder (manifest.json + model.json)', default: EXPERIMENT_DEFAULTS.teacherDir, meta: 'DIR' },
  terms: { type: 'json', help: 'distillation terms, e.g. [{"method":"cwd","on":"feature","weight":3,"temperature":4}]', meta: 'JSON' },
  method: { type: 'string', help: 'shortcut for one term: method name (cwd, pi, at, pa, ifvd, holistic, ...)' },
  on: { type: 'string', choices: ['feature', 'logits'], help: 'shortcut: tap point of the term', shown: TERM_DEFAULTS.on },
  weight: { type: 'number', min: 0, help: 'shortcut: term weight (alpha of Eq. 1)', shown: TERM_DEFAULTS.weight },
  temperature: { type: 'number', gt: 0, help: 'shortcut: term temperature', shown: `the method's own (cwd: ${(getLoss('cwd').defaultConfig() as { temperature: number }).temperature})` },
};

/** `sweep --slurm` options (lib/train/slurm.ts); defaults are SLURM_DEFAULTS, under a --slurm-config file and these flags. */
export const SLURM_OPTIONS: OptSpecs = {
  slurm: { type: 'bool', help: 'submit the sweep to Slurm: a job array (task i of n runs --shard i/n) plus a merge job after it (afterok); the --runs folder must be on storage every node sees' },
  'slurm-tasks': { type: 'int', min: 1, help: 'array tasks (shards)', shown: 'one per cell' },
  'slurm-cpus': { type: 'int', min: 1, help: 'CPUs per array task', shown: slurm.SLURM_DEFAULTS.cpus },
  'slurm-mem': { type: 'string', help: 'memory per array task, e.g. 16G', meta: 'SIZE', shown: slurm.SLURM_DEFAULTS.mem },
  'slurm-time': { type: 'string', help: 'time limit per array task, e.g. 24:00:00', meta: 'TIME', shown: slurm.SLURM_DEFAULTS.time },
  'slurm-partition': { type: 'string', help: 'partition', meta: 'NAME', shown: 'the cluster\'s default' },
  'slurm-gpus': { type: 'int', min: 0, help: 'GPUs per array task (--gres=gpu:N)', shown: slurm.SLURM_DEFAULTS.gpus },
  'slurm-max-parallel': { type: 'int', min: 1, help: 'at most N array tasks at once (--array=...%N)' },
  'slurm-setup': { type: 'string', help: 'shell line run before the command in the jobs, e.g. "module load nodejs/20"', meta: 'SH' },
  'slurm-config': { type: 'string', help: 'JSON file of Slurm settings: cpus, mem, time, partition, gpus, tasks, maxParallel, account, qos, setup [lines], sbatchOptions [--opt=value], mergeMem, mergeTime, node; flags override it', meta: 'FILE' },
};

interface Command {
  summary: string;
  options: OptSpecs;
  usage?: string;
  run(o: Record<string, unknown>, argv: string[]): Promise<void>;
}

function readConfigFile(file: unknown): Record<string, unknown> {
  if (file === undefined) return {};
  const f = String(file);
  if (!fs.existsSync(f)) throw new UsageError(`--config: file ${f} does not exist`);
  try {
    const v = JSON.parse(fs.readFileSync(f, 'utf8'));
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('the top level must be an object');
    return v;
  } catch (e) {
    throw new UsageError(`--config: ${f} is not a valid config (${(e as Error).message})`);
  }
}

/** Train-config fields from flags (over the --config file). */
export function trainConfigFromOptions(command: string, o: Record<string, unknown>): Record<string, unknown> {
  const c = readConfigFile(o.config);
  const set = (k: string, v: unknown) => { if (v !== undefined) c[k] = v; };
  set('iters', o.iters);
  set('batchSize', o.batch);
  set('lr', o.lr);
  set('seed', o.seed);
  set('warmupIters', o.warmup);
  set('lossMode', o.lossMode);
  set('checkpointEvery', o.checkpointEvery);
  set('logEvery', o.logEvery);
  const opt: Record<string, unknown> = { ...((c.optimizer as Record<string, unknown>) ?? {}) };
  if (o.optimizer !== undefined) opt.type = o.optimizer;
  if (o.momentum !== undefined) opt.momentum = o.momentum;
  if (o.weightDecay !== undefined) opt.weightDecay = o.weightDecay;
  if (Object.keys(opt).length) c.optimizer = opt;
  if (command === 'distill') {
    const shortcut = o.method !== undefined || o.on !== undefined || o.weight !== undefined || o.temperature !== undefined;
    if (o.terms !== undefined && shortcut) throw new UsageError('distill: give either --terms JSON or --method/--on/--weight/--temperature, not both');
    if (o.terms !== undefined) c.terms = o.terms;
    else if (shortcut) {
      if (o.method === undefined) throw new UsageError('distill: --on/--weight/--temperature need --method');
      const t: Record<string, unknown> = { method: o.method, on: o.on ?? TERM_DEFAULTS.on, weight: o.weight ?? TERM_DEFAULTS.weight };
      if (o.temperature !== undefined) t.temperature = o.temperature;
      c.terms = [t];
    }
    if (c.terms === undefined || (Array.isArray(c.terms) && c.terms.length === 0)) {
      throw new UsageError('distill: no distillation terms: give --method cwd (and --on/--weight/--temperature) or --terms JSON, or use train-student for a baseline');
    }
  } else if (command === 'sweep') {
    if (o.terms !== undefined) c.terms = o.terms;
  } else if (Array.isArray(c.terms) && c.terms.length > 0) {
    throw new UsageError(`${command}: the config has distillation terms: use the distill command`);
  }
  return c;
}

type TrainCommand = 'train-teacher' | 'train-student' | 'distill';

/**
 * The one mapping from flags to an experiment spec, for every training command and the sweep (whose
 * base spec it is: no name, and --fresh / --stop-at are refused, as a sweep resumes its cells and a
 * cell's result is final). `dataRoot`: the resolved --data.
 */
export function experimentFromOptions(command: TrainCommand | 'sweep', o: Record<string, unknown>, dataRoot: string): ExperimentSpec {
  if (command === 'sweep') {
    if (o.fresh) throw new UsageError(`sweep: --fresh is not supported (a sweep resumes its cells and skips finished ones): delete the sweep folder ${path.join(String(o.runs), String(o.name ?? '<name>'))} yourself to start over`);
    if (o.stopAt !== undefined) throw new UsageError('sweep: --stop-at is not supported (a finished cell\'s result is final): lower --iters instead');
  }
  const train = trainConfigFromOptions(command, o);
  const model = (o.model as string | undefined) ?? (command === 'train-teacher' ? EXPERIMENT_DEFAULTS.teacher : EXPERIMENT_DEFAULTS.student);
  return {
    name: (o.name as string | undefined) ?? `${command}-${model}`,
    runsDir: o.runs as string, dataRoot, downsample: o.downsample as number,
    trainLimit: o.trainLimit as number | undefined, valLimit: o.valLimit as number | undefined,
    holdout: o.holdout as number | undefined, init: o.init as string | undefined,
    crop: parseSize(command, 'crop', o.crop), scale: parseScaleRange(command, o.scale), jitter: Boolean(o.jitter), model, modelOverrides: o.modelConfig as Record<string, unknown> | undefined,
    teacherDir: command === 'distill' || command === 'sweep' ? (o.teacher as string) : undefined,
    train, evaluate: o.eval as boolean,
    ...(command === 'sweep' ? {} : { fresh: Boolean(o.fresh), stopAt: o.stopAt as number | undefined }),
  };
}

/** The dataset root of a command through lib's one resolver (--data, else CITYSCAPES_ROOT, else synthetic), printed with how it was chosen. */
async function dataRootOf(command: string, o: Record<string, unknown>): Promise<string> {
  const given = o.data === undefined ? undefined : String(o.data);
  const r = await resolveDataRoot(given, { log: (m) => console.error(m) });
  console.error(`${command}: data ${r.root} (${r.how})`);
  return r.root;
}

/** `--scale MIN-MAX` (or one number) → [min, max]. */
export function parseScaleRange(command: string, raw: unknown): [number, number] {
  const txt = String(raw ?? EXPERIMENT_DEFAULTS.scale.join('-'));
  const m = /^\s*([0-9.]+)\s*(?:-\s*([0-9.]+)\s*)?$/.exec(txt);
  const lo = m ? Number(m[1]) : NaN;
  const hi = m ? Number(m[2] ?? m[1]) : NaN;
  if (!(lo > 0 && hi >= lo && hi <= 8)) throw new UsageError(`${command}: --scale must be MIN-MAX with 0 < MIN <= MAX <= 8 (e.g. 0.5-2, or 1 to disable), got '${txt}'`);
  return [lo, hi];
}

async function startBackend(o: Record<string, unknown>): Promise<string> {
  return initBackend({ backend: o.backend as never });
}

async function trainCommand(command: TrainCommand, o: Record<string, unknown>): Promise<void> {
  const spec = experimentFromOptions(command, o, await dataRootOf(command, o));
  const name = spec.name;
  if (o.export !== undefined && fs.existsSync(path.join(String(o.export), 'manifest.json')) && !o.overwrite) {
    throw new UsageError(`${command}: --export ${o.export} already holds a model package: add --overwrite to replace it`);
  }
  const resolved = validateExperiment(spec);
  const backend = await startBackend(o);
  const progress = new Progress(name, Math.min(resolved.train.iters, spec.stopAt ?? Infinity), { logEvery: resolved.train.logEvery });
  const t0 = Date.now();
  const r = await runExperiment(resolved, {
    onStep: (rec) => progress.update(rec),
    log: (m) => console.error(m),
    runInfo: { command: `channel-distill ${process.argv.slice(2).join(' ')}` },
  });
  progress.done(`${name}: ${r.steps} steps, mean ${r.meanStepSeconds.toFixed(3)} s/step`);
  if (r.eval) {
    console.log(formatIoUTable([{ name, eval: r.eval }]));
    console.log(`${name}: ${spec.holdout ? `mIoU on the ${spec.holdout} held-out train frames` : 'val mIoU'} ${(100 * r.eval.mIoU).toFixed(2)} (${r.eval.images} images) -> ${path.join(r.runDir, 'eval.json')}`);
  }
  if (o.export !== undefined) {
    await exportExperiment(r, resolved, String(o.export), {
      quantization: o.quantization as never, command: `npx channel-distill ${process.argv.slice(2).join(' ')}`, backend, wallSeconds: (Date.now() - t0) / 1000,
    });
  }
}

export const COMMANDS: Record<string, Command> = {
  data: {
    summary: 'Generate the synthetic Cityscapes-layout dataset (skipped when it exists unless --force); the one entry point of data generation (npm run data).',
    options: {
      out: { type: 'string', help: 'output root', default: DEFAULT_DATA, meta: 'DIR' },
      seed: { type: 'int', min: 0, help: 'master seed (the output is a pure function of the options)', default: SYNTHETIC.seed },
      train: { type: 'int', min: 1, help: 'train frames', default: SYNTHETIC.train },
      val: { type: 'int', min: 1, help: 'val frames', default: SYNTHETIC.val },
      test: { type: 'int', min: 0, help: 'test frames', default: SYNTHETIC.test },
      width: { type: 'int', min: 32, help: 'frame width', default: SYNTHETIC.width },
      height: { type: 'int', min: 16, help: 'frame height', default: SYNTHETIC.height },
      cities: { type: 'int', min: 1, help: 'cities per split (1..4)', default: SYNTHETIC.cities },
      'train-ids': { type: 'bool', help: 'also write *_gtFine_labelTrainIds.png', default: SYNTHETIC.writeTrainIds },
      color: { type: 'bool', help: 'also write *_gtFine_color.png', default: SYNTHETIC.writeColor },
      quiet: { type: 'bool', help: 'no progress line' },
      force: { type: 'bool', help: 'regenerate even if the dataset exists' },
    },
    async run(o) {
      if ((o.cities as number) > 4) throw new UsageError(`data: --cities must be 1..4, got ${o.cities}`);
      await prepareSyntheticData({
        out: String(o.out), seed: o.seed as number, train: o.train as number, val: o.val as number, test: o.test as number,
        width: o.width as number, height: o.height as number, cities: o.cities as number,
        writeTrainIds: Boolean(o.trainIds), writeColor: Boolean(o.color), quiet: Boolean(o.quiet), force: Boolean(o.force),
      });
    },
  },
  'train-teacher': {
    summary: 'Train the teacher (default preset "teacher") on the training split; --export writes a model package (data/teacher).',
    options: {
      ...TRAIN_OPTIONS,
      export: { type: 'string', help: 'write the trained model as a package (model.json, weights.bin, manifest.json)', meta: 'DIR' },
      quantization: { type: 'string', choices: ['none', 'float16', 'uint8'], help: 'weight storage of --export', default: 'float16' },
      overwrite: { type: 'bool', help: 'replace an existing package in --export' },
    },
    run: (o) => trainCommand('train-teacher', o),
  },
  'train-student': {
    summary: 'Train a student alone (the baseline: cross-entropy only).',
    options: {
      ...TRAIN_OPTIONS,
      export: { type: 'string', help: 'write the trained model as a package', meta: 'DIR' },
      quantization: { type: 'string', choices: ['none', 'float16', 'uint8'], help: 'weight storage of --export', default: 'none' },
      overwrite: { type: 'bool', help: 'replace an existing package in --export' },
    },
    run: (o) => trainCommand('train-student', o),
  },
  distill: {
    summary: 'Train a student with distillation terms from a frozen teacher: CE + sum weight * term (Eq. 1).',
    options: { ...TRAIN_OPTIONS, ...DISTILL_OPTIONS },
    run: (o) => trainCommand('distill', o),
  },
  sweep: {
    summary: 'Run a grid of experiments (resumable, shardable with --shard i/n), then merge the results to JSON/CSV.',
    options: {
      ...TRAIN_OPTIONS,
      teacher: DISTILL_OPTIONS.teacher,
      terms: DISTILL_OPTIONS.terms,
      grid: { type: 'json', help: 'grid over dotted option paths, e.g. {"train.terms.0.temperature":[1,4],"train.seed":[0,1]}', meta: 'JSON' },
      methods: { type: 'list', help: 'method presets to compare (baseline, pi, at, pa, ifvd, holistic, cwd-feature, cwd-logits, abl-*)', meta: 'A,B' },
      temperatures: { type: 'list', help: 'values of train.terms.0.temperature', meta: 'T1,T2' },
      weights: { type: 'list', help: 'values of train.terms.0.weight', meta: 'W1,W2' },
      seeds: { type: 'list', help: 'values of train.seed', meta: 'S1,S2' },
      shard: { type: 'string', help: 'run only cells k with k mod n = i (0-based i)', meta: 'i/n' },
      'dry-run': { type: 'bool', help: 'list this shard\'s cells and exit (with --slurm: print the sbatch scripts, submit nothing)' },
      results: { type: 'string', help: 'results folder (e.g. data/results/NAME): each finished cell is stored there at once, and cells already stored there (same protocol) are skipped', meta: 'DIR' },
      ...SLURM_OPTIONS,
    },
    run: (o, argv) => sweepCommand(o, argv),
  },
  merge: {
    summary: 'Collect the results of a sweep (all shards) into <runs>/<name>/results.json and results.csv; or, with --from, pool results folders / merged files of one protocol (mean ± std over seeds, per class) into --out PREFIX.{json,csv,md}.',
    options: {
      name: { type: 'string', help: 'sweep name', meta: 'NAME' },
      runs: TRAIN_OPTIONS.runs,
      'allow-missing': { type: 'bool', help: 'exit 0 even when cells are missing' },
      from: { type: 'list', help: 'pool these results folders (sweep --results) and/or merged results.json files', meta: 'A,B' },
      out: { type: 'string', help: 'with --from: output prefix (writes PREFIX.json, PREFIX.csv, PREFIX.md)', meta: 'PREFIX' },
      'best-weights': { type: 'bool', help: 'with --from: also pick each preset\'s best preset@WEIGHT row (highest mean; ties: smaller weight), write PREFIX-best.json and print the methods as a list for sweep --methods' },
    },
    async run(o) {
      if (o.from !== undefined) {
        if (o.out === undefined) throw new UsageError('merge: --from needs --out PREFIX');
        const outDir = path.resolve(path.dirname(String(o.out)));
        const inside = (o.from as string[]).find((f) => fs.existsSync(f) && fs.statSync(f).isDirectory() && path.resolve(f) === outDir);
        if (inside) throw new UsageError(`merge: --out ${o.out} would write into the results folder ${inside}, which must hold only cell files: choose a prefix outside it (e.g. ${path.join(path.dirname(path.resolve(inside)), path.basename(inside))}-table)`);
        const p = poolResults((o.from as string[]).map(String));
        const w = writePooled(p, String(o.out));
        console.log(pooledMarkdown(p));
        console.log(`pooled ${p.rows.reduce((a, r) => a + r.n, 0)} cell(s) of protocol ${p.protocol} -> ${w.json}, ${w.csv}, ${w.md}`);
        if (o.bestWeights) {
          const best = bestWeights(p);
          if (Object.keys(best).length === 0) throw new Error('merge --best-weights: no row is named preset@WEIGHT');
          const file = `${o.out}-best.json`;
          writeFileAtomic(file, JSON.stringify(best, null, 2) + '\n');
          for (const [k, v] of Object.entries(best)) console.log(`  ${k}: ${v.tried.map(([w, m]) => `${w} -> ${(100 * m).toFixed(2)}`).join(', ')}; best ${v.method}`);
          console.log(`best weights -> ${file}\nmethods: ${Object.values(best).map((v) => v.method).join(',')}`);
        }
        return;
      }
      if (!o.name) throw new UsageError('merge: --name is required (or --from to pool results folders)');
      const m = mergeSweep(String(o.runs), String(o.name));
      console.log(`merged ${m.results.length} cell(s) -> ${m.json}, ${m.csv}`);
      for (const g of m.groups) {
        const label = Object.keys(g.params).length ? Object.entries(g.params).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ') : '(all cells)';
        console.log(`  ${label}: mIoU ${(100 * g.mean).toFixed(2)}${g.n > 1 ? ` ± ${(100 * g.std).toFixed(2)}` : ''} (n=${g.n})`);
      }
      if (m.missing.length) {
        console.error(`missing ${m.missing.length} cell(s): ${m.missing.join(' ')}`);
        if (!o.allowMissing) throw new Error(`merge: ${m.missing.length} cell(s) have no result yet (run the remaining shards, or pass --allow-missing)`);
      }
    },
  },
  eval: {
    summary: 'Evaluate a model package (--model-dir), a run\'s latest checkpoint (--run) or a folder of labelId PNGs (--predictions) on a split as cityscapesScripts does: full-resolution class IoU, iIoU, category IoU and iIoU.',
    options: {
      'model-dir': { type: 'string', help: 'model package folder (e.g. data/teacher)', meta: 'DIR' },
      run: { type: 'string', help: 'run folder (its newest intact checkpoint, and its recorded --data and --downsample unless given)', meta: 'DIR' },
      predictions: { type: 'string', help: 'score official-format predictions instead of a model: labelId PNGs <city>_<seq>_<frame>*.png below DIR (e.g. the labelIds/ folder written by predict)', meta: 'DIR' },
      data: TRAIN_OPTIONS.data,
      split: { type: 'string', help: 'split to evaluate', default: 'val' },
      downsample: { ...TRAIN_OPTIONS.downsample, help: 'the network sees frames shrunk by this integer factor (as in training); scores are at the labels\' full resolution' },
      resolution: { type: 'string', choices: ['full', 'input'], help: 'full: upsample to the ground truth\'s resolution and score in labelId space with iIoU (cityscapesScripts); input: the quick in-training score on the downsampled labels (class IoU only)', default: 'full' },
      ...INFERENCE_OPTIONS,
      limit: { type: 'int', min: 1, help: 'first N frames only' },
      out: { type: 'string', help: 'write the result as JSON', meta: 'FILE' },
      backend: TRAIN_OPTIONS.backend,
    },
    run: (o, argv) => evalCommand(o, argv),
  },
  predict: {
    summary: 'Write a model\'s predictions for a split in the official format (labelId PNGs at full resolution, <out>/labelIds/<city>/<city>_<seq>_<frame>_leftImg8bit.png, colours in <out>/color/) and print their scores.',
    options: {
      'model-dir': { type: 'string', help: 'model package folder (e.g. data/teacher)', meta: 'DIR' },
      run: { type: 'string', help: 'run folder (its newest intact checkpoint, and its recorded --data and --downsample unless given)', meta: 'DIR' },
      out: { type: 'string', help: 'output folder (labelIds/ and color/ are created in it)', meta: 'DIR' },
      data: TRAIN_OPTIONS.data,
      split: { type: 'string', help: 'split to predict', default: 'val' },
      downsample: { ...TRAIN_OPTIONS.downsample, help: 'the network sees frames shrunk by this integer factor (as in training); predictions are at full resolution' },
      ...INFERENCE_OPTIONS,
      limit: { type: 'int', min: 1, help: 'first N frames only' },
      backend: TRAIN_OPTIONS.backend,
    },
    run: (o, argv) => predictCommand(o, argv),
  },
  demo: {
    summary: 'The main job: data if absent, shipped teacher, baseline vs CWD student (same seed and budget), IoU table, runs/demo/.',
    options: {
      data: TRAIN_OPTIONS.data,
      teacher: DISTILL_OPTIONS.teacher,
      runs: TRAIN_OPTIONS.runs,
      student: { type: 'string', help: 'student preset', meta: 'PRESET', shown: DEMO_RECIPE.student },
      method: { type: 'string', help: 'distillation preset of the second student, optionally preset@WEIGHT (default: cwd-logits, CWD on the score map, at the weight protocol r2 selected, data/results/r2-search-table-best.json)', shown: demoMethod().method },
      init: { type: 'string', help: 'model package that starts both students, or none for a random init (as protocol r2; with another --student: a random init unless given)', meta: 'DIR', shown: DEMO_RECIPE.init ?? 'none' },
      iters: { type: 'int', min: 1, help: 'steps per student (the measured <10 min budget)', shown: DEMO_RECIPE.iters },
      batch: { type: 'int', min: 1, help: 'batch size', shown: DEMO_RECIPE.batchSize },
      crop: { type: 'string', help: 'training crop HxW, or none', meta: 'HxW', shown: DEMO_RECIPE.crop ? DEMO_RECIPE.crop.join('x') : 'none' },
      seed: { type: 'int', min: 0, help: 'seed of both students', shown: DEMO_RECIPE.seed },
      'val-limit': { type: 'int', min: 1, help: 'evaluate on the first N val frames' },
      backend: TRAIN_OPTIONS.backend,
    },
    run: (o) => demoCommand(o),
  },
  export: {
    summary: 'Write a run\'s latest checkpoint as a model package (model.json, weights.bin, manifest.json) and record its val mIoU.',
    options: {
      run: { type: 'string', help: 'run folder (its latest checkpoint)', meta: 'DIR' },
      out: { type: 'string', help: 'package folder', meta: 'DIR' },
      quantization: { type: 'string', choices: ['none', 'float16', 'uint8'], help: 'weight storage', default: 'float16' },
      overwrite: { type: 'bool', help: 'replace an existing package' },
      'val-limit': TRAIN_OPTIONS['val-limit'],
      backend: TRAIN_OPTIONS.backend,
    },
    async run(o) {
      if (o.run === undefined || o.out === undefined) throw new UsageError('export: --run DIR and --out DIR are required');
      const run = String(o.run);
      const latestFile = path.join(run, 'checkpoints', 'latest.json');
      if (!fs.existsSync(latestFile)) throw new UsageError(`export: ${run} has no checkpoint (${latestFile} is missing)`);
      if (fs.existsSync(path.join(String(o.out), 'manifest.json')) && !o.overwrite) throw new UsageError(`export: ${o.out} already holds a model package: add --overwrite to replace it`);
      const backend = await startBackend(o);
      await exportRun(run, String(o.out), {
        quantization: o.quantization as never, command: `npx channel-distill ${process.argv.slice(2).join(' ')}`, backend,
        valLimit: o.valLimit as number | undefined, dataRoot: () => dataRootOf('export', o), log: (m) => console.error(m),
      });
    },
  },
  bench: {
    summary: 'Benchmarks (delegates to bench/run.ts: npm run bench -- <args>).',
    options: {},
    usage: '[bench/run.ts options]',
    async run(_o, argv) {
      const script = path.join(PROJECT_ROOT, 'bench', 'run.ts');
      if (!fs.existsSync(script)) throw new Error(`bench: ${script} does not exist`);
      const r = spawnSync(process.execPath, ['--import', 'tsx', script, ...argv], { stdio: 'inherit', cwd: PROJECT_ROOT });
      if (r.status !== 0) throw new Error(`bench exited with status ${r.status}`);
    },
  },
};


/** The sweep grid from --grid JSON plus the shortcuts (--methods, --temperatures, --weights, --seeds). */
export function sweepGridFromOptions(o: Record<string, unknown>): Record<string, unknown[]> {
  const grid: Record<string, unknown[]> = {};
  if (o.grid !== undefined) {
    const g = o.grid;
    if (typeof g !== 'object' || g === null || Array.isArray(g)) throw new UsageError('sweep: --grid must be a JSON object {"dotted.key": [values...]}');
    for (const [k, v] of Object.entries(g)) {
      if (!Array.isArray(v) || v.length === 0) throw new UsageError(`sweep: --grid key '${k}' must map to a non-empty list`);
      grid[k] = v;
    }
  }
  const nums = (name: string, raw: unknown): number[] => (raw as string[]).map((x) => {
    const v = Number(x);
    if (!Number.isFinite(v)) throw new UsageError(`sweep: --${name} must be a comma-separated list of numbers, got '${x}'`);
    return v;
  });
  if (o.methods !== undefined) grid.method = o.methods as string[];
  if (o.temperatures !== undefined) grid['train.terms.0.temperature'] = nums('temperatures', o.temperatures);
  if (o.weights !== undefined) grid['train.terms.0.weight'] = nums('weights', o.weights);
  if (o.seeds !== undefined) {
    const seeds = nums('seeds', o.seeds);
    if (seeds.some((x) => !Number.isInteger(x) || x < 0)) throw new UsageError('sweep: --seeds must be integers >= 0');
    grid['train.seed'] = seeds;
  }
  if (Object.keys(grid).length === 0) throw new UsageError('sweep: nothing to sweep: give --grid, --methods, --temperatures, --weights or --seeds');
  return grid;
}

async function sweepCommand(o: Record<string, unknown>, argv: string[] = []): Promise<void> {
  const grid = sweepGridFromOptions(o);
  if (grid.method) {
    for (const m of grid.method) {
      try {
        methodPreset(String(m));
      } catch (e) {
        throw new UsageError(`sweep: --methods: ${(e as Error).message}`);
      }
    }
  }
  if (!o.name) throw new UsageError('sweep: --name is required (the sweep folder under --runs)');
  const shard = o.shard !== undefined ? (() => { try { return parseShard(String(o.shard)); } catch (e) { throw new UsageError(`sweep: ${(e as Error).message}`); } })() : undefined;
  const { name: _name, ...base } = experimentFromOptions('sweep', o, await dataRootOf('sweep', o));
  const spec = { name: String(o.name), base, grid, resultsDir: o.results as string | undefined };
  const slurmFlags = Object.keys(SLURM_OPTIONS).filter((k) => k !== 'slurm' && o[camelCase(k)] !== undefined);
  if (!o.slurm && slurmFlags.length) throw new UsageError(`sweep: --${slurmFlags[0]} needs --slurm`);
  if (o.slurm && shard) throw new UsageError('sweep: --slurm decides the shards itself (one per array task): drop --shard (use --slurm-tasks N for N shards)');
  const cells = validateSweep(spec);
  if (o.slurm) return slurmSweep(o, argv, spec, cells);
  const mine = shardCells(cells, shard);
  console.error(`sweep ${spec.name}: ${cells.length} cells${shard ? `, shard ${shard.index}/${shard.count} runs ${mine.length}` : ''}`);
  if (o.dryRun) {
    for (const c of mine) console.log(`${c.index}\t${c.id}`);
    return;
  }
  await startBackend(o);
  let progress: Progress | null = null;
  const r = await runSweep(spec, shard, {
    onCellStart: (c, k, n) => { progress = new Progress(`[${k + 1}/${n}] ${c.id}`, (c.spec.train.iters as number | undefined) ?? 1000, { logEvery: 10 }); },
    onStep: (rec) => progress?.update(rec),
    log: (m) => console.error(m),
  }, cells);
  console.error(`sweep ${spec.name}: ran ${r.ran.length}, skipped ${r.skipped.length} finished cell(s)`);
  const merged = mergeSweep(spec.base.runsDir, spec.name);
  console.log(`results: ${merged.json}, ${merged.csv}${merged.missing.length ? ` (${merged.missing.length} cell(s) not finished yet: other shards?)` : ''}`);
}

function camelCase(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** `sweep --slurm`: write and submit the array + merge scripts (or print them with --dry-run). */
function slurmSweep(o: Record<string, unknown>, argv: string[], spec: { name: string; base: { runsDir: string; dataRoot: string; teacherDir?: string } }, cellList: SweepCell[]): void {
  const cells = cellList.length;
  let config: Record<string, unknown> = {};
  if (o.slurmConfig !== undefined) {
    const f = String(o.slurmConfig);
    if (!fs.existsSync(f)) throw new UsageError(`sweep: --slurm-config file ${f} does not exist`);
    try {
      config = JSON.parse(fs.readFileSync(f, 'utf8'));
    } catch (e) {
      throw new UsageError(`sweep: --slurm-config ${f} is not JSON (${(e as Error).message})`);
    }
    if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new UsageError(`sweep: --slurm-config ${f}: the top level must be an object`);
  }
  let resources: slurm.SlurmResources;
  let plan: slurm.SlurmSweepPlan;
  try {
    resources = slurm.slurmResources(config, {
      cpus: o.slurmCpus as number | undefined, mem: o.slurmMem as string | undefined, time: o.slurmTime as string | undefined,
      partition: o.slurmPartition as string | undefined, gpus: o.slurmGpus as number | undefined, maxParallel: o.slurmMaxParallel as number | undefined,
      setup: o.slurmSetup !== undefined ? [...((config.setup as string[] | undefined) ?? []), String(o.slurmSetup)] : undefined,
    }, o.slurmConfig !== undefined ? `--slurm-config ${o.slurmConfig}` : 'sweep --slurm');
    const tasks = (o.slurmTasks as number | undefined) ?? (config.tasks as number | undefined);
    const sweepArgs = stripOptions(argv, COMMANDS.sweep.options, (n) => n.startsWith('slurm') || n === 'shard' || n === 'dry-run');
    plan = slurm.planSlurmSweep({
      name: spec.name, runsDir: spec.base.runsDir, cells, tasks, resources,
      command: [resources.node, path.join(PROJECT_ROOT, 'bin', 'channel-distill.cjs')], sweepArgs,
    });
  } catch (e) {
    throw new UsageError(`sweep: ${(e as Error).message}`);
  }
  const warnings = [
    ...slurm.localStorageWarnings(spec.base.dataRoot, 'data folder'),
    ...(spec.base.teacherDir && fs.existsSync(spec.base.teacherDir) ? slurm.localStorageWarnings(spec.base.teacherDir, 'teacher folder') : []),
  ];
  if (o.dryRun) {
    warnings.push(...slurm.localStorageWarnings(spec.base.runsDir, 'runs folder'));
    for (const w of warnings) console.error(`warning: ${w}`);
    console.log(`# sweep ${spec.name}: ${cells} cell(s) in ${plan.tasks} array task(s); nothing submitted (--dry-run)`);
    console.log(`# ${plan.arrayScriptFile}\n${plan.arrayScript}`);
    console.log(`# ${plan.mergeScriptFile}\n${plan.mergeScript}`);
    console.log(`# submit with:\n${plan.arraySubmit.join(' ')}\n${plan.mergeSubmit.join(' ')}`);
    return;
  }
  warnings.push(...slurm.checkRunsDir(spec.base.runsDir));
  for (const w of warnings) console.error(`warning: ${w}`);
  initSweepDir(spec as never, cellList);
  const sub = slurm.submitSlurmSweep(plan);
  console.error(`sweep ${spec.name}: ${cells} cell(s) in ${plan.tasks} array task(s); scripts and logs in ${plan.slurmDir}`);
  console.log(`array job: ${sub.arrayJobId}`);
  console.log(`merge job: ${sub.mergeJobId} (runs after every array task succeeded; writes ${path.join(plan.sweepDir, 'results.json')})`);
  console.error(`watch: squeue -j ${sub.arrayJobId},${sub.mergeJobId}; logs: ${path.join(plan.slurmDir, `${sub.arrayJobId}_*.out`)}`);
}

/** Check --model-dir / --run of eval and predict before any work; returns the folder. */
function modelSource(command: string, o: Record<string, unknown>): string {
  if ((o.modelDir === undefined) === (o.run === undefined)) {
    throw new UsageError(`${command}: give exactly one of --model-dir DIR (a model package)${command === 'eval' ? ', --predictions DIR (labelId PNGs)' : ''} or --run DIR (a run folder)`);
  }
  if (o.run !== undefined) {
    const run = String(o.run);
    const latest = path.join(run, 'checkpoints', 'latest.json');
    if (!fs.existsSync(latest)) throw new UsageError(`${command}: ${run} has no checkpoint (${latest} is missing)`);
    return run;
  }
  const dir = String(o.modelDir);
  if (!fs.existsSync(path.join(dir, 'manifest.json'))) throw new UsageError(`${command}: ${dir} is not a model package (no manifest.json)`);
  return dir;
}

/** The network of a model package or of a run's newest intact checkpoint (the backend must be started). */
function loadNetFrom(o: Record<string, unknown>, dir: string, command = 'eval') {
  if (o.run !== undefined) {
    const { net, checkpoint } = openRun(dir).loadStudent((m) => console.error(`${command}: ${m}`));
    console.error(`${command}: checkpoint ${checkpoint.dir} (step ${checkpoint.step})`);
    return net;
  }
  return loadModelPackage(dir).net;
}

/** Progress of a per-image loop on stderr (every image when few, else every 10th). */
function imageProgress(what: string): (done: number, total: number, id: string) => void {
  const t0 = Date.now();
  return (done, total, id) => {
    if (total <= 20 || done % 10 === 0 || done === total) {
      console.error(`${what} ${done}/${total} ${id} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    }
  };
}

function writeJsonOut(file: unknown, value: unknown): void {
  if (file === undefined) return;
  fs.mkdirSync(path.dirname(path.resolve(String(file))), { recursive: true });
  // NaN (absent classes) is written as null
  fs.writeFileSync(String(file), JSON.stringify(value, null, 2) + '\n');
}

/** True when `--flag` (or `--flag=…`) was given on the command line (not just defaulted). */
function flagGiven(argv: string[], flag: string): boolean {
  return argv.some((a) => a === `--${flag}` || a.startsWith(`--${flag}=`));
}

/**
 * `--run DIR` of eval/predict: the run's recorded data root and downsample (config.json `data`) replace
 * those not given on the command line; says which were used and where they came from.
 */
function runDataDefaults(command: string, o: Record<string, unknown>, argv: string[]): void {
  if (o.run === undefined) return;
  const file = path.join(String(o.run), 'config.json');
  const info = openRun(String(o.run)).info;
  if (!info) throw new UsageError(`${command}: ${o.run} is not a run folder (${file} is missing)`);
  const rec: { root?: unknown; downsample?: unknown } = info.data ?? {};
  const notes: string[] = [];
  if (flagGiven(argv, 'data') || o.data !== undefined) notes.push(`data ${o.data} (--data)`);
  else if (typeof rec.root === 'string') { o.data = rec.root; notes.push(`data ${rec.root} (recorded in ${file})`); }
  else notes.push(`data: ${file} records none, the default applies`);
  if (flagGiven(argv, 'downsample')) notes.push(`downsample ${o.downsample} (--downsample)`);
  else if (typeof rec.downsample === 'number') { o.downsample = rec.downsample; notes.push(`downsample ${rec.downsample} (recorded in ${file})`); }
  else notes.push(`downsample ${o.downsample} (the --downsample default; ${file} records none)`);
  console.error(`${command}: --run ${o.run}: ${notes.join(', ')}`);
}

async function evalCommand(o: Record<string, unknown>, argv: string[] = []): Promise<void> {
  if (o.predictions === undefined && o.run !== undefined) {
    modelSource('eval', o);
    runDataDefaults('eval', o, argv);
  }
  const data = await dataRootOf('eval', o);
  const split = String(o.split);
  if (o.predictions !== undefined) {
    if (o.modelDir !== undefined || o.run !== undefined) throw new UsageError('eval: give exactly one of --model-dir DIR (a model package), --predictions DIR (labelId PNGs) or --run DIR (a run folder)');
    const pred = String(o.predictions);
    if (!fs.existsSync(pred) || !fs.statSync(pred).isDirectory()) throw new UsageError(`eval: --predictions ${pred} is not a folder`);
    if (o.resolution === 'input') throw new UsageError('eval: --predictions are scored at full resolution (drop --resolution input)');
    listSplit(data, split);
    const r = await evaluatePredictions(pred, { root: data, split, limit: o.limit as number | undefined, onImage: imageProgress('eval') });
    console.log(formatCityscapesScores(r));
    console.log(`${pred}: ${split} mIoU ${(100 * r.mIoU).toFixed(2)}, iIoU ${(100 * r.mIIoU).toFixed(2)}, category IoU ${(100 * r.mCategoryIoU).toFixed(2)} on ${r.images} images at ${r.labelSize[1]}x${r.labelSize[0]}`);
    writeJsonOut(o.out, { predictions: pred, split, ...r });
    return;
  }
  const dir = modelSource('eval', o);
  const inference = inferenceFromOptions('eval', o);
  const defaultInference = inference.mode === 'whole' && !inference.flip && (inference.scales as number[]).length === 1 && (inference.scales as number[])[0] === 1;
  if (o.resolution === 'input' && !defaultInference) throw new UsageError('eval: --mode/--window/--flip/--scales need --resolution full');
  listSplit(data, split);
  await startBackend(o);
  const net = loadNetFrom(o, dir);
  const label = path.basename(path.resolve(dir));
  if (o.resolution === 'input') {
    const frames = await cachedFrames(data, split, o.downsample as number, o.limit as number | undefined);
    const r = await evaluate(net, frameBatches(frames, 4), { classNames: [...CITYSCAPES_TRAIN_CLASSES] });
    console.log(formatIoUTable([{ name: label, eval: r }]));
    console.log(`${label}: ${split} mIoU ${(100 * r.mIoU).toFixed(2)} on ${r.images} images at the input resolution (downsample ${o.downsample}) (${r.seconds.toFixed(1)} s)`);
    writeJsonOut(o.out, { model: dir, split, downsample: o.downsample, resolution: 'input', ...r });
    return;
  }
  const r = await evaluateFullResolution(net, {
    root: data, split, downsample: o.downsample as number, limit: o.limit as number | undefined, inference: inference as never, onImage: imageProgress('eval'),
  });
  console.log(formatCityscapesScores(r));
  console.log(`${label}: ${split} mIoU ${(100 * r.mIoU).toFixed(2)}, iIoU ${(100 * r.mIIoU).toFixed(2)}, category IoU ${(100 * r.mCategoryIoU).toFixed(2)} on ${r.images} images at ${r.labelSize[1]}x${r.labelSize[0]} (input downsample ${o.downsample}, ${r.seconds.toFixed(1)} s)`);
  writeJsonOut(o.out, { model: dir, split, ...r });
}

async function predictCommand(o: Record<string, unknown>, argv: string[] = []): Promise<void> {
  const dir = modelSource('predict', o);
  if (o.out === undefined) throw new UsageError('predict: --out DIR is required (labelIds/ and color/ are written in it)');
  const out = String(o.out);
  const inference = inferenceFromOptions('predict', o);
  runDataDefaults('predict', o, argv);
  const data = await dataRootOf('predict', o);
  const split = String(o.split);
  listSplit(data, split);
  await startBackend(o);
  const net = loadNetFrom(o, dir, 'predict');
  const r = await evaluateFullResolution(net, {
    root: data, split, downsample: o.downsample as number, limit: o.limit as number | undefined, inference: inference as never,
    predictionsOut: out, onImage: imageProgress('predict'),
  });
  console.log(formatCityscapesScores(r));
  console.log(`wrote ${r.images} predictions at ${r.labelSize[1]}x${r.labelSize[0]}: labelIds in ${path.join(out, 'labelIds')}, colours in ${path.join(out, 'color')}`);
  console.log(`score them: npx channel-distill eval --predictions ${path.join(out, 'labelIds')} --data ${data} --split ${split}` +
    ` (cityscapesScripts: CITYSCAPES_RESULTS=${path.resolve(out, 'labelIds')} csEvalPixelLevelSemanticLabeling)`);
}

async function demoCommand(o: Record<string, unknown>): Promise<void> {
  const d = defaultDemoOptions();
  const t0 = Date.now();
  const opts = {
    ...d,
    dataRoot: await dataRootOf('demo', o), teacherDir: String(o.teacher ?? d.teacherDir), runsDir: String(o.runs ?? d.runsDir),
    student: String(o.student ?? d.student), iters: (o.iters as number | undefined) ?? d.iters, batchSize: (o.batch as number | undefined) ?? d.batchSize,
    crop: o.crop !== undefined ? (String(o.crop) === 'none' ? undefined : parseSize('demo', 'crop', o.crop)) : d.crop,
    seed: (o.seed as number | undefined) ?? d.seed, method: String(o.method ?? d.method), valLimit: o.valLimit as number | undefined,
    init: o.init !== undefined ? (String(o.init) === 'none' ? undefined : String(o.init)) : (o.student === undefined || o.student === d.student ? d.init : undefined),
  };
  if (o.init === undefined && d.init && opts.init === undefined) {
    console.error(`demo: --student ${opts.student}: both students start from a random init (${d.init} holds a '${d.student}'; give --init DIR for another package)`);
  }
  try {
    if (methodPreset(opts.method).length === 0) throw new Error('baseline has no distillation term');
  } catch (e) {
    throw new UsageError(`demo: --method must be a distillation preset, optionally with @WEIGHT (${(e as Error).message}): ${Object.keys(METHOD_PRESETS).filter((m) => m !== 'baseline').join(', ')}`);
  }
  if (o.method === undefined) console.error(`demo: method ${opts.method}: ${demoMethod().why}`);
  if (!fs.existsSync(path.join(opts.teacherDir, 'manifest.json'))) {
    throw new UsageError(`demo: no teacher package in ${opts.teacherDir} (manifest.json missing): the repository ships one in data/teacher; or train one with train-teacher --export ${opts.teacherDir}`);
  }
  validateDemo(opts);
  const backend = await startBackend(o);
  let progress: Progress | null = null;
  const report = await runDemo(opts, {
    onRunStart: (name, iters) => { progress = new Progress(name, iters, { logEvery: 10 }); },
    onStep: (r) => progress?.update(r),
    log: (m) => console.error(m),
  });
  const wall = (Date.now() - t0) / 1000;
  console.log('');
  console.log(formatIoUTable([
    { name: 'teacher', eval: { perClassIoU: report.teacher.perClassIoU, mIoU: report.teacher.mIoU, classNames: report.classNames } },
    { name: 'baseline', eval: { perClassIoU: report.baseline.perClassIoU, mIoU: report.baseline.mIoU, classNames: report.classNames } },
    { name: `+${report.distilled.method}`, eval: { perClassIoU: report.distilled.perClassIoU, mIoU: report.distilled.mIoU, classNames: report.classNames } },
  ]));
  const t = report.teacher.recordedValMIoU;
  console.log(`\nteacher ${opts.teacherDir}: val mIoU ${(100 * report.teacher.mIoU).toFixed(2)} on these frames, ${report.teacher.source} (its manifest records ${t === null ? 'n/a' : (100 * t).toFixed(2)})`);
  console.log(`students ${opts.student} from ${opts.init ?? 'a random init'}, ${opts.iters} steps x batch ${opts.batchSize}, crop ${opts.crop ? opts.crop.join('x') : 'none'}, seed ${opts.seed}, backend ${backend}`);
  const diff = 100 * report.mIoUDifference;
  console.log(`mIoU: baseline ${(100 * report.baseline.mIoU).toFixed(2)}, +${report.distilled.method} ${(100 * report.distilled.mIoU).toFixed(2)}, difference ${diff >= 0 ? '+' : ''}${diff.toFixed(2)} (one seed)`);
  const sp = report.spread;
  if (sp) {
    console.log(`seed-averaged (${sp.table}): baseline ${(100 * sp.baseline.mean).toFixed(2)} ± ${(100 * sp.baseline.std).toFixed(2)} (n=${sp.baseline.n}), ` +
      `+${report.distilled.method} ${(100 * sp.distilled.mean).toFixed(2)} ± ${(100 * sp.distilled.std).toFixed(2)} (n=${sp.distilled.n}); ` +
      `this run's difference is ${sp.withinNoise ? 'WITHIN' : 'outside'} the seed spread of a single-run difference (±${(100 * sp.noise).toFixed(2)})`);
  } else {
    console.log(`no seed-averaged results for this comparison at ${opts.resultsTable}: a single run's difference says little (see data/results/README.md)`);
  }
  console.log(`wall time ${wall.toFixed(0)} s; report: ${path.join(opts.runsDir, 'demo', 'report.json')}, chart: ${path.join(opts.runsDir, 'demo', 'miou.svg')}`);
  const reportFile = path.join(opts.runsDir, 'demo', 'report.json');
  const rep = JSON.parse(fs.readFileSync(reportFile, 'utf8'));
  rep.totalWallSeconds = wall;
  rep.backend = backend;
  fs.writeFileSync(reportFile, JSON.stringify(rep, null, 2) + '\n');
}

export const USAGE = () => `Usage: channel-distill <command> [options]

Channel-wise knowledge distillation for semantic segmentation (Shu et al., ICCV 2021) in TensorFlow.js.

Commands:
${Object.entries(COMMANDS).map(([k, c]) => `  ${k.padEnd(15)} ${c.summary}`).join('\n')}

Run 'channel-distill <command> --help' for the options of a command.`;

/** Entry point (exported for tests): returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE());
    return command ? 0 : 1;
  }
  const cmd = COMMANDS[command];
  if (!cmd) {
    console.error(`channel-distill: unknown command '${command}'\n\n${USAGE()}`);
    return 2;
  }
  if (command === 'bench') {
    try {
      await cmd.run({}, rest);
      return 0;
    } catch (e) {
      console.error(`error: ${(e as Error).message}`);
      return 1;
    }
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(formatHelp(command, cmd.summary, cmd.options, cmd.usage));
    return 0;
  }
  try {
    const o = parseOptions(command, rest, cmd.options);
    await cmd.run(o, rest);
    return 0;
  } catch (e) {
    const err = e as Error;
    if (e instanceof UsageError) console.error(`error: ${err.message}`);
    else console.error(`error: ${err.message}${process.env.CWD_DEBUG ? `\n${err.stack}` : ''}`);
    return e instanceof UsageError ? 2 : 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
