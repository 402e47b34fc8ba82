/**
 * What notebooks 02–05 share: the budgets of each profile (lib/train/recipes.ts), the distillation
 * methods by name, and `trainMethod`, which trains one student (or reuses the finished run of the same
 * config, lib/train `finishedRun`) through the library's `runExperiment`. Runs of one profile live in one folder, so a method trained by one
 * notebook (say the CWD student of 02) is read, not retrained, by the next (04, 05).
 *
 * Imported by the notebooks as `./notebooks/common` (the kernel's working directory is the project root).
 */
import * as fs from 'fs';
import * as path from 'path';
import { runExperiment, disposeResult, finishedRun, type ExperimentResult, type ExperimentSpec } from '../lib/train/experiment';
import { openRun } from '../lib/train/run-dir';
import type { TermConfig } from '../lib/train/terms';
import type { StepRecord } from '../lib/train/trainer';
import { EXPERIMENT_DEFAULTS, optimizerFor, TERM_DEFAULTS, type TrainConfig } from '../lib/train/config';
import { NOTEBOOK_RECIPES, type NotebookRecipe } from '../lib/train/recipes';
import { resolveDataRoot, type DataRoot } from '../lib/cityscapes/dataset';
import { methodPreset } from '../lib/train/presets';
import { notebookProfile, type NotebookProfile } from '../lib/viz/profile';
import { readRun, meanStd, type RunRecord } from '../lib/viz/runs';
import type { SegmentationNet } from '../lib/models/types';

/** A notebook profile's budget (lib/train/recipes.ts NOTEBOOK_RECIPES). */
export type Budget = NotebookRecipe & { profile: NotebookProfile };

export const BUDGETS: Record<NotebookProfile, Budget> = NOTEBOOK_RECIPES;

export function budget(profile: NotebookProfile = notebookProfile()): Budget {
  return BUDGETS[profile];
}

/** Our method names → the training library's named term lists (lib/train/presets.ts METHOD_PRESETS). */
const PRESET_OF: Record<string, string> = {
  student: 'baseline', cwd: 'cwd-feature', 'cwd-logits': 'cwd-logits', at: 'at', pa: 'pa', ifvd: 'ifvd', pi: 'pi', holistic: 'holistic',
  'spatial-kl': 'abl-spatial-kl', mse: 'abl-mse', 'channel-mse': 'abl-channel-mse', bhattacharyya: 'abl-channel-bhat',
};

/**
 * The distillation methods of the paper's Tables 2–4 as term lists (Eq. 1: CE + Σ weight·term), taken
 * from the training library's presets so that notebooks, CLI sweeps and data/results agree: CWD on
 * the feature map with 𝒯 = 4, α = 3 (the paper's best cell of Fig. 3); the spatial methods with the
 * weights of their reference implementations; the Table 4 variants with weight 3 (𝒯 = 4 where it
 * applies). `local` has no preset: the term defaults (lib/train TERM_DEFAULTS: weight 3 on the feature map). `temperature` / `weight` override CWD's.
 */
export function methodTerms(method: string, options: { temperature?: number; weight?: number } = {}): TermConfig[] {
  let terms: TermConfig[];
  if (PRESET_OF[method]) terms = methodPreset(PRESET_OF[method]);
  else if (method === 'local') terms = [{ method: 'local', ...TERM_DEFAULTS }];
  else throw new Error(`unknown method '${method}': use one of ${[...Object.keys(PRESET_OF), 'local'].join(', ')}`);
  if (options.temperature !== undefined || options.weight !== undefined) {
    if (method !== 'cwd') throw new Error(`methodTerms('${method}'): temperature/weight overrides are for 'cwd' only`);
    if (options.temperature !== undefined) (terms[0] as unknown as Record<string, unknown>).temperature = options.temperature;
    if (options.weight !== undefined) terms[0].weight = options.weight;
  }
  return terms;
}

/** The experiment every notebook student shares (the sweep's base): everything but name and terms. */
export function baseExperiment(b: Budget, data: { root: string }, terms: TermConfig[], seed = b.seeds[0]): Omit<ExperimentSpec, 'name'> {
  return {
    runsDir: b.runsDir, dataRoot: data.root, downsample: b.downsample, trainLimit: b.trainLimit,
    valLimit: b.valLimit, crop: b.crop, model: b.student, teacherDir: terms.length ? TEACHER_DIR : undefined,
    train: {
      iters: b.iters, batchSize: b.batchSize, seed, terms, lr: b.lr,
      optimizer: optimizerFor(b.optimizer) as TrainConfig['optimizer'],
      logEvery: b.logEvery, checkpointEvery: Math.max(b.logEvery, Math.floor(b.iters / 4)),
    },
  };
}

/** The dataset root: CITYSCAPES_ROOT, else the synthetic set (generated when absent), through lib's one resolver. */
export async function ensureData(): Promise<DataRoot> {
  return resolveDataRoot(undefined, { log: (m) => console.log(m) });
}

/** The shipped teacher package; CWD_TEACHER_DIR points the notebooks at another one. */
export const TEACHER_DIR = process.env.CWD_TEACHER_DIR || EXPERIMENT_DEFAULTS.teacherDir;

/** A progress line every `logEvery` steps: step, losses, seconds per step. */
export function stepLogger(name: string, b: Budget): (r: StepRecord) => void {
  return (r) => {
    if (r.step % b.logEvery === 0 || r.step === b.iters) {
      const extra = Object.entries(r.terms).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(' ');
      console.log(`${name} step ${r.step}/${b.iters} loss ${r.loss.toFixed(3)} ce ${r.ce.toFixed(3)} ${extra} (${r.seconds.toFixed(2)} s/step)`);
    }
  };
}

/** Run name of a method under the budget's folder, e.g. 'cwd-T4-w3@s0'. */
export function runName(label: string, seed: number): string {
  return `${label}@s${seed}`;
}

/**
 * Train (or reuse) one student per seed for `label` with `terms`; returns the finished run records.
 * A finished run of the same config (lib/train `finishedRun`: same config hash) is read, not retrained;
 * a run folder of another config is an error naming the difference.
 */
export async function trainMethod(label: string, terms: TermConfig[], b: Budget, data: { root: string }): Promise<RunRecord[]> {
  const out: RunRecord[] = [];
  for (const seed of b.seeds) {
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

/** The committed research result (data/results, a merged CLI sweep over methods × seeds), if present. */
export const RESEARCH_RESULTS = 'data/results/b400/b400-results.json';

export interface MethodSummary {
  method: string;
  mIoU: { mean: number; std: number; n: number };
  perClassIoU: number[];
  classNames: string[];
}

/**
 * Mean ± std over seeds of each method of a merged sweep (`mergeSweep` results.json: results[].params.method,
 * mIoU, perClassIoU). Returns null when the file does not exist; a malformed file is an error.
 */
export function readResearchResults(file = RESEARCH_RESULTS): { methods: MethodSummary[]; complete: boolean; missing: string[] } | null {
  if (!fs.existsSync(file)) return null;
  const json = JSON.parse(fs.readFileSync(file, 'utf8')) as { complete?: boolean; missing?: string[]; results?: { params: Record<string, unknown>; mIoU: number | null; perClassIoU: (number | null)[] | null; classNames?: string[] }[] };
  if (!Array.isArray(json.results)) throw new Error(`${file}: no 'results' list (expected the results.json written by mergeSweep)`);
  const by = new Map<string, typeof json.results>();
  for (const r of json.results) {
    const m = String(r.params?.method ?? 'single');
    if (!by.has(m)) by.set(m, []);
    by.get(m)!.push(r);
  }
  const methods = [...by.entries()].map(([method, rs]) => {
    const classNames = rs.find((r) => r.classNames)?.classNames ?? [];
    const k = Math.max(0, ...rs.map((r) => r.perClassIoU?.length ?? 0));
    const perClassIoU = Array.from({ length: k }, (_, j) => meanStd(rs.map((r) => (r.perClassIoU?.[j] ?? NaN) as number)).mean);
    return { method, mIoU: meanStd(rs.map((r) => (r.mIoU ?? NaN) as number)), perClassIoU, classNames };
  });
  return { methods, complete: json.complete ?? false, missing: json.missing ?? [] };
}
