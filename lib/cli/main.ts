/**
 * channel-distill command line: `npx channel-distill <command> [options]` (or `npx tsx lib/cli/main.ts`).
 * Every command validates all of its options (and configs, methods, folders) before any work starts.
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { formatHelp, OptSpecs, parseOptions, parseSize, UsageError } from './args';
import { Progress } from './progress';

export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');
const DEFAULT_DATA = path.join('data', 'synthetic-cityscapes');
const DEFAULT_TEACHER = path.join('data', 'teacher');

/** Options shared by the training commands. */
export const TRAIN_OPTIONS: OptSpecs = {
  name: { type: 'string', help: 'run name: results go to <runs>/<name>/ (an existing run with the same config resumes)', meta: 'NAME' },
  runs: { type: 'string', help: 'folder of run folders', default: 'runs', meta: 'DIR' },
  data: { type: 'string', help: 'dataset root in the Cityscapes layout', default: DEFAULT_DATA, meta: 'DIR' },
  downsample: { type: 'int', min: 1, help: 'shrink frames by this integer factor (2: 512x256 -> 256x128)', default: 2 },
  'train-limit': { type: 'int', min: 1, help: 'use only the first N train frames' },
  'val-limit': { type: 'int', min: 1, help: 'evaluate on the first N val frames' },
  crop: { type: 'string', help: 'random training crop HEIGHTxWIDTH (default: whole frames)', meta: 'HxW' },
  model: { type: 'string', help: 'model preset (lib/models PRESETS)', meta: 'PRESET' },
  'model-config': { type: 'json', help: 'JSON overrides of the model config', meta: 'JSON' },
  config: { type: 'string', help: 'JSON file with train config fields (iters, lr, terms, ...); flags override it', meta: 'FILE' },
  iters: { type: 'int', min: 1, help: 'optimiser steps' },
  batch: { type: 'int', min: 1, help: 'batch size' },
  lr: { type: 'number', gt: 0, help: 'base learning rate (poly decay, power 0.9)' },
  seed: { type: 'int', min: 0, help: 'seed of init, sampling and augmentation' },
  optimizer: { type: 'string', choices: ['sgd', 'adam'], help: 'optimiser' },
  momentum: { type: 'number', min: 0, help: 'SGD momentum' },
  'weight-decay': { type: 'number', min: 0, help: 'L2 weight decay' },
  warmup: { type: 'int', min: 0, help: 'linear warm-up steps' },
  'loss-mode': { type: 'string', choices: ['upsample', 'downsample'], help: 'CE on logits upsampled to labels, or on labels downsampled' },
  'checkpoint-every': { type: 'int', min: 0, help: 'checkpoint every N steps (0: only at the end)' },
  'log-every': { type: 'int', min: 1, help: 'log line every N steps when not on a terminal' },
  fresh: { type: 'bool', help: 'delete an existing run folder instead of resuming it' },
  'stop-at': { type: 'int', min: 1, help: 'stop after N steps of the --iters poly schedule (resume later to finish)' },
  eval: { type: 'bool', help: 'evaluate on val at the end (--no-eval to skip)', default: true },
  backend: { type: 'string', choices: ['tensorflow', 'webgpu', 'wasm', 'cpu'], help: 'TensorFlow.js backend (default: best available; env CWD_BACKEND)' },
};

export const DISTILL_OPTIONS: OptSpecs = {
  teacher: { type: 'string', help: 'teacher package folder (manifest.json + model.json)', default: DEFAULT_TEACHER, meta: 'DIR' },
  terms: { type: 'json', help: 'distillation terms, e.g. [{"method":"cwd","on":"feature","weight":3,"temperature":4}]', meta: 'JSON' },
  method: { type: 'string', help: 'shortcut for one term: method name (cwd, pi, at, pa, ifvd, holistic, ...)' },
  on: { type: 'string', choices: ['feature', 'logits'], help: 'shortcut: tap point of the term', default: undefined },
  weight: { type: 'number', min: 0, help: 'shortcut: term weight (alpha of Eq. 1)' },
  temperature: { type: 'number', gt: 0, help: 'shortcut: term temperature' },
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
      const t: Record<string, unknown> = { method: o.method, on: o.on ?? 'feature', weight: o.weight ?? 3 };
      if (o.temperature !== undefined) t.temperature = o.temperature;
      c.terms = [t];
    }
    if (c.terms === undefined || (Array.isArray(c.terms) && c.terms.length === 0)) {
      throw new UsageError('distill: no distillation terms: give --method cwd (and --on/--weight/--temperature) or --terms JSON, or use train-student for a baseline');
    }
  } else if (Array.isArray(c.terms) && c.terms.length > 0) {
    throw new UsageError(`${command}: the config has distillation terms: use the distill command`);
  }
  return c;
}

async function startBackend(o: Record<string, unknown>): Promise<string> {
  const { initBackend } = require('../backend') as typeof import('../backend');
  return initBackend({ backend: o.backend as never });
}

async function trainCommand(command: 'train-teacher' | 'train-student' | 'distill', o: Record<string, unknown>): Promise<void> {
  const { validateExperiment, runExperiment } = require('../train/experiment') as typeof import('../train/experiment');
  const train = trainConfigFromOptions(command, o);
  const model = (o.model as string | undefined) ?? (command === 'train-teacher' ? 'teacher' : 'student-r18');
  const name = (o.name as string | undefined) ?? `${command}-${model}`;
  const spec = {
    name, runsDir: o.runs as string, dataRoot: o.data as string, downsample: o.downsample as number,
    trainLimit: o.trainLimit as number | undefined, valLimit: o.valLimit as number | undefined,
    crop: parseSize(command, 'crop', o.crop), model, modelOverrides: o.modelConfig as Record<string, unknown> | undefined,
    teacherDir: command === 'distill' ? (o.teacher as string) : undefined,
    train, evaluate: o.eval as boolean, fresh: Boolean(o.fresh), stopAt: o.stopAt as number | undefined,
  };
  if (o.export !== undefined && fs.existsSync(path.join(String(o.export), 'manifest.json')) && !o.overwrite) {
    throw new UsageError(`${command}: --export ${o.export} already holds a model package: add --overwrite to replace it`);
  }
  const resolved = validateExperiment(spec);
  const backend = await startBackend(o);
  const progress = new Progress(name, Math.min(resolved.iters, (o.stopAt as number | undefined) ?? Infinity), { logEvery: resolved.logEvery });
  const t0 = Date.now();
  const r = await runExperiment(spec, {
    onStep: (rec) => progress.update(rec),
    log: (m) => console.error(m),
    runInfo: { command: `channel-distill ${process.argv.slice(2).join(' ')}` },
  });
  progress.done(`${name}: ${r.steps} steps, mean ${r.meanStepSeconds.toFixed(3)} s/step`);
  if (r.eval) {
    console.log(formatIoUTable([{ name, eval: r.eval }]));
    console.log(`${name}: val mIoU ${(100 * r.eval.mIoU).toFixed(2)} (${r.eval.images} images) -> ${path.join(r.runDir, 'eval.json')}`);
  }
  if (o.export !== undefined) {
    const { saveModelPackage } = require('../train/model-package') as typeof import('../train/model-package');
    const { configHash } = require('../train/config') as typeof import('../train/config');
    await saveModelPackage(r.student, String(o.export), {
      quantization: o.quantization as never,
      manifest: {
        command: `npx channel-distill ${process.argv.slice(2).join(' ')}`,
        seed: resolved.seed, trainConfig: resolved, configHash: configHash({ train: resolved, model: spec.model }),
        model: spec.model, data: { root: spec.dataRoot, downsample: spec.downsample, trainLimit: spec.trainLimit ?? null, crop: spec.crop ?? null },
        stepsTrained: r.steps, stepsPlanned: resolved.iters,
        valMIoU: r.eval?.mIoU ?? null, valPerClassIoU: r.eval?.perClassIoU ?? null, valImages: r.eval?.images ?? null,
        wallSeconds: (Date.now() - t0) / 1000, trainSeconds: r.trainSeconds, meanStepSeconds: r.meanStepSeconds, backend,
        runDir: r.runDir, createdAt: new Date().toISOString(), dataset: syntheticDatasetInfo(spec.dataRoot),
      },
    });
    console.log(`exported ${spec.model} to ${o.export} (${o.quantization} weights)`);
    if (r.eval && o.quantization !== 'none') {
      // the package's own numbers: evaluate the dequantised weights as a user will load them
      await recordPackageEval(String(o.export), spec.dataRoot, spec.downsample, spec.valLimit);
    }
  }
}

/** Evaluate a model package on val and store the result as its manifest's valMIoU (the float32 value is kept). */
export async function recordPackageEval(dir: string, dataRoot: string, downsample: number, valLimit?: number): Promise<number> {
  const { loadModelPackage } = require('../train/model-package') as typeof import('../train/model-package');
  const { cachedFrames } = require('../train/experiment') as typeof import('../train/experiment');
  const { frameBatches } = require('../train/frames') as typeof import('../train/frames');
  const { evaluate } = require('../train/evaluate') as typeof import('../train/evaluate');
  const { net, manifest } = loadModelPackage(dir);
  const frames = await cachedFrames(dataRoot, 'val', downsample, valLimit);
  const r = await evaluate(net, frameBatches(frames, 4));
  const m = manifest as Record<string, unknown>;
  if (m.valMIoUFloat32 === undefined && typeof m.valMIoU === 'number') m.valMIoUFloat32 = m.valMIoU;
  m.valMIoU = r.mIoU;
  m.valPerClassIoU = r.perClassIoU;
  m.valImages = r.images;
  m.valEvaluatedOn = `the ${String(m.quantization)} package itself (${r.images} val frames, downsample ${downsample})`;
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(m, null, 2) + '\n');
  net.model.dispose();
  const f32 = typeof m.valMIoUFloat32 === 'number' ? ` (float32 weights: ${(100 * m.valMIoUFloat32).toFixed(2)})` : '';
  console.log(`${dir}: val mIoU of the ${String(m.quantization)} package ${(100 * r.mIoU).toFixed(2)}${f32}`);
  return r.mIoU;
}

/** Generator version and options of a synthetic dataset (from its synthetic-cityscapes.json), or null for other data. */
export function syntheticDatasetInfo(root: string): Record<string, unknown> | null {
  const f = path.join(root, 'synthetic-cityscapes.json');
  if (!fs.existsSync(f)) return null;
  const m = JSON.parse(fs.readFileSync(f, 'utf8')) as { version?: number; options?: Record<string, unknown> };
  const { out: _out, concurrency: _c, compressionLevel: _z, ...options } = m.options ?? {};
  return { generator: 'lib/cityscapes/synthetic.ts', version: m.version ?? null, options };
}

/** Per-class IoU table of one or more results (percent), plus mIoU. */
export function formatIoUTable(rows: { name: string; eval: { perClassIoU: number[]; mIoU: number; classNames?: string[] } }[]): string {
  const classes = rows[0].eval.classNames ?? rows[0].eval.perClassIoU.map((_, i) => `class ${i}`);
  const w = Math.max(14, ...rows.map((r) => r.name.length + 2));
  const fmt = (v: number) => (Number.isNaN(v) ? 'n/a' : (100 * v).toFixed(1)).padStart(w);
  const lines = ['class'.padEnd(15) + rows.map((r) => r.name.padStart(w)).join('') + (rows.length === 2 ? 'diff'.padStart(8) : '')];
  classes.forEach((c, i) => {
    const vals = rows.map((r) => r.eval.perClassIoU[i]);
    const diff = rows.length === 2 ? (Number.isNaN(vals[1] - vals[0]) ? 'n/a' : (100 * (vals[1] - vals[0])).toFixed(1)).padStart(8) : '';
    lines.push(c.padEnd(15) + vals.map(fmt).join('') + diff);
  });
  const m = rows.map((r) => r.eval.mIoU);
  lines.push('mIoU'.padEnd(15) + m.map(fmt).join('') + (rows.length === 2 ? (100 * (m[1] - m[0])).toFixed(2).padStart(8) : ''));
  return lines.join('\n');
}

export const COMMANDS: Record<string, Command> = {
  data: {
    summary: 'Generate the synthetic Cityscapes-layout dataset (skipped when it exists unless --force).',
    options: {
      out: { type: 'string', help: 'output root', default: DEFAULT_DATA, meta: 'DIR' },
      seed: { type: 'int', min: 0, help: 'master seed', default: 1 },
      train: { type: 'int', min: 1, help: 'train frames', default: 300 },
      val: { type: 'int', min: 1, help: 'val frames', default: 60 },
      width: { type: 'int', min: 32, help: 'frame width', default: 512 },
      height: { type: 'int', min: 16, help: 'frame height', default: 256 },
      cities: { type: 'int', min: 1, help: 'cities per split (1..4)', default: 3 },
      force: { type: 'bool', help: 'regenerate even if the dataset exists' },
    },
    async run(o) {
      await generateData(o, console.log);
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
      'dry-run': { type: 'bool', help: 'list this shard\'s cells and exit' },
    },
    run: (o) => sweepCommand(o),
  },
  merge: {
    summary: 'Collect the results of a sweep (all shards) into <runs>/<name>/results.json and results.csv.',
    options: {
      name: { type: 'string', help: 'sweep name', meta: 'NAME' },
      runs: TRAIN_OPTIONS.runs,
      'allow-missing': { type: 'bool', help: 'exit 0 even when cells are missing' },
    },
    async run(o) {
      if (!o.name) throw new UsageError('merge: --name is required');
      const { mergeSweep } = require('../train/sweep') as typeof import('../train/sweep');
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
    summary: 'Evaluate a model package (--model-dir) or a run\'s latest checkpoint (--run) on a split: per-class IoU, mIoU.',
    options: {
      'model-dir': { type: 'string', help: 'model package folder (e.g. data/teacher)', meta: 'DIR' },
      run: { type: 'string', help: 'run folder (uses its latest checkpoint)', meta: 'DIR' },
      data: TRAIN_OPTIONS.data,
      split: { type: 'string', help: 'split to evaluate', default: 'val' },
      downsample: TRAIN_OPTIONS.downsample,
      limit: { type: 'int', min: 1, help: 'first N frames only' },
      out: { type: 'string', help: 'write the result as JSON', meta: 'FILE' },
      backend: TRAIN_OPTIONS.backend,
    },
    run: (o) => evalCommand(o),
  },
  demo: {
    summary: 'The main job: data if absent, shipped teacher, baseline vs CWD student (same seed and budget), IoU table, runs/demo/.',
    options: {
      data: TRAIN_OPTIONS.data,
      teacher: DISTILL_OPTIONS.teacher,
      runs: TRAIN_OPTIONS.runs,
      student: { type: 'string', help: 'student preset', meta: 'PRESET' },
      method: { type: 'string', help: 'distillation preset of the second student (default cwd-feature)' },
      iters: { type: 'int', min: 1, help: 'steps per student (default: the measured <10 min budget)' },
      batch: { type: 'int', min: 1, help: 'batch size' },
      crop: { type: 'string', help: 'training crop HxW, or none', meta: 'HxW' },
      seed: { type: 'int', min: 0, help: 'seed of both students' },
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
      const info = JSON.parse(fs.readFileSync(path.join(run, 'config.json'), 'utf8')) as Record<string, any>;
      const ptr = JSON.parse(fs.readFileSync(latestFile, 'utf8')) as { step: number; dir: string };
      const backend = await startBackend(o);
      const { buildModel } = require('../models') as typeof import('../models');
      const { loadWeightsInto } = require('../train/checkpoint') as typeof import('../train/checkpoint');
      const { saveModelPackage } = require('../train/model-package') as typeof import('../train/model-package');
      const net = buildModel(info.config.student);
      loadWeightsInto(net.model, path.join(run, 'checkpoints', ptr.dir, 'student'));
      const train = info.config.train as { iters: number; seed: number };
      await saveModelPackage(net, String(o.out), {
        quantization: o.quantization as never,
        manifest: {
          command: info.command ?? null, exportCommand: `npx channel-distill ${process.argv.slice(2).join(' ')}`,
          seed: train.seed, trainConfig: train, configHash: info.configHash, model: info.model ?? null, data: info.data ?? null,
          stepsTrained: ptr.step, stepsPlanned: train.iters, backend, runDir: run, createdAt: new Date().toISOString(),
          dataset: info.data?.root ? syntheticDatasetInfo(info.data.root) : null,
          valMIoU: (() => { const e = path.join(run, 'eval.json'); return fs.existsSync(e) ? (JSON.parse(fs.readFileSync(e, 'utf8')) as { mIoU: number }).mIoU : undefined; })(),
        },
      });
      net.model.dispose();
      await recordPackageEval(String(o.out), info.data?.root ?? DEFAULT_DATA, info.data?.downsample ?? 2, o.valLimit as number | undefined);
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


function experimentBase(command: string, o: Record<string, unknown>, train: Record<string, unknown>) {
  return {
    runsDir: o.runs as string, dataRoot: o.data as string, downsample: o.downsample as number,
    trainLimit: o.trainLimit as number | undefined, valLimit: o.valLimit as number | undefined,
    crop: parseSize(command, 'crop', o.crop), model: (o.model as string | undefined) ?? 'student-r18',
    modelOverrides: o.modelConfig as Record<string, unknown> | undefined, teacherDir: o.teacher as string,
    train, evaluate: o.eval as boolean,
  };
}

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

async function sweepCommand(o: Record<string, unknown>): Promise<void> {
  const { validateSweep, runSweep, parseShard, shardCells, mergeSweep } = require('../train/sweep') as typeof import('../train/sweep');
  const { METHOD_PRESETS } = require('../train/presets') as typeof import('../train/presets');
  const train = readConfigFile(o.config);
  for (const [k, v] of Object.entries({ iters: o.iters, batchSize: o.batch, lr: o.lr, seed: o.seed, checkpointEvery: o.checkpointEvery, logEvery: o.logEvery, warmupIters: o.warmup })) if (v !== undefined) train[k] = v;
  const opt: Record<string, unknown> = { ...((train.optimizer as Record<string, unknown>) ?? {}) };
  if (o.optimizer !== undefined) opt.type = o.optimizer;
  if (o.weightDecay !== undefined) opt.weightDecay = o.weightDecay;
  if (o.momentum !== undefined) opt.momentum = o.momentum;
  if (Object.keys(opt).length) train.optimizer = opt;
  if (o.terms !== undefined) train.terms = o.terms;
  const grid = sweepGridFromOptions(o);
  if (grid.method) {
    for (const m of grid.method) if (!(String(m) in METHOD_PRESETS)) throw new UsageError(`sweep: unknown method preset '${m}' in --methods; valid: ${Object.keys(METHOD_PRESETS).join(', ')}`);
  }
  if (!o.name) throw new UsageError('sweep: --name is required (the sweep folder under --runs)');
  const shard = o.shard !== undefined ? (() => { try { return parseShard(String(o.shard)); } catch (e) { throw new UsageError(`sweep: ${(e as Error).message}`); } })() : undefined;
  const spec = { name: String(o.name), base: experimentBase('sweep', o, train), grid };
  const cells = validateSweep(spec);
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
  });
  console.error(`sweep ${spec.name}: ran ${r.ran.length}, skipped ${r.skipped.length} finished cell(s)`);
  const merged = mergeSweep(spec.base.runsDir, spec.name);
  console.log(`results: ${merged.json}, ${merged.csv}${merged.missing.length ? ` (${merged.missing.length} cell(s) not finished yet: other shards?)` : ''}`);
}

async function evalCommand(o: Record<string, unknown>): Promise<void> {
  const { loadModelPackage } = require('../train/model-package') as typeof import('../train/model-package');
  const { listSplit, frameBatches } = require('../train/frames') as typeof import('../train/frames');
  const { cachedFrames } = require('../train/experiment') as typeof import('../train/experiment');
  const { evaluate } = require('../train/evaluate') as typeof import('../train/evaluate');
  const { CITYSCAPES_TRAIN_CLASSES } = require('../cityscapes/labels') as typeof import('../cityscapes/labels');
  if ((o.modelDir === undefined) === (o.run === undefined)) throw new UsageError('eval: give exactly one of --model-dir DIR (a model package) or --run DIR (a run folder)');
  let dir = String(o.modelDir ?? '');
  if (o.run !== undefined) {
    const run = String(o.run);
    const latest = path.join(run, 'checkpoints', 'latest.json');
    if (!fs.existsSync(latest)) throw new UsageError(`eval: ${run} has no checkpoint (${latest} is missing)`);
    dir = run;
  } else if (!fs.existsSync(path.join(dir, 'manifest.json'))) {
    throw new UsageError(`eval: ${dir} is not a model package (no manifest.json)`);
  }
  listSplit(String(o.data), String(o.split));
  await startBackend(o);
  let net;
  if (o.run !== undefined) {
    const { buildModel } = require('../models') as typeof import('../models');
    const { loadWeightsInto } = require('../train/checkpoint') as typeof import('../train/checkpoint');
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as { config: { student: never } };
    const ptr = JSON.parse(fs.readFileSync(path.join(dir, 'checkpoints', 'latest.json'), 'utf8')) as { dir: string };
    net = buildModel(cfg.config.student);
    loadWeightsInto(net.model, path.join(dir, 'checkpoints', ptr.dir, 'student'));
  } else {
    net = loadModelPackage(dir).net;
  }
  const frames = await cachedFrames(String(o.data), String(o.split), o.downsample as number, o.limit as number | undefined);
  const r = await evaluate(net, frameBatches(frames, 4), { classNames: [...CITYSCAPES_TRAIN_CLASSES] });
  const label = path.basename(path.resolve(dir));
  console.log(formatIoUTable([{ name: label, eval: r }]));
  console.log(`${label}: ${o.split} mIoU ${(100 * r.mIoU).toFixed(2)} on ${r.images} images (${r.seconds.toFixed(1)} s)`);
  if (o.out !== undefined) {
    fs.mkdirSync(path.dirname(path.resolve(String(o.out))), { recursive: true });
    fs.writeFileSync(String(o.out), JSON.stringify({ model: dir, split: o.split, downsample: o.downsample, ...r }, null, 2) + '\n');
  }
}

async function demoCommand(o: Record<string, unknown>): Promise<void> {
  const { defaultDemoOptions, validateDemo, runDemo } = require('../train/demo') as typeof import('../train/demo');
  const { METHOD_PRESETS } = require('../train/presets') as typeof import('../train/presets');
  const d = defaultDemoOptions();
  const opts = {
    ...d,
    dataRoot: String(o.data ?? d.dataRoot), teacherDir: String(o.teacher ?? d.teacherDir), runsDir: String(o.runs ?? d.runsDir),
    student: String(o.student ?? d.student), iters: (o.iters as number | undefined) ?? d.iters, batchSize: (o.batch as number | undefined) ?? d.batchSize,
    crop: o.crop !== undefined ? (String(o.crop) === 'none' ? undefined : parseSize('demo', 'crop', o.crop)) : d.crop,
    seed: (o.seed as number | undefined) ?? d.seed, method: String(o.method ?? d.method), valLimit: o.valLimit as number | undefined,
  };
  if (!(opts.method in METHOD_PRESETS) || opts.method === 'baseline') {
    throw new UsageError(`demo: --method must be a distillation preset: ${Object.keys(METHOD_PRESETS).filter((m) => m !== 'baseline').join(', ')}`);
  }
  if (!fs.existsSync(path.join(opts.teacherDir, 'manifest.json'))) {
    throw new UsageError(`demo: no teacher package in ${opts.teacherDir} (manifest.json missing): the repository ships one in data/teacher; or train one with train-teacher --export ${opts.teacherDir}`);
  }
  const t0 = Date.now();
  if (!fs.existsSync(path.join(opts.dataRoot, 'synthetic-cityscapes.json')) && !fs.existsSync(path.join(opts.dataRoot, 'leftImg8bit'))) {
    console.error(`demo: ${opts.dataRoot} is absent: generating the synthetic dataset`);
    await generateData({ ...Object.fromEntries(Object.entries(COMMANDS.data.options).map(([k, s]) => [k, s.default])), out: opts.dataRoot }, (m) => console.error(m));
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
    { name: 'baseline', eval: { perClassIoU: report.baseline.perClassIoU, mIoU: report.baseline.mIoU, classNames: report.classNames } },
    { name: `+${report.distilled.method}`, eval: { perClassIoU: report.distilled.perClassIoU, mIoU: report.distilled.mIoU, classNames: report.classNames } },
  ]));
  const t = report.teacher.recordedValMIoU;
  console.log(`\nteacher (${opts.teacherDir}, recorded val mIoU ${t === null ? 'n/a' : (100 * t).toFixed(2)})`);
  console.log(`student ${opts.student}, ${opts.iters} steps x batch ${opts.batchSize}, seed ${opts.seed}, backend ${backend}`);
  console.log(`mIoU: baseline ${(100 * report.baseline.mIoU).toFixed(2)}, +${report.distilled.method} ${(100 * report.distilled.mIoU).toFixed(2)}, difference ${(100 * report.mIoUDifference >= 0 ? '+' : '')}${(100 * report.mIoUDifference).toFixed(2)} (one seed: see data/results for means over seeds)`);
  console.log(`wall time ${wall.toFixed(0)} s; report: ${path.join(opts.runsDir, 'demo', 'report.json')}, chart: ${path.join(opts.runsDir, 'demo', 'miou.svg')}`);
  const reportFile = path.join(opts.runsDir, 'demo', 'report.json');
  const rep = JSON.parse(fs.readFileSync(reportFile, 'utf8'));
  rep.totalWallSeconds = wall;
  rep.backend = backend;
  fs.writeFileSync(reportFile, JSON.stringify(rep, null, 2) + '\n');
}

async function generateData(o: Record<string, unknown>, log: (m: string) => void): Promise<void> {
  const out = String(o.out);
  if ((o.cities as number) > 4) throw new UsageError(`data: --cities must be 1..4, got ${o.cities}`);
  const manifest = path.join(out, 'synthetic-cityscapes.json');
  if (!o.force && fs.existsSync(manifest)) {
    log(`data: ${out} exists (${manifest}); use --force to regenerate`);
    return;
  }
  const { generateSyntheticCityscapes } = require('../cityscapes/synthetic') as typeof import('../cityscapes/synthetic');
  const t0 = Date.now();
  await generateSyntheticCityscapes({
    out: path.resolve(out), seed: o.seed as number, train: o.train as number, val: o.val as number,
    width: o.width as number, height: o.height as number, cities: o.cities as number,
  } as never);
  log(`data: wrote ${out} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
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
