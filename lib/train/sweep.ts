/**
 * Sweeps: a grid over any option of an experiment (dotted paths into `ExperimentSpec`, e.g.
 * `train.terms.0.temperature`, `train.seed`, `model`, or `method` for a named term list).
 *
 * - Cells are the cartesian product in a fixed order (grid keys in the given order, values in the
 *   given order, last key fastest). Cell k has a stable id built from its values.
 * - Resumable: a cell with `result.json` is skipped; a cell that was interrupted resumes from its
 *   checkpoint (it is an ordinary run folder).
 * - Shardable: `shard {index: i, count: n}` runs the cells k with k mod n = i (0-based i, as Slurm
 *   array task ids and Kubernetes indexed-Job completion indexes), so n machines run disjoint
 *   cells and together cover the grid.
 * - On a cluster: `lib/train/slurm.ts` submits the shards as a Slurm job array plus a merge job.
 * - `mergeSweep` collects every cell's result.json into results.json and results.csv and lists
 *   missing cells.
 */
import * as fs from 'fs';
import * as path from 'path';
import { protocolOf, readCellResult, writeCellResult } from './results';
import { readJSONFile, writeFileAtomic } from './checkpoint';
import { runDirOf } from './run-dir';
import { canonicalJSON, configHash } from './config';
import { ExperimentResult, ExperimentSpec, ResolvedExperiment, runExperiment, validateExperiment } from './experiment';
import { methodPreset } from './presets';
import type { StepRecord, Trainer } from './trainer';

export type Grid = Record<string, unknown[]>;

export interface SweepSpec {
  /** Sweep folder name under base.runsDir. */
  name: string;
  /** Base experiment (its `name` is ignored). */
  base: Omit<ExperimentSpec, 'name'>;
  /**
   * Results folder (e.g. data/results/<protocol>): each finished cell's result is written there at once
   * (lib/train/results.ts), and a cell already stored there under the same protocol is not run again,
   * so a sweep can continue on another machine or in another session.
   */
  resultsDir?: string;
  grid: Grid;
}

export interface SweepCell {
  index: number;
  id: string;
  params: Record<string, unknown>;
  spec: ExperimentSpec;
  /** The cell validated and resolved (`validateSweep`); absent on cells of `expandGrid` alone. */
  experiment?: ResolvedExperiment;
}

export interface Shard {
  index: number;
  count: number;
}

/** Parse "i/n" (0 <= i < n). */
export function parseShard(raw: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(raw.trim());
  if (!m) throw new Error(`--shard must be i/n with 0 <= i < n (e.g. 0/4), got '${raw}'`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || index >= count) throw new Error(`--shard ${raw}: need 0 <= i < n and n >= 1`);
  return { index, count };
}

function setPath(obj: Record<string, unknown>, dotted: string, value: unknown): void {
  const keys = dotted.split('.');
  let cur: Record<string, unknown> | unknown[] = obj;
  keys.forEach((k, i) => {
    const last = i === keys.length - 1;
    const container = cur as Record<string, unknown>;
    if (last) {
      container[k] = value;
      return;
    }
    if (container[k] === undefined) {
      const next = keys[i + 1];
      container[k] = /^\d+$/.test(next) ? [] : {};
    }
    if (typeof container[k] !== 'object' || container[k] === null) {
      throw new Error(`sweep grid key '${dotted}': '${keys.slice(0, i + 1).join('.')}' is not an object or list in the base config`);
    }
    cur = container[k] as Record<string, unknown>;
  });
}

function valueLabel(v: unknown): string {
  const s = typeof v === 'string' ? v : canonicalJSON(v);
  return s.replace(/[^A-Za-z0-9.+-]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 40) || 'x';
}

/** Expand a grid into cells (deterministic order). `method` is a pseudo-key: METHOD_PRESETS name → train.terms. */
export function expandGrid(spec: SweepSpec): SweepCell[] {
  const keys = Object.keys(spec.grid);
  for (const k of keys) {
    if (!Array.isArray(spec.grid[k]) || spec.grid[k].length === 0) throw new Error(`sweep grid '${k}' must be a non-empty list of values`);
  }
  const cells: SweepCell[] = [];
  const total = keys.reduce((a, k) => a * spec.grid[k].length, 1);
  for (let index = 0; index < total; index++) {
    let rem = index;
    const params: Record<string, unknown> = {};
    for (let j = keys.length - 1; j >= 0; j--) {
      const vals = spec.grid[keys[j]];
      params[keys[j]] = vals[rem % vals.length];
      rem = Math.floor(rem / vals.length);
    }
    const ordered: Record<string, unknown> = {};
    for (const k of keys) ordered[k] = params[k];
    const base = JSON.parse(JSON.stringify(spec.base)) as Record<string, unknown>;
    // method presets first, so that e.g. train.terms.0.weight can override a preset's value
    if ('method' in ordered) setPath(base, 'train.terms', methodPreset(String(ordered.method)));
    for (const k of keys) if (k !== 'method') setPath(base, k, ordered[k]);
    const id = keys.length ? keys.map((k) => `${k.split('.').pop()}=${valueLabel(ordered[k])}`).join(',') : 'single';
    cells.push({ index, id, params: ordered, spec: { ...(base as unknown as ExperimentSpec), name: `${spec.name}/cells/${id}`, fresh: false } });
  }
  const ids = new Set(cells.map((c) => c.id));
  if (ids.size !== cells.length) throw new Error('sweep grid has duplicate cells (the same value twice in a list?)');
  return cells;
}

export function shardCells(cells: SweepCell[], shard?: Shard): SweepCell[] {
  return shard ? cells.filter((c) => c.index % shard.count === shard.index) : cells;
}

function sweepDir(spec: SweepSpec): string {
  return runDirOf(spec.base.runsDir, spec.name);
}

/** Validate every cell (configs, methods, folders) before any cell runs. */
export function validateSweep(spec: SweepSpec): SweepCell[] {
  sweepDir(spec); // the sweep name must name a folder inside runsDir
  const cells = expandGrid(spec);
  for (const c of cells) {
    try {
      c.experiment = validateExperiment(c.spec);
    } catch (e) {
      throw new Error(`sweep cell ${c.index} (${c.id}): ${(e as Error).message}`);
    }
  }
  return cells;
}

/**
 * Validate the sweep (unless `cells` of `validateSweep` are given) and create its folder with `sweep.json`
 * (grid, base config, cells), or check that an existing one holds the same grid and base config. Safe to
 * call from several shards at once.
 */
export function initSweepDir(spec: SweepSpec, cells: SweepCell[] = validateSweep(spec)): SweepCell[] {
  const dir = sweepDir(spec);
  fs.mkdirSync(dir, { recursive: true });
  const hash = configHash({ base: spec.base, grid: spec.grid });
  const specFile = path.join(dir, 'sweep.json');
  if (fs.existsSync(specFile)) {
    const prev = readJSONFile<{ hash: string }>(specFile, 'sweep spec');
    if (prev.hash !== hash) throw new Error(`sweep ${dir} exists with a different grid/base config (hash ${prev.hash}, now ${hash}): use another --name`);
  } else {
    writeFileAtomic(specFile, JSON.stringify({ hash, protocol: protocolOf(spec.base).hash, name: spec.name, base: spec.base, grid: spec.grid, cells: cells.map((c) => ({ index: c.index, id: c.id, params: c.params })) }, null, 2) + '\n');
  }
  return cells;
}

export interface CellResult {
  index: number;
  id: string;
  params: Record<string, unknown>;
  mIoU: number | null;
  perClassIoU: number[] | null;
  classNames?: string[];
  steps: number;
  trainSeconds: number;
  meanStepSeconds: number;
  runDir: string;
}

/**
 * Run the cells of this shard that have no result yet. Returns what ran and what was skipped.
 * @example await runSweep({name: 'tw', base, grid: {'train.terms.0.temperature': [1, 4], 'train.terms.0.weight': [1, 3]}}, {index: 0, count: 2});
 */
export async function runSweep(
  spec: SweepSpec,
  shard?: Shard,
  hooks: { onCellStart?: (c: SweepCell, k: number, n: number) => void; onStep?: (r: StepRecord, t: Trainer, c: SweepCell) => void; log?: (m: string) => void } = {},
  validated?: SweepCell[],
): Promise<{ ran: CellResult[]; skipped: string[]; cells: SweepCell[] }> {
  const cells = initSweepDir(spec, validated);
  const mine = shardCells(cells, shard);
  const ran: CellResult[] = [];
  const skipped: string[] = [];
  const protocol = protocolOf(spec.base);
  for (let k = 0; k < mine.length; k++) {
    const c = mine[k];
    const resultFile = path.join(c.spec.runsDir, c.spec.name, 'result.json');
    if (fs.existsSync(resultFile)) {
      skipped.push(c.id);
      hooks.log?.(`cell ${c.index} ${c.id}: done already, skipped`);
      if (spec.resultsDir && !readCellResult(spec.resultsDir, c.id, protocol)) {
        writeCellResult(spec.resultsDir, readJSONFile<CellResult>(resultFile, 'sweep cell result'), protocol, spec.name);
      }
      continue;
    }
    const stored = spec.resultsDir ? readCellResult(spec.resultsDir, c.id, protocol) : null;
    if (stored) {
      skipped.push(c.id);
      hooks.log?.(`cell ${c.index} ${c.id}: result stored in ${spec.resultsDir} (protocol ${protocol.hash}), skipped`);
      fs.mkdirSync(path.dirname(resultFile), { recursive: true });
      writeFileAtomic(resultFile, JSON.stringify({ ...stored, index: c.index, runDir: path.join(c.spec.runsDir, c.spec.name) }, null, 2) + '\n');
      continue;
    }
    hooks.onCellStart?.(c, k, mine.length);
    const r: ExperimentResult = await runExperiment(c.experiment ?? c.spec, { onStep: (rec, t) => hooks.onStep?.(rec, t, c), log: hooks.log, runInfo: { sweep: spec.name, cell: c.index, params: c.params } });
    const result: CellResult = {
      index: c.index, id: c.id, params: c.params, mIoU: r.eval?.mIoU ?? null, perClassIoU: r.eval?.perClassIoU ?? null,
      classNames: r.eval?.classNames, steps: r.steps, trainSeconds: r.trainSeconds, meanStepSeconds: r.meanStepSeconds, runDir: r.runDir,
    };
    writeFileAtomic(resultFile, JSON.stringify(result, null, 2) + '\n');
    if (spec.resultsDir) {
      const stored = writeCellResult(spec.resultsDir, result, protocol, spec.name);
      hooks.log?.(`cell ${c.index} ${c.id}: result -> ${stored}`);
    }
    r.student.model.dispose();
    ran.push(result);
  }
  return { ran, skipped, cells };
}

function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? '' : typeof v === 'string' ? v : typeof v === 'number' ? String(v) : canonicalJSON(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * Collect all cells' results into `<sweep>/results.json` and `results.csv` (one row per cell, in
 * cell order; columns: index, id, each grid key, mIoU, steps, seconds, per-class IoU).
 */
export function mergeSweep(runsDir: string, name: string): { results: CellResult[]; missing: string[]; groups: SeedGroup[]; json: string; csv: string } {
  const dir = runDirOf(runsDir, name);
  const specFile = path.join(dir, 'sweep.json');
  if (!fs.existsSync(specFile)) throw new Error(`merge: ${specFile} does not exist (run the sweep first, or check --runs/--name)`);
  const sweep = readJSONFile<{ grid: Grid; protocol?: string; base: SweepSpec['base']; cells: { index: number; id: string; params: Record<string, unknown> }[] }>(specFile, 'sweep spec');
  const protocol = sweep.protocol ?? protocolOf(sweep.base).hash;
  const results: CellResult[] = [];
  const missing: string[] = [];
  for (const c of sweep.cells) {
    const f = path.join(dir, 'cells', c.id, 'result.json');
    if (fs.existsSync(f)) results.push(readJSONFile<CellResult>(f, 'sweep cell result'));
    else missing.push(c.id);
  }
  const keys = Object.keys(sweep.grid);
  const classNames = results.find((r) => r.classNames)?.classNames ?? [];
  const header = ['index', 'id', ...keys, 'mIoU', 'steps', 'trainSeconds', 'meanStepSeconds', ...classNames.map((n) => `IoU:${n}`)];
  const rows = results.map((r) => [r.index, r.id, ...keys.map((k) => r.params[k]), r.mIoU, r.steps, r.trainSeconds, r.meanStepSeconds, ...(r.perClassIoU ?? [])].map(csvCell).join(','));
  const csv = [header.map(csvCell).join(','), ...rows].join('\n') + '\n';
  const jsonFile = path.join(dir, 'results.json');
  const csvFile = path.join(dir, 'results.csv');
  const groups = groupOverSeeds(results);
  writeFileAtomic(jsonFile, JSON.stringify({ name, protocol, grid: sweep.grid, complete: missing.length === 0, missing, groups, results }, null, 2) + '\n');
  writeFileAtomic(csvFile, csv);
  return { results, missing, groups, json: jsonFile, csv: csvFile };
}

export interface SeedGroup {
  /** The cell parameters other than the seed. */
  params: Record<string, unknown>;
  seeds: unknown[];
  mIoU: number[];
  n: number;
  mean: number;
  /** Sample standard deviation (n − 1); NaN for n = 1. */
  std: number;
}

/** Group cells that differ only in `train.seed`: mean ± sample std of mIoU per group (cell order kept). */
export function groupOverSeeds(results: CellResult[]): SeedGroup[] {
  const groups = new Map<string, SeedGroup>();
  for (const r of results) {
    if (r.mIoU === null) continue;
    const { ['train.seed']: seed, ...rest } = r.params;
    const key = canonicalJSON(rest);
    let g = groups.get(key);
    if (!g) {
      g = { params: rest, seeds: [], mIoU: [], n: 0, mean: NaN, std: NaN };
      groups.set(key, g);
    }
    g.seeds.push(seed ?? null);
    g.mIoU.push(r.mIoU);
  }
  for (const g of groups.values()) {
    g.n = g.mIoU.length;
    g.mean = g.mIoU.reduce((a, b) => a + b, 0) / g.n;
    g.std = g.n > 1 ? Math.sqrt(g.mIoU.reduce((a, b) => a + (b - g.mean) ** 2, 0) / (g.n - 1)) : NaN;
  }
  return [...groups.values()];
}
