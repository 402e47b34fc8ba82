/**
 * Research results that outlive a machine: one JSON file per finished sweep cell, written into a
 * results folder (e.g. `data/results/<protocol>/`) the moment the cell finishes, and `poolResults`,
 * which pools any number of such folders (or merged `results.json` files) of one protocol into
 * mean ± std over seeds, per-class IoU included, as JSON, CSV and a markdown table.
 *
 * A protocol is everything about a cell except its seed and the machine it ran on: the base spec
 * (model, data options, budget, optimiser, terms), the teacher's config hash and the synthetic
 * generator's version and options. Its hash (`protocolHash`) is stored in every cell file, and pooling
 * refuses to mix protocols, so sweeps on several machines and sessions add up to one table.
 *
 * @example
 *   // after each cell of a sweep run with --results data/results/r1:
 *   writeCellResult('data/results/r1', cell, protocol);
 *   const pooled = poolResults(['data/results/r1']);   // {protocol, rows: [{method, n, mean, std, ...}]}
 *   writePooled(pooled, 'data/results/r1-table');      // .json, .csv, .md
 */
import * as fs from 'fs';
import * as path from 'path';
import { SYNTHETIC_MANIFEST } from '../cityscapes/synthetic';
import { canonicalJSON, configHash } from './config';
import { writeFileAtomic } from './checkpoint';
import type { ExperimentSpec } from './experiment';
import type { CellResult } from './sweep';

/** What defines a protocol (everything but seeds and local paths), and its hash. */
export interface Protocol {
  hash: string;
  definition: Record<string, unknown>;
}

function readJSONNamed<T>(file: string): T {
  let txt: string;
  try {
    txt = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${file}: cannot be read (${(e as Error).message})`);
  }
  try {
    return JSON.parse(txt) as T;
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
}

/**
 * The generator version and options of a synthetic dataset (its synthetic-cityscapes.json, without the
 * options that do not change the frames: out, concurrency, compressionLevel), or null for other data.
 */
export function syntheticDataset(root: string): { version: number | null; options: Record<string, unknown> } | null {
  const sm = path.join(root, SYNTHETIC_MANIFEST);
  if (!fs.existsSync(sm)) return null;
  const j = readJSONNamed<{ version?: number; options?: Record<string, unknown> }>(sm);
  const { out: _o, concurrency: _c, compressionLevel: _z, ...options } = j.options ?? {};
  return { version: j.version ?? null, options };
}

/** The protocol of a sweep's base spec: local paths and the seed removed, teacher and data identified by content. */
export function protocolOf(base: Omit<ExperimentSpec, 'name'>): Protocol {
  const { runsDir: _r, dataRoot, teacherDir, fresh: _f, stopAt: _s, ...rest } = base as Omit<ExperimentSpec, 'name'> & Record<string, unknown>;
  const { seed: _seed, ...train } = (rest.train ?? {}) as Record<string, unknown>;
  let teacher: unknown = null;
  if (teacherDir) {
    const m = path.join(teacherDir, 'manifest.json');
    teacher = fs.existsSync(m) ? (readJSONNamed<{ configHash?: string; stepsTrained?: number }>(m).configHash ?? path.basename(teacherDir)) : path.basename(teacherDir);
  }
  const synthetic = syntheticDataset(dataRoot);
  const data: unknown = synthetic ? { synthetic: synthetic.version, options: synthetic.options } : 'cityscapes layout (not synthetic)';
  const definition = { ...rest, train, teacher, data };
  return { hash: configHash(definition), definition };
}

/** A cell result as stored in a results folder. */
export interface StoredCellResult extends CellResult {
  protocol: string;
  sweep: string;
  finishedAt: string;
}

/** Safe file name of a cell id (ids look like `method=cwd-feature,seed=0`). */
export function cellFileName(id: string): string {
  return `${id.replace(/[^A-Za-z0-9._=,+@-]/g, '_')}.json`;
}

/** Write one finished cell into a results folder (atomic; a `protocol.json` describes the folder's protocol). */
export function writeCellResult(dir: string, r: CellResult, protocol: Protocol, sweep: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const pf = path.join(dir, 'protocol.json');
  if (fs.existsSync(pf)) {
    const prev = readJSONNamed<{ hash: string }>(pf);
    if (prev.hash !== protocol.hash) throw new Error(`results folder ${dir} holds protocol ${prev.hash}, this sweep is protocol ${protocol.hash}: use another --results folder`);
  } else {
    writeFileAtomic(pf, JSON.stringify({ hash: protocol.hash, definition: protocol.definition }, null, 2) + '\n');
  }
  const { runDir: _d, ...rest } = r;
  const stored = { ...rest, runDir: path.basename(r.runDir), protocol: protocol.hash, sweep, finishedAt: new Date().toISOString() };
  const f = path.join(dir, cellFileName(r.id));
  writeFileAtomic(f, JSON.stringify(stored, null, 2) + '\n');
  return f;
}

/** The stored result of a cell in a results folder, when it exists under the same protocol. */
export function readCellResult(dir: string, id: string, protocol: Protocol): StoredCellResult | null {
  const f = path.join(dir, cellFileName(id));
  if (!fs.existsSync(f)) return null;
  const r = readJSONNamed<StoredCellResult>(f);
  return r.protocol === protocol.hash ? r : null;
}

export interface PooledRow {
  /** The cell parameters other than the seed, e.g. {method: 'cwd-feature'}. */
  params: Record<string, unknown>;
  label: string;
  seeds: unknown[];
  mIoU: number[];
  n: number;
  mean: number;
  /** Sample std (n − 1); NaN for n = 1. */
  std: number;
  /** mean − the baseline row's mean (NaN when there is no baseline row, 0 for the baseline). */
  delta: number;
  perClassMean: number[];
  perClassStd: number[];
  meanStepSeconds: number;
}

export interface Pooled {
  protocol: string;
  sources: string[];
  classNames: string[];
  rows: PooledRow[];
}

function loadSource(src: string): StoredCellResult[] {
  if (!fs.existsSync(src)) throw new Error(`pool: ${src} does not exist`);
  if (fs.statSync(src).isDirectory()) {
    return fs.readdirSync(src).filter((f) => f.endsWith('.json') && f !== 'protocol.json').sort()
      .map((f) => {
        const file = path.join(src, f);
        const r = readJSONNamed<StoredCellResult>(file);
        if (typeof r !== 'object' || r === null || typeof r.id !== 'string' || typeof r.params !== 'object' || typeof r.protocol !== 'string') {
          throw new Error(`pool: ${file} is not a cell result (no id, params and protocol): a results folder holds only cell files and protocol.json; write pooled tables outside it (merge --out PREFIX)`);
        }
        return r;
      });
  }
  const j = readJSONNamed<{ results?: StoredCellResult[]; protocol?: string }>(src);
  if (!Array.isArray(j.results)) throw new Error(`pool: ${src} is neither a results folder nor a merged results.json (no "results" list)`);
  return j.results.map((r) => ({ ...r, protocol: r.protocol ?? j.protocol ?? 'unknown' }));
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const sstd = (xs: number[]): number => {
  if (xs.length < 2) return NaN;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
};

function labelOf(params: Record<string, unknown>): string {
  const keys = Object.keys(params);
  if (keys.length === 1 && keys[0] === 'method') return String(params.method);
  return keys.length ? keys.map((k) => `${k.split('.').pop()}=${typeof params[k] === 'string' ? params[k] : canonicalJSON(params[k])}`).join(' ') : '(all)';
}

/**
 * Pool cell results from results folders and merged results.json files of one protocol: rows grouped by
 * every parameter but `train.seed`, mean ± sample std of mIoU and of each class's IoU, and Δ vs the
 * `method=baseline` row. The same (cell id, seed) found twice counts once (it is the same run).
 */
export function poolResults(sources: string[], o: { allowMixedProtocols?: boolean } = {}): Pooled {
  if (sources.length === 0) throw new Error('pool: no results folder or file given');
  const seen = new Map<string, StoredCellResult>();
  for (const s of sources) for (const r of loadSource(s)) if (r.mIoU !== null) seen.set(`${r.protocol}|${r.id}`, r);
  const all = [...seen.values()];
  if (all.length === 0) throw new Error(`pool: no finished cell in ${sources.join(', ')}`);
  const protocols = [...new Set(all.map((r) => r.protocol))];
  if (protocols.length > 1 && !o.allowMixedProtocols) {
    throw new Error(`pool: the sources mix ${protocols.length} protocols (${protocols.join(', ')}): pool one protocol at a time`);
  }
  const classNames = all.find((r) => r.classNames)?.classNames ?? [];
  const groups = new Map<string, StoredCellResult[]>();
  for (const r of all) {
    const { ['train.seed']: _s, ...rest } = r.params;
    const k = canonicalJSON(rest);
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const rows: PooledRow[] = [...groups.values()].map((rs) => {
    rs.sort((a, b) => Number(a.params['train.seed'] ?? 0) - Number(b.params['train.seed'] ?? 0));
    const { ['train.seed']: _s, ...params } = rs[0].params;
    const m = rs.map((r) => r.mIoU as number);
    const C = rs[0].perClassIoU?.length ?? 0;
    const pc = Array.from({ length: C }, (_, c) => rs.map((r) => (r.perClassIoU ?? [])[c]).filter((v) => typeof v === 'number' && Number.isFinite(v)));
    return {
      params, label: labelOf(params), seeds: rs.map((r) => r.params['train.seed'] ?? null), mIoU: m, n: m.length, mean: mean(m), std: sstd(m), delta: NaN,
      perClassMean: pc.map((v) => (v.length ? mean(v) : NaN)), perClassStd: pc.map(sstd), meanStepSeconds: mean(rs.map((r) => r.meanStepSeconds)),
    };
  });
  const base = rows.find((r) => r.params.method === 'baseline');
  for (const r of rows) r.delta = base ? r.mean - base.mean : NaN;
  return { protocol: protocols.join('+'), sources, classNames, rows };
}

/**
 * The weight search's rule (data/results/README.md): for each preset, the `preset@WEIGHT` row with the
 * highest mean mIoU wins; on an exact tie the smaller weight. Rows whose method has no `@` are ignored.
 * Returns `{preset: {method: 'preset@WEIGHT', mean, tried: [[weight, mean], …]}}`.
 * @example bestWeights(poolResults(['data/results/r2-search'])).at.method // e.g. 'at@1000'
 */
export function bestWeights(p: Pooled): Record<string, { method: string; weight: number; mean: number; tried: [number, number][] }> {
  const out: Record<string, { method: string; weight: number; mean: number; tried: [number, number][] }> = {};
  for (const r of p.rows) {
    const m = String(r.params.method ?? '');
    const at = m.lastIndexOf('@');
    if (at < 0 || Object.keys(r.params).length !== 1) continue;
    const base = m.slice(0, at);
    const weight = Number(m.slice(at + 1));
    const cur = out[base] ?? { method: m, weight, mean: r.mean, tried: [] };
    cur.tried.push([weight, r.mean]);
    if (r.mean > cur.mean || (r.mean === cur.mean && weight < cur.weight)) Object.assign(cur, { method: m, weight, mean: r.mean });
    out[base] = cur;
  }
  for (const v of Object.values(out)) v.tried.sort((a, b) => a[0] - b[0]);
  return out;
}

const pct = (v: number, d = 2): string => (Number.isFinite(v) ? (100 * v).toFixed(d) : '—');

/** The pooled rows as a markdown table (percent). */
export function pooledMarkdown(p: Pooled): string {
  const lines = ['| method | n | seeds | mIoU (%) mean ± std | per seed | Δ vs baseline | s/step |', '|---|---|---|---|---|---|---|'];
  for (const r of p.rows) {
    lines.push(`| ${r.label} | ${r.n} | ${r.seeds.join(',')} | ${pct(r.mean)}${r.n > 1 ? ` ± ${pct(r.std)}` : ''} | ${r.mIoU.map((v) => pct(v)).join(', ')} | ${r.params.method === 'baseline' ? '' : Number.isFinite(r.delta) ? `${r.delta >= 0 ? '+' : ''}${pct(r.delta)}` : '—'} | ${r.meanStepSeconds.toFixed(3)} |`);
  }
  if (p.classNames.length) {
    lines.push('', `| class | ${p.rows.map((r) => r.label).join(' | ')} |`, `|---|${p.rows.map(() => '---').join('|')}|`);
    p.classNames.forEach((c, i) => lines.push(`| ${c} | ${p.rows.map((r) => `${pct(r.perClassMean[i], 1)}${r.n > 1 ? ` ± ${pct(r.perClassStd[i], 1)}` : ''}`).join(' | ')} |`));
  }
  return lines.join('\n') + '\n';
}

/** Write `<prefix>.json`, `<prefix>.csv` and `<prefix>.md`; returns the paths. */
export function writePooled(p: Pooled, prefix: string): { json: string; csv: string; md: string } {
  fs.mkdirSync(path.dirname(path.resolve(prefix)), { recursive: true });
  const json = `${prefix}.json`;
  const csv = `${prefix}.csv`;
  const md = `${prefix}.md`;
  writeFileAtomic(json, JSON.stringify(p, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n');
  const head = ['method', 'n', 'seeds', 'mean', 'std', 'delta', ...p.classNames.flatMap((c) => [`IoU:${c}`, `std:${c}`])];
  const q = (s: string): string => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const rows = p.rows.map((r) => [r.label, r.n, r.seeds.join(' '), r.mean, r.std, r.delta, ...r.perClassMean.flatMap((m, i) => [m, r.perClassStd[i]])]
    .map((v) => q(typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : String(v))).join(','));
  writeFileAtomic(csv, [head.map(q).join(','), ...rows].join('\n') + '\n');
  writeFileAtomic(md, pooledMarkdown(p));
  return { json, csv, md };
}

/**
 * Read a pooled table written by `writePooled` (`<prefix>.json`, e.g. data/results/r2-table.json): the
 * one reader of committed results. Non-finite numbers (stored as null) come back as NaN. A file that is
 * not a pooled table is an error naming the file and what is missing.
 * @example readPooled('data/results/r2-table.json').rows.find((r) => r.label === 'baseline')!.mean   // 0.2697
 */
export function readPooled(file: string): Pooled {
  const j = readJSONNamed<Partial<Pooled>>(file);
  if (typeof j !== 'object' || j === null || typeof j.protocol !== 'string' || !Array.isArray(j.rows) || !Array.isArray(j.classNames)) {
    throw new Error(`${file} is not a pooled results table (expected protocol, classNames and rows, as written by 'channel-distill merge --out')`);
  }
  const num = (v: unknown): number => (typeof v === 'number' ? v : NaN);
  const rows = j.rows.map((r, i) => {
    if (typeof r?.label !== 'string' || !Array.isArray(r.mIoU) || !Array.isArray(r.perClassMean)) throw new Error(`${file}: row ${i} has no label, mIoU list or perClassMean`);
    return {
      ...r, mean: num(r.mean), std: num(r.std), delta: num(r.delta), mIoU: r.mIoU.map(num),
      perClassMean: r.perClassMean.map(num), perClassStd: (r.perClassStd ?? []).map(num), meanStepSeconds: num(r.meanStepSeconds),
    } as PooledRow;
  });
  return { protocol: j.protocol, sources: j.sources ?? [], classNames: j.classNames, rows };
}

/**
 * The research protocol's reading of a difference (data/results/README.md, protocols r2 and r3): a
 * difference of means is an **effect** only when it exceeds the larger of the two rows' seed std and
 * `floor` (1 mIoU point = 0.01); otherwise it is within noise. With one seed per row there is no std, and
 * only the floor counts, which the returned text says.
 * @example effectReading(0.0140, 0.0026, 0.0004)   // {effect: true, threshold: 0.01, text: 'effect (|Δ| 1.40 > 1.00)'}
 */
export function effectReading(delta: number, stdA: number, stdB: number, floor = 0.01): { effect: boolean; threshold: number; text: string } {
  const stds = [stdA, stdB].filter(Number.isFinite);
  const threshold = Math.max(floor, ...stds);
  const effect = Math.abs(delta) > threshold;
  const p = (x: number) => (100 * x).toFixed(2);
  const note = stds.length < 2 ? ', no seed std for a single run: the 1-point floor only' : '';
  return { effect, threshold, text: `${effect ? 'effect' : 'within noise'} (|Δ| ${p(Math.abs(delta))} ${effect ? '>' : '≤'} ${p(threshold)}${note})` };
}
