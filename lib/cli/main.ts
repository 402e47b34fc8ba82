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
  eval: { type: 'bool', help: 'evaluate on val at the end (--no-eval to skip)', default: true },
  backend: { type: 'string', choices: ['tensorflow', 'wasm', 'cpu'], help: 'TensorFlow.js backend (default: best available; env CWD_BACKEND)' },
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
    if (!Array.isArray(c.terms) || c.terms.length === 0) {
      throw new UsageError('distill: no distillation terms: give --method cwd (and --on/--weight/--temperature) or --terms JSON, or use train-student for a baseline');
    }
  } else if (Array.isArray(c.terms) && c.terms.length > 0) {
    throw new UsageError(`${command}: the config has distillation terms: use the distill command`);
  }
  return c;
}

async function startBackend(o: Record<string, unknown>): Promise<string> {
  const { initBackend } = await import('../backend');
  return initBackend({ backend: o.backend as never });
}

async function trainCommand(command: 'train-teacher' | 'train-student' | 'distill', o: Record<string, unknown>): Promise<void> {
  const { validateExperiment, runExperiment } = await import('../train/experiment');
  const train = trainConfigFromOptions(command, o);
  const model = (o.model as string | undefined) ?? (command === 'train-teacher' ? 'teacher' : 'student-r18');
  const name = (o.name as string | undefined) ?? `${command}-${model}`;
  const spec = {
    name, runsDir: o.runs as string, dataRoot: o.data as string, downsample: o.downsample as number,
    trainLimit: o.trainLimit as number | undefined, valLimit: o.valLimit as number | undefined,
    crop: parseSize(command, 'crop', o.crop), model, modelOverrides: o.modelConfig as Record<string, unknown> | undefined,
    teacherDir: command === 'distill' ? (o.teacher as string) : undefined,
    train, evaluate: o.eval as boolean, fresh: Boolean(o.fresh),
  };
  if (o.export !== undefined && fs.existsSync(path.join(String(o.export), 'manifest.json')) && !o.overwrite) {
    throw new UsageError(`${command}: --export ${o.export} already holds a model package: add --overwrite to replace it`);
  }
  const resolved = validateExperiment(spec);
  const backend = await startBackend(o);
  const progress = new Progress(name, resolved.iters, { logEvery: resolved.logEvery });
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
    const { saveModelPackage } = await import('../train/model-package');
    const { configHash } = await import('../train/config');
    await saveModelPackage(r.student, String(o.export), {
      quantization: o.quantization as never,
      manifest: {
        command: `npx channel-distill ${process.argv.slice(2).join(' ')}`,
        seed: resolved.seed, trainConfig: resolved, configHash: configHash({ train: resolved, model: spec.model }),
        model: spec.model, data: { root: spec.dataRoot, downsample: spec.downsample, trainLimit: spec.trainLimit ?? null, crop: spec.crop ?? null },
        valMIoU: r.eval?.mIoU ?? null, valPerClassIoU: r.eval?.perClassIoU ?? null, valImages: r.eval?.images ?? null,
        wallSeconds: (Date.now() - t0) / 1000, trainSeconds: r.trainSeconds, meanStepSeconds: r.meanStepSeconds, backend,
        runDir: r.runDir, createdAt: new Date().toISOString(),
      },
    });
    console.log(`exported ${spec.model} to ${o.export} (${o.quantization} weights)`);
  }
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
};

async function generateData(o: Record<string, unknown>, log: (m: string) => void): Promise<void> {
  const out = String(o.out);
  const manifest = path.join(out, 'synthetic-cityscapes.json');
  if (!o.force && fs.existsSync(manifest)) {
    log(`data: ${out} exists (${manifest}); use --force to regenerate`);
    return;
  }
  if ((o.cities as number) > 4) throw new UsageError(`data: --cities must be 1..4, got ${o.cities}`);
  const { generateSyntheticCityscapes } = await import('../cityscapes/synthetic');
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
void spawnSync;
