/**
 * The main job (`npm run demo`): on a fresh clone, generate the synthetic data if absent, load the
 * shipped teacher (data/teacher), train the baseline student and the CWD student with the same seed
 * and budget, print per-class IoU of both and the mIoU difference, write runs/demo/ (report.json,
 * miou.svg, and the two run folders).
 */
import * as fs from 'fs';
import * as path from 'path';
import { CITYSCAPES_TRAIN_CLASSES } from '../cityscapes/labels';
import { ExperimentResult, ExperimentSpec, runExperiment, validateExperiment } from './experiment';
import { readManifest } from './model-package';
import { methodPreset } from './presets';
import type { StepRecord, Trainer } from './trainer';
import { writeFileAtomic } from './checkpoint';

export interface DemoOptions {
  dataRoot: string;
  teacherDir: string;
  runsDir: string;
  student: string;
  iters: number;
  batchSize: number;
  crop?: [number, number];
  downsample: number;
  seed: number;
  lr: number;
  optimizer: 'sgd' | 'adam';
  /** METHOD_PRESETS name of the distilled student. */
  method: string;
  valLimit?: number;
}

/** The demo budget: sized to finish in under 10 minutes on a 2-core CPU (see README / report). */
export function defaultDemoOptions(): DemoOptions {
  return {
    dataRoot: path.join('data', 'synthetic-cityscapes'), teacherDir: path.join('data', 'teacher'), runsDir: 'runs',
    student: 'student-r18', iters: 400, batchSize: 4, crop: [128, 128], downsample: 2, seed: 0, lr: 0.002, optimizer: 'adam',
    method: 'cwd-feature',
  };
}

export function demoSpecs(o: DemoOptions): { baseline: ExperimentSpec; distilled: ExperimentSpec } {
  const common = {
    runsDir: o.runsDir, dataRoot: o.dataRoot, downsample: o.downsample, crop: o.crop, model: o.student, valLimit: o.valLimit, fresh: true,
  };
  const train = { iters: o.iters, batchSize: o.batchSize, seed: o.seed, lr: o.lr, optimizer: { type: o.optimizer, weightDecay: o.optimizer === 'adam' ? 0 : 5e-4 }, checkpointEvery: 0, logEvery: 10 };
  return {
    baseline: { ...common, name: 'demo/baseline', train: { ...train, terms: [] } },
    distilled: { ...common, name: `demo/${o.method}`, teacherDir: o.teacherDir, train: { ...train, terms: methodPreset(o.method) } },
  };
}

export interface DemoReport {
  options: DemoOptions;
  teacher: { dir: string; recordedValMIoU: number | null };
  classNames: string[];
  baseline: { mIoU: number; perClassIoU: number[]; trainSeconds: number; meanStepSeconds: number };
  distilled: { method: string; mIoU: number; perClassIoU: number[]; trainSeconds: number; meanStepSeconds: number };
  mIoUDifference: number;
  wallSeconds: number;
  createdAt: string;
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
  const report: DemoReport = {
    options: o,
    teacher: { dir: o.teacherDir, recordedValMIoU: (manifest.valMIoU as number | undefined) ?? null },
    classNames: [...CITYSCAPES_TRAIN_CLASSES],
    baseline: { mIoU: b.eval.mIoU, perClassIoU: b.eval.perClassIoU, trainSeconds: b.trainSeconds, meanStepSeconds: b.meanStepSeconds },
    distilled: { method: o.method, mIoU: d.eval.mIoU, perClassIoU: d.eval.perClassIoU, trainSeconds: d.trainSeconds, meanStepSeconds: d.meanStepSeconds },
    mIoUDifference: d.eval.mIoU - b.eval.mIoU,
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
