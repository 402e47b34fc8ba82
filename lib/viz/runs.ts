/**
 * Reading finished (or running) training runs for figures: `runs/<name>/` holds `config.json`,
 * `metrics.jsonl` (one JSON object per step) and `eval.json` (per-class IoU, mIoU) — written by
 * lib/train and read by its `openRun`. Read-only: nothing here trains.
 */
import * as fs from 'fs';
import * as path from 'path';
import { openRun, type RunEval, type RunInfo } from '../train/run-dir';
import type { CurvePoint } from './specs';

/** A run folder for figures: lib/train `openRun` (config.json, metrics.jsonl, eval.json) under a display name. */
export interface RunRecord {
  name: string;
  dir: string;
  config: RunInfo | null;
  /** metrics.jsonl rows (step, loss, ce, lr, term values …). */
  metrics: Record<string, any>[];
  eval: RunEval | null;
}

/** Read one run folder (through `openRun`); missing files give null / []. A corrupt file is an error naming it. */
export function readRun(dir: string, name = path.basename(dir)): RunRecord {
  const run = openRun(dir, name);
  return { name, dir, config: run.info, metrics: run.metrics, eval: run.eval };
}

/** A run is finished when it has eval.json of its last step (`openRun(dir).finished`). */
export function runFinished(dir: string): boolean {
  return fs.existsSync(dir) && openRun(dir).finished;
}

/**
 * Training curves of several runs: for each metric key, one CurvePoint per logged step, averaged
 * over windows of `smooth` steps (default 1: raw). Keys may be nested with '.' (e.g. 'terms.cwd').
 * @example
 *   curvesSpec(metricCurves([readRun('runs/a', 'student'), readRun('runs/b', 'cwd')], ['loss', 'ce']))
 */
export function metricCurves(runs: RunRecord[], keys: string[], options: { smooth?: number; labels?: Record<string, string> } = {}): CurvePoint[] {
  const smooth = Math.max(1, Math.floor(options.smooth ?? 1));
  const get = (row: Record<string, any>, key: string): unknown => key.split('.').reduce<any>((o, k) => (o == null ? undefined : o[k]), row);
  const out: CurvePoint[] = [];
  for (const run of runs) {
    for (const key of keys) {
      const pts = run.metrics
        .map((r) => ({ step: Number(r.step), value: get(r, key) }))
        .filter((p): p is { step: number; value: number } => typeof p.value === 'number' && Number.isFinite(p.value) && Number.isFinite(p.step));
      for (let i = 0; i < pts.length; i += smooth) {
        const w = pts.slice(i, i + smooth);
        out.push({
          run: run.name, metric: options.labels?.[key] ?? key,
          step: w[w.length - 1].step, value: w.reduce((s, p) => s + p.value, 0) / w.length,
        });
      }
    }
  }
  return out;
}

/** mean and (sample) standard deviation; std is NaN for fewer than 2 values. */
export function meanStd(values: number[]): { mean: number; std: number; n: number } {
  const v = values.filter(Number.isFinite);
  const n = v.length;
  if (n === 0) return { mean: NaN, std: NaN, n };
  const mean = v.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : NaN;
  return { mean, std, n };
}
