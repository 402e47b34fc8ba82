/**
 * What notebooks 02–05 share: the budget of each profile (lib/train/recipes.ts NOTEBOOK_RECIPES), the
 * methods by their preset names (lib/train/presets.ts, the same names as the CLI sweeps and data/results),
 * `trainMethod`, which trains one student per seed (or reuses the finished run of the same config and
 * backend set-up) through the library's `runExperiment`, and `committedTable`, which reads the committed
 * seed-averaged research results (data/results/*-table.json).
 *
 * Runs of one profile and backend set-up live in one folder, `runs/notebooks-<profile>/<set-up>/`, so a
 * method trained by one notebook (the CWD student of 02) is read, not retrained, by the next (04), and a run
 * made on another backend set-up is never reused.
 *
 * Imported by the notebooks as `./notebooks/common` (the kernel's working directory is the project root).
 */
import * as path from 'path';
import { runExperiment, disposeResult, finishedRun, type ExperimentResult, type ExperimentSpec } from '../lib/train/experiment';
import { openRun } from '../lib/train/run-dir';
import type { TermConfig } from '../lib/train/terms';
import type { StepRecord } from '../lib/train/trainer';
import { EXPERIMENT_DEFAULTS, optimizerFor, type TrainConfig } from '../lib/train/config';
import { NOTEBOOK_RECIPES, type NotebookRecipe } from '../lib/train/recipes';
import { resolveDataRoot, type DataRoot } from '../lib/cityscapes/dataset';
import { methodPreset } from '../lib/train/presets';
import { readPooled, protocolOf, type Pooled, type PooledRow } from '../lib/train/results';
import { notebookProfile, type NotebookProfile } from '../lib/viz/profile';
import { readRun, type RunRecord } from '../lib/viz/runs';
import { backendSetup } from '../lib/backend';
import type { SegmentationNet } from '../lib/models/types';

/** A notebook profile's budget (lib/train/recipes.ts NOTEBOOK_RECIPES), its runs folder keyed by the backend set-up. */
export type Budget = NotebookRecipe & { profile: NotebookProfile };

export const BUDGETS: Readonly<Record<NotebookProfile, Readonly<Budget>>> = NOTEBOOK_RECIPES;

/**
 * The budget of a profile, with `runsDir` = `runs/notebooks-<profile>/<backend set-up>` (lib/backend
 * `backendSetup()`: a finished run is reused only on the set-up that trained it). Call after `initBackend()`.
 */
export function budget(profile: NotebookProfile = notebookProfile(), setup: string = backendSetup()): Budget {
  const b = BUDGETS[profile];
  return { ...b, runsDir: path.join(b.runsDir, setup) };
}

/**
 * The distillation terms of a method, by its preset name (lib/train/presets.ts): `baseline` (no term),
 * `cwd-feature`, `cwd-logits`, `at`, `pa`, `ifvd`, `pi`, `holistic`, `channel-mlp`, the Table 4 cells
 * `abl-*`, … optionally with `@WEIGHT` (e.g. `cwd-logits@0.3`, the weight protocol r2's search selected).
 * `temperature` overrides the temperature of every term that has one.
 */
export function methodTerms(method: string, options: { temperature?: number } = {}): TermConfig[] {
  const terms = methodPreset(method);
  if (options.temperature !== undefined) {
    const withT = terms.filter((t) => 'temperature' in t);
    if (!withT.length) throw new Error(`methodTerms('${method}'): no term of this method has a temperature to override`);
    for (const t of withT) (t as unknown as Record<string, unknown>).temperature = options.temperature;
  }
  return terms;
}

/** The experiment every notebook student shares (the sweep's base): everything but name and terms. */
export function baseExperiment(b: Budget, data: { root: string }, terms: TermConfig[], seed = b.seeds[0]): Omit<ExperimentSpec, 'name'> {
  const optimizer = optimizerFor(b.optimizer);
  return {
    runsDir: b.runsDir, dataRoot: data.root, downsample: b.downsample, trainLimit: b.trainLimit,
    valLimit: b.valLimit, crop: b.crop, model: b.student, teacherDir: terms.length ? TEACHER_DIR : undefined,
    ...(b.init ? { init: b.init } : {}), ...(b.scale ? { scale: b.scale } : {}),
    train: {
      iters: b.iters, batchSize: b.batchSize, seed, terms, lr: b.lr,
      optimizer: { ...optimizer, weightDecay: b.weightDecay ?? optimizer.weightDecay } as TrainConfig['optimizer'],
      logEvery: b.logEvery, checkpointEvery: b.checkpointEvery ?? Math.max(b.logEvery, Math.floor(b.iters / 4)),
    },
  };
}

/** The dataset root: CITYSCAPES_ROOT, else the synthetic set (generated when absent), through lib's one resolver. */
export async function ensureData(): Promise<DataRoot> {
  return resolveDataRoot(undefined, { log: (m) => console.log(m) });
}

/** The shipped teacher package; CWD_TEACHER_DIR points the notebooks at another one. */
export const TEACHER_DIR = process.env.CWD_TEACHER_DIR || EXPERIMENT_DEFAULTS.teacherDir;

/** A progress line about six times per run: step, losses, seconds per step. */
export function stepLogger(name: string, b: Budget): (r: StepRecord) => void {
  const every = Math.max(1, Math.round(b.iters / 6));
  return (r) => {
    if (r.step % every === 0 || r.step === b.iters) {
      const extra = Object.entries(r.terms).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(' ');
      console.log(`${name} step ${r.step}/${b.iters} loss ${r.loss.toFixed(3)} ce ${r.ce.toFixed(3)} ${extra} (${r.seconds.toFixed(2)} s/step)`);
    }
  };
}

/** Run name of a method under the budget's folder, e.g. 'cwd-logits@0.3@s0'. */
export function runName(label: string, seed: number): string {
  return `${label}@s${seed}`;
}

/**
 * Train (or reuse) one student per seed of `seeds` (default the budget's) for `method` (a preset name,
 * see methodTerms); returns the finished run records. A finished run of the same config (lib/train
 * `finishedRun`: same config hash) in the budget's runs folder is read, not retrained; a run folder of
 * another config is an error naming the difference.
 */
export async function trainMethod(method: string, b: Budget, data: { root: string }, options: { seeds?: number[]; terms?: TermConfig[]; label?: string } = {}): Promise<RunRecord[]> {
  const out: RunRecord[] = [];
  const terms = options.terms ?? methodTerms(method);
  const label = options.label ?? method;
  for (const seed of options.seeds ?? b.seeds) {
    const name = runName(label, seed);
    const dir = path.join(b.runsDir, name);
    const spec: ExperimentSpec = { name, ...baseExperiment(b, data, terms, seed) };
    if (finishedRun(spec)) {
      console.log(`${name}: finished run found in ${dir}, reading it`);
      out.push(readRun(dir, label));
      continue;
    }
    const t0 = Date.now();
    let result: ExperimentResult | null = null;
    try {
      result = await runExperiment(spec, { onStep: stepLogger(name, b), log: (m) => console.log(m) });
      console.log(`${name}: val mIoU ${(100 * (result.eval?.mIoU ?? NaN)).toFixed(2)} after ${result.steps} steps, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    } finally {
      if (result) disposeResult(result);
    }
    out.push(readRun(dir, label));
  }
  return out;
}

/** The trained student of a finished run (lib/train `openRun(dir).loadStudent()`). */
export function loadStudent(run: RunRecord): SegmentationNet {
  return openRun(run.dir).loadStudent((m) => console.log(m)).net;
}

/** The committed, seed-averaged research tables (data/results/README.md: protocols r2 and r3). */
export const RESULTS = {
  /** Table 2 and Table 4 rows, protocol r2 (300 steps), seeds 0–2, each method at its searched weight. */
  r2: path.join('data', 'results', 'r2-table.json'),
  /** r2's rows plus the T × α grid of CWD on the feature map. */
  grid: path.join('data', 'results', 'r2-grid-table.json'),
  /** Protocol r3: r2 at 1200 steps, baseline and CWD on the feature and score maps. */
  r3: path.join('data', 'results', 'r3-table.json'),
  /** The weight search (held-out train frames, seed 100). */
  search: path.join('data', 'results', 'r2-search-table.json'),
} as const;

/** A committed pooled table (lib/train/results.ts readPooled) with its rows by label. */
export function committedTable(file: string): Pooled & { row(label: string): PooledRow } {
  const p = readPooled(file);
  return {
    ...p,
    row(label: string): PooledRow {
      const r = p.rows.find((x) => x.label === label);
      if (!r) throw new Error(`${file}: no row '${label}' (rows: ${p.rows.map((x) => x.label).join(', ')})`);
      return r;
    },
  };
}

/**
 * The protocol hash of this budget's cells (lib/train/results.ts protocolOf), normalised the way a CLI
 * sweep of the same flags records it in every committed results cell: the terms are the cell's method
 * (not the protocol), logging frequency is not part of it, jitter and evaluation at their defaults. Equal
 * to a committed table's `protocol` when the notebook trains that protocol's cells.
 */
export function budgetProtocol(b: Budget, data: { root: string }): string {
  const base = baseExperiment(b, data, []);
  const { terms: _terms, logEvery: _log, ...train } = base.train as TrainConfig & Record<string, unknown>;
  return protocolOf({ jitter: false, evaluate: true, ...base, teacherDir: TEACHER_DIR, train: train as unknown as ExperimentSpec['train'] }).hash;
}
