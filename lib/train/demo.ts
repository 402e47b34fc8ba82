/**
 * The main job (`npm run demo`): on a fresh clone, generate the synthetic data if absent, load the
 * shipped teacher (data/teacher), train the baseline student and the CWD student with the same seed
 * and budget, print per-class IoU of the teacher and both students and the mIoU difference, say where
 * the seed-averaged result lives and whether this single run's difference is within the seed spread,
 * and write runs/demo/ (report.json, miou.svg, and the two run folders).
 *
 * The demo is one cell pair of research protocol r2 (data/results/README.md): the same student init,
 * budget, crop and optimiser, and CWD on the score map at the weight the protocol's search selected
 * (data/results/r2-search-table-best.json), so its single run can be read against the r2 table.
 */
import * as fs from 'fs';
import * as path from 'path';
import { CITYSCAPES_TRAIN_CLASSES } from '../cityscapes/labels';
import { DEFAULT_SYNTHETIC_ROOT } from '../cityscapes/synthetic';
import { cachedFrames, cachedTeacher, ExperimentResult, ExperimentSpec, runExperiment, validateExperiment } from './experiment';
import { evaluate } from './evaluate';
import { frameBatches } from './frames';
import { readManifest } from './model-package';
import { methodPreset } from './presets';
import type { StepRecord, Trainer } from './trainer';
import { writeFileAtomic } from './checkpoint';
import { syntheticDataset } from './results';
import { EXPERIMENT_DEFAULTS, optimizerFor } from './config';
import { DEMO_RECIPE, type DemoRecipe } from './recipes';

/** The demo's budget (`DemoRecipe`: student, init, iters, batch, crop, scale, downsample, seed, lr, optimizer), its CWD method, and where it runs. */
export interface DemoOptions extends DemoRecipe {
  dataRoot: string;
  teacherDir: string;
  runsDir: string;
  /** Method name of the distilled student (a preset, optionally `preset@WEIGHT`). */
  method: string;
  valLimit?: number;
  /** Pooled seed-averaged results (`merge --from … --out PREFIX` → PREFIX.json) of the demo's protocol. */
  resultsTable: string;
}

/** Where protocol r2 stores its weight search's choice per preset (`merge --best-weights`). */
export const R2_BEST_WEIGHTS = path.join('data', 'results', 'r2-search-table-best.json');

/**
 * The CWD method of the demo: CWD on the score map (`cwd-logits@α*`, α* the r2 search's choice), the one
 * distillation of protocol r2 with an effect beyond its seed spread (+1.40 mIoU; CWD on the feature map
 * gave −0.01, data/results/README.md). Without a committed search result: the preset's own α = 3, and `why`
 * says so (the caller prints it).
 */
export function demoMethod(bestWeights = R2_BEST_WEIGHTS): { method: string; why: string } {
  if (fs.existsSync(bestWeights)) {
    const b = JSON.parse(fs.readFileSync(bestWeights, 'utf8')) as Record<string, { method?: string; weight?: number }>;
    if (b['cwd-logits']?.method) return { method: b['cwd-logits'].method, why: `weight ${b['cwd-logits'].weight} chosen by protocol r2's search (${bestWeights})` };
  }
  return { method: 'cwd-logits', why: `the preset's weight 3 (the paper's): ${bestWeights} does not exist yet` };
}

/** The demo budget (lib/train/recipes.ts DEMO_RECIPE, one cell pair of protocol r2): about 3 minutes on a 2-core CPU (see README / report). */
export function defaultDemoOptions(): DemoOptions {
  return {
    dataRoot: DEFAULT_SYNTHETIC_ROOT, teacherDir: EXPERIMENT_DEFAULTS.teacherDir, runsDir: EXPERIMENT_DEFAULTS.runsDir,
    ...DEMO_RECIPE, crop: DEMO_RECIPE.crop ? [...DEMO_RECIPE.crop] : undefined, scale: [...DEMO_RECIPE.scale],
    method: demoMethod().method, resultsTable: path.join('data', 'results', 'r2-table.json'),
  };
}

export function demoSpecs(o: DemoOptions): { baseline: ExperimentSpec; distilled: ExperimentSpec } {
  const common = {
    runsDir: o.runsDir, dataRoot: o.dataRoot, downsample: o.downsample, crop: o.crop, scale: o.scale, model: o.student, init: o.init, valLimit: o.valLimit, fresh: true,
  };
  const train = { iters: o.iters, batchSize: o.batchSize, seed: o.seed, lr: o.lr, optimizer: optimizerFor(o.optimizer), checkpointEvery: 0, logEvery: 10 };
  if (o.method === 'baseline' || methodPreset(o.method).length === 0) throw new Error(`demo: the method must be a distillation preset (e.g. cwd-feature or cwd-feature@10), got '${o.method}'`);
  return {
    baseline: { ...common, name: 'demo/baseline', train: { ...train, terms: [] } },
    distilled: { ...common, name: `demo/${o.method}`, teacherDir: o.teacherDir, train: { ...train, terms: methodPreset(o.method) } },
  };
}

export interface DemoReport {
  options: DemoOptions;
  teacher: { dir: string; recordedValMIoU: number | null; mIoU: number; perClassIoU: number[]; source: string };
  classNames: string[];
  baseline: { mIoU: number; perClassIoU: number[]; trainSeconds: number; meanStepSeconds: number };
  distilled: { method: string; mIoU: number; perClassIoU: number[]; trainSeconds: number; meanStepSeconds: number };
  mIoUDifference: number;
  /** What the seed-averaged results say about this single run's difference (null: no results table). */
  spread: DemoSpread | null;
  wallSeconds: number;
  createdAt: string;
}

export interface DemoSpread {
  table: string;
  baseline: { n: number; mean: number; std: number };
  distilled: { n: number; mean: number; std: number };
  /** 2·sqrt(σ_b² + σ_d²): the spread of a difference of two single-seed runs. */
  noise: number;
  withinNoise: boolean;
}

/**
 * Compare one run's mIoU difference with the seed spread recorded in a pooled results table: two single runs
 * differ by noise of std sqrt(σ_b² + σ_d²), so |Δ| below twice that is within the seed spread.
 */
export function demoSpread(table: string, method: string, difference: number): DemoSpread | null {
  if (!fs.existsSync(table)) return null;
  const p = JSON.parse(fs.readFileSync(table, 'utf8')) as { rows: { params: Record<string, unknown>; n: number; mean: number; std: number | null }[] };
  const row = (m: string) => p.rows.find((r) => r.params.method === m && Object.keys(r.params).length === 1);
  const b = row('baseline');
  const d = row(method);
  if (!b || !d || !(b.n > 1 && d.n > 1)) return null;
  const noise = 2 * Math.sqrt((b.std ?? 0) ** 2 + (d.std ?? 0) ** 2);
  return {
    table, baseline: { n: b.n, mean: b.mean, std: b.std ?? NaN }, distilled: { n: d.n, mean: d.mean, std: d.std ?? NaN },
    noise, withinNoise: Math.abs(difference) < noise,
  };
}

/** Validate everything before the demo starts any work (except data generation, done by the caller). */
export function validateDemo(o: DemoOptions): void {
  const s = demoSpecs(o);
  validateExperiment(s.baseline);
  validateExperiment(s.distilled);
}

export async function runDemo(
  o: DemoOptions,
  hooks: { onRunStart?: (name: string, iters: number) => void; onStep?: (r: StepRecord, t: Trainer) => void; log?: (m: string) => void } = {},
): Promise<DemoReport> {
  const t0 = Date.now();
  const specs = demoSpecs(o);
  const manifest = readManifest(o.teacherDir);
  const results: ExperimentResult[] = [];
  for (const spec of [specs.baseline, specs.distilled]) {
    hooks.onRunStart?.(spec.name, o.iters);
    results.push(await runExperiment(spec, { onStep: hooks.onStep, log: hooks.log, runInfo: { demo: true } }));
  }
  const [b, d] = results;
  if (!b.eval || !d.eval) throw new Error('demo: evaluation missing');
  // the teacher on the same val frames at the same resolution as the students: its recorded numbers when
  // they were measured on exactly these frames, else evaluated here
  let t: { mIoU: number; perClassIoU: number[] };
  let source: string;
  if (teacherRecordFits(manifest, o)) {
    t = { mIoU: manifest.valMIoU as number, perClassIoU: manifest.valPerClassIoU as number[] };
    source = `recorded in ${path.join(o.teacherDir, 'manifest.json')} (the same ${manifest.valImages} val frames at downsample ${o.downsample}; test/train/teacher.test.ts reproduces it)`;
  } else {
    const valFrames = await cachedFrames(o.dataRoot, 'val', o.downsample, o.valLimit);
    t = await evaluate(cachedTeacher(o.teacherDir), frameBatches(valFrames, 4), { classNames: [...CITYSCAPES_TRAIN_CLASSES] });
    source = 'evaluated on these val frames';
  }
  const report: DemoReport = {
    options: o,
    teacher: { dir: o.teacherDir, recordedValMIoU: (manifest.valMIoU as number | undefined) ?? null, mIoU: t.mIoU, perClassIoU: t.perClassIoU, source },
    classNames: [...CITYSCAPES_TRAIN_CLASSES],
    baseline: { mIoU: b.eval.mIoU, perClassIoU: b.eval.perClassIoU, trainSeconds: b.trainSeconds, meanStepSeconds: b.meanStepSeconds },
    distilled: { method: o.method, mIoU: d.eval.mIoU, perClassIoU: d.eval.perClassIoU, trainSeconds: d.trainSeconds, meanStepSeconds: d.meanStepSeconds },
    mIoUDifference: d.eval.mIoU - b.eval.mIoU,
    spread: demoSpread(o.resultsTable, o.method, d.eval.mIoU - b.eval.mIoU),
    wallSeconds: (Date.now() - t0) / 1000,
    createdAt: new Date().toISOString(),
  };
  const dir = path.join(o.runsDir, 'demo');
  fs.mkdirSync(dir, { recursive: true });
  writeFileAtomic(path.join(dir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  fs.writeFileSync(path.join(dir, 'miou.svg'), await demoChart(report));
  results.forEach((r) => r.student.model.dispose());
  return report;
}

/**
 * Whether the teacher's recorded val numbers were measured on exactly the demo's val frames: the same
 * synthetic generator version and options, all val frames, the same downsample.
 */
export function teacherRecordFits(manifest: Record<string, unknown>, o: Pick<DemoOptions, 'dataRoot' | 'downsample' | 'valLimit'>): boolean {
  const data = manifest.data as { downsample?: number } | undefined;
  const ds = manifest.dataset as { version?: number; options?: Record<string, unknown> } | undefined;
  if (o.valLimit !== undefined || !data || data.downsample !== o.downsample || !ds?.options) return false;
  if (!Array.isArray(manifest.valPerClassIoU) || typeof manifest.valMIoU !== 'number' || !Number.isFinite(manifest.valMIoU)) return false;
  const here = syntheticDataset(o.dataRoot);
  if (!here) return false;
  const keys = ['seed', 'train', 'val', 'width', 'height', 'cities'];
  return here.version === ds.version && keys.every((k) => here.options?.[k] === ds.options?.[k]);
}

/** Per-class IoU bars of both students (vega-lite via lib/viz). */
export async function demoChart(r: DemoReport): Promise<string> {
  const { groupedBarSpec, renderSVG } = require('../viz') as typeof import('../viz');
  const bars = [] as { category: string; group: string; value: number }[];
  r.classNames.forEach((c, i) => {
    const bv = r.baseline.perClassIoU[i];
    const dv = r.distilled.perClassIoU[i];
    if (!Number.isNaN(bv)) bars.push({ category: c, group: 'baseline', value: 100 * bv });
    if (!Number.isNaN(dv)) bars.push({ category: c, group: `+${r.distilled.method}`, value: 100 * dv });
  });
  bars.push({ category: 'mIoU', group: 'baseline', value: 100 * r.baseline.mIoU });
  bars.push({ category: 'mIoU', group: `+${r.distilled.method}`, value: 100 * r.distilled.mIoU });
  const spec = groupedBarSpec(bars, {
    title: `Per-class IoU on synthetic val (${r.options.student}, ${r.options.iters} steps, seed ${r.options.seed}): mIoU ${(100 * r.baseline.mIoU).toFixed(1)} → ${(100 * r.distilled.mIoU).toFixed(1)}`,
    yTitle: 'IoU (%)', format: '.1f',
  });
  return renderSVG(spec);
}
