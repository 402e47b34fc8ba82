/**
 * Reading finished (or running) training runs for figures: `runs/<name>/` holds `config.json`,
 * `metrics.jsonl` (one JSON object per step) and `eval.json` (per-class IoU, mIoU) — written by
 * lib/train. Read-only: nothing here trains.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { CurvePoint } from './specs';

export interface RunRecord {
  name: string;
  dir: string;
  config: Record<string, any> | null;
  /** metrics.jsonl rows (step, loss, ce, lr, term values …). */
  metrics: Record<string, any>[];
  eval: { mIoU: number; perClassIoU: number[]; classNames?: string[]; pixelAccuracy?: number; [k: string]: any } | null;
}

function readJSONFile(file: string): any {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as Error).message}`);
  }
}

/** Read one run folder; missing files give null / []. A corrupt file is an error naming it. */
export function readRun(dir: string, name = path.basename(dir)): RunRecord {
  if (!fs.existsSync(dir)) throw new Error(`run folder ${dir} does not exist`);
  const cfg = path.join(dir, 'config.json');
  const ev = path.join(dir, 'eval.json');
  const met = path.join(dir, 'metrics.jsonl');
  const metrics: Record<string, any>[] = [];
  if (fs.existsSync(met)) {
    const lines = fs.readFileSync(met, 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (!line.trim()) return;
      try {
        metrics.push(JSON.parse(line));
      } catch {
        // the last line may be cut by a run killed mid-write; anything else is corruption
        if (i < lines.length - 2) throw new Error(`${met}: line ${i + 1} is not JSON`);
      }
    });
  }
  return {
    name, dir,
    config: fs.existsSync(cfg) ? readJSONFile(cfg) : null,
    metrics,
    eval: fs.existsSync(ev) ? readJSONFile(ev) : null,
  };
}

/** A run is finished when it has eval.json. */
export function runFinished(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'eval.json'));
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
