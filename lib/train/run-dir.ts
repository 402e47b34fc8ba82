/**
 * `runs/<name>/`: config.json (config + hash, seed, backend, git commit), metrics.jsonl (one JSON
 * line per logged step), eval.json, checkpoints/, and `.lock` while a process trains in it.
 *
 * - `runDirOf(runsDir, name)`: the folder of a run name, which must stay inside `runsDir` (`..`,
 *   absolute names, `.` and empty segments are errors).
 * - `deleteRun(runsDir, name)`: what `--fresh` does, only ever inside `runsDir`, only a run folder,
 *   never one another live process holds; returns a description of what it deleted.
 * - `openRun(dir)`: the one reader of a run folder (typed config, metrics, eval, newest intact
 *   checkpoint, `loadStudent()`); the CLI, the notebooks and lib/viz read runs through it.
 * - `RunLock`: `.lock` with the owner (pid, host, start time, command); a lock of a dead process on
 *   this host is stale and taken over; a live holder makes a second process refuse, naming it. A lock
 *   of another host is stale when it is an earlier attempt of the same Slurm task (a requeue) or when
 *   its holder stopped refreshing it (heartbeat every 30 s, stale after 10 min).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { execSync } from 'child_process';
import { buildModel, type ModelConfig } from '../models';
import type { SegmentationNet } from '../models/types';
import { CheckpointDir, CheckpointPointer, loadWeightsInto, readJSONFile, writeFileAtomic } from './checkpoint';
import { configHash, type TrainConfig } from './config';

/** The git commit of the working tree (with "-dirty" when tracked files have changes), or null outside git. */
export function gitCommit(cwd = process.cwd()): string | null {
  try {
    const head = execSync('git rev-parse HEAD', { cwd, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    const changes = execSync('git status --porcelain --untracked-files=no', { cwd, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    return changes ? `${head}-dirty` : head;
  } catch {
    return null;
  }
}

/** What a run's config hash covers (lib/train/trainer.ts `runConfig`). */
export interface RunConfig {
  train: TrainConfig;
  student: ModelConfig;
  teacher: ModelConfig | null;
  /** The experiment's identity besides the configs (data options, init package, teacher package). */
  extra?: Record<string, unknown>;
}

/** The data a run trained on (config.json `data`, written by lib/train/experiment.ts). */
export interface RunData {
  root: string;
  downsample: number;
  trainLimit: number | null;
  valLimit: number | null;
  holdout?: number | null;
  crop: [number, number] | null;
  scale: [number, number];
  jitter: boolean;
  trainFrames: number;
}

/** config.json of a run folder. */
export interface RunInfo {
  name: string;
  kind: string;
  config: RunConfig;
  configHash: string;
  seed: number;
  backend: string;
  gitCommit: string | null;
  createdAt: string;
  command?: string;
  /** Model preset, teacher package and data (runs of `runExperiment`). */
  model?: string;
  teacherDir?: string | null;
  data?: RunData;
  init?: { dir: string; configHash: string | null; stepsTrained: number | null; createdAt: string | null } | null;
  [extra: string]: unknown;
}

/** eval.json of a run folder (lib/train/evaluate.ts `EvalResult` plus where and when). */
export interface RunEval {
  mIoU: number;
  perClassIoU: number[];
  classNames?: string[];
  pixelAccuracy?: number;
  images?: number;
  /** The step evaluated (the run's steps at the time). */
  step?: number;
  split?: string;
  [key: string]: unknown;
}

/** A run folder as `openRun` reads it. */
export interface OpenedRun {
  name: string;
  dir: string;
  /** config.json, or null when the folder has none (yet). */
  info: RunInfo | null;
  /** metrics.jsonl rows (step, lr, loss, ce, term values …), read on first use; a line cut by a kill at the end is left out. */
  readonly metrics: Record<string, number>[];
  eval: RunEval | null;
  /** eval.json exists and, when it records its step, that step is the config's last one. */
  finished: boolean;
  /** The newest intact checkpoint (verified against its manifest; a damaged newer one is reported to `log`), or null. */
  latestCheckpoint(log?: (m: string) => void): CheckpointPointer | null;
  /** The trained student: the model config of config.json with the newest intact checkpoint's weights. */
  loadStudent(log?: (m: string) => void): { net: SegmentationNet; checkpoint: CheckpointPointer };
}

function readMetricsFile(file: string): Record<string, number>[] {
  if (!fs.existsSync(file)) return [];
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const out: Record<string, number>[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    try {
      out.push(JSON.parse(line));
    } catch {
      // the last line may be cut by a run killed mid-write; anything else is corruption
      if (i < lines.length - 2) throw new Error(`${file}: line ${i + 1} is not JSON`);
    }
  });
  return out;
}

/**
 * The one reader of a run folder (`runs/<name>/`): its typed config.json, metrics, eval.json, newest
 * intact checkpoint and trained student. Missing files give null / []; a corrupt one is an error naming it.
 * @example
 *   const run = openRun('runs/demo/cwd-feature');
 *   run.eval?.mIoU; run.info?.config.train.iters;
 *   const { net } = run.loadStudent();
 */
export function openRun(dir: string, name = path.basename(dir)): OpenedRun {
  if (!fs.existsSync(dir)) throw new Error(`run folder ${dir} does not exist`);
  const file = (f: string) => path.join(dir, f);
  const info = fs.existsSync(file('config.json')) ? readJSONFile<RunInfo>(file('config.json'), 'run config') : null;
  const ev = fs.existsSync(file('eval.json')) ? readJSONFile<RunEval>(file('eval.json'), 'run evaluation') : null;
  const iters = info?.config?.train?.iters;
  const latestCheckpoint = (log: (m: string) => void = () => undefined) => new CheckpointDir(file('checkpoints')).newestIntact(log);
  let metrics: Record<string, number>[] | null = null;
  return {
    name, dir, info, eval: ev,
    get metrics() {
      metrics ??= readMetricsFile(file('metrics.jsonl'));
      return metrics;
    },
    finished: ev !== null && (typeof ev.step !== 'number' || typeof iters !== 'number' || ev.step >= iters),
    latestCheckpoint,
    loadStudent(log) {
      if (!info?.config?.student) throw new Error(`${file('config.json')} has no config.student (the model config)${info ? '' : ': the file is missing'}`);
      const checkpoint = latestCheckpoint(log);
      if (!checkpoint) throw new Error(`${dir} has no checkpoint (${file(path.join('checkpoints', 'latest.json'))} is missing)`);
      const net = buildModel(info.config.student);
      try {
        loadWeightsInto(net.model, path.join(checkpoint.dir, 'student'));
      } catch (e) {
        net.model.dispose();
        throw e;
      }
      return { net, checkpoint };
    },
  };
}

export class RunDir {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = path.resolve(dir);
  }

  get checkpoints(): string {
    return path.join(this.dir, 'checkpoints');
  }

  /**
   * Write config.json, or check that an existing one has the same config hash (a resumed run must
   * not silently continue under a different config).
   */
  init(info: { name: string; kind: string; config: unknown; seed: number; backend: string; gitCommit?: string | null; [extra: string]: unknown }): RunInfo {
    fs.mkdirSync(this.dir, { recursive: true });
    const hash = configHash(info.config);
    const file = path.join(this.dir, 'config.json');
    if (fs.existsSync(file)) {
      const prev = readJSONFile<RunInfo>(file, 'run config');
      if (prev.configHash !== hash) {
        throw new Error(`run ${this.dir} already exists with a different config (hash ${prev.configHash}, now ${hash}): use another --name or delete the folder`);
      }
      return prev;
    }
    const full = { ...info, configHash: hash, gitCommit: info.gitCommit ?? gitCommit(), createdAt: new Date().toISOString() } as RunInfo;
    writeFileAtomic(file, JSON.stringify(full, null, 2) + '\n');
    return full;
  }

  /** Append one metrics record. On resume, lines past the checkpoint step are dropped first (see `truncateMetrics`). */
  appendMetrics(record: Record<string, unknown>): void {
    fs.appendFileSync(path.join(this.dir, 'metrics.jsonl'), JSON.stringify(record) + '\n');
  }

  /** Keep only metrics lines with step <= `step` (the steps after a checkpoint are re-run on resume). */
  truncateMetrics(step: number): void {
    const file = path.join(this.dir, 'metrics.jsonl');
    if (!fs.existsSync(file)) return;
    const keep = fs.readFileSync(file, 'utf8').split('\n').filter((l) => {
      if (!l.trim()) return false;
      try {
        return (JSON.parse(l) as { step: number }).step <= step;
      } catch {
        return false; // a line cut by a kill
      }
    });
    writeFileAtomic(file, keep.map((l) => l + '\n').join(''));
  }

  /** metrics.jsonl (a line cut by a kill at the end is left out). */
  readMetrics(): Record<string, number>[] {
    return readMetricsFile(path.join(this.dir, 'metrics.jsonl'));
  }

  writeJSON(name: string, value: unknown): void {
    fs.mkdirSync(this.dir, { recursive: true });
    writeFileAtomic(path.join(this.dir, name), JSON.stringify(value, null, 2) + '\n');
  }

  readJSON<T>(name: string): T | null {
    const file = path.join(this.dir, name);
    return fs.existsSync(file) ? readJSONFile<T>(file) : null;
  }
}

const NAME_SEGMENT = /^[A-Za-z0-9_@=+,-][A-Za-z0-9._@=+,-]*$/;

/**
 * Check a run name: one or more `/`-separated segments of letters, digits and . _ - @ = + , with no
 * empty, `.` or `..` segment, not absolute. Throws an error naming the problem.
 */
export function checkRunName(name: string, what = 'run name'): void {
  const bad = (why: string) => new Error(`${what} '${name}' ${why}`);
  if (typeof name !== 'string' || name.length === 0) throw bad('is empty');
  if (path.isAbsolute(name) || name.startsWith('/') || /^[A-Za-z]:/.test(name)) throw bad('is absolute: a run name is a folder under --runs, e.g. cwd-t4');
  const segments = name.split('/');
  for (const seg of segments) {
    if (seg === '') throw bad('has an empty path segment (a leading, trailing or double /)');
    if (seg === '.' || seg === '..') throw bad(`has a '${seg}' segment: a run name must name a folder inside --runs`);
    if (!NAME_SEGMENT.test(seg)) throw bad('may contain only letters, digits and . _ - @ = + , (and / for sub-folders), and no segment may start with .');
  }
}

/** The folder of run `name` under `runsDir`; the name is checked and the result is always strictly inside `runsDir`. */
export function runDirOf(runsDir: string, name: string): string {
  checkRunName(name);
  const root = path.resolve(runsDir);
  const dir = path.resolve(root, name);
  if (!isInside(root, dir)) throw new Error(`run name '${name}' resolves to ${dir}, outside the runs folder ${root}`);
  // a symbolic link on the way must not lead outside either
  let existing = dir;
  while (!fs.existsSync(existing) && isInside(root, existing)) existing = path.dirname(existing);
  if (existing !== root && fs.existsSync(root) && isInside(root, existing)) {
    const realRoot = fs.realpathSync(root);
    const real = fs.realpathSync(existing);
    if (!isInside(realRoot, real)) throw new Error(`run name '${name}': ${existing} leads to ${real} (through a symbolic link), outside the runs folder ${realRoot}`);
  }
  return dir;
}

/** True when `p` is strictly inside folder `root` (both absolute). */
export function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/** A one-line description of a run folder's contents (for --fresh). */
export function describeRun(dir: string): string {
  const parts: string[] = [];
  const metrics = path.join(dir, 'metrics.jsonl');
  if (fs.existsSync(metrics)) parts.push(`metrics.jsonl with ${fs.readFileSync(metrics, 'utf8').split('\n').filter((l) => l.trim()).length} step(s)`);
  const ck = path.join(dir, 'checkpoints');
  if (fs.existsSync(ck)) {
    const steps = fs.readdirSync(ck).filter((e) => /^step-\d+$/.test(e)).map((e) => Number(e.slice(5))).sort((a, b) => a - b);
    parts.push(steps.length ? `${steps.length} checkpoint(s) up to step ${steps[steps.length - 1]}` : 'no checkpoint');
  }
  if (fs.existsSync(path.join(dir, 'eval.json'))) parts.push('eval.json');
  const other = fs.readdirSync(dir).filter((e) => !['metrics.jsonl', 'checkpoints', 'eval.json', 'config.json', '.lock'].includes(e));
  if (other.length) parts.push(`${other.length} other entr${other.length === 1 ? 'y' : 'ies'} (${other.slice(0, 5).join(', ')}${other.length > 5 ? ', …' : ''})`);
  return parts.join(', ') || 'config.json only';
}

/**
 * Delete run `name` under `runsDir` for `--fresh`: only a folder strictly inside the runs folder (also
 * after resolving symbolic links), only a run folder (it has config.json; an empty folder is fine),
 * never one locked by another live process (the caller may hold its lock: `.lock` is kept). Returns
 * what was deleted, or null when there was no such folder.
 */
export function deleteRun(runsDir: string, name: string, keepLock?: RunLock): string | null {
  const dir = runDirOf(runsDir, name);
  if (!fs.existsSync(dir)) return null;
  const realRoot = fs.existsSync(runsDir) ? fs.realpathSync(runsDir) : path.resolve(runsDir);
  const real = fs.realpathSync(dir);
  if (!isInside(realRoot, real)) throw new Error(`--fresh: ${dir} resolves to ${real}, outside the runs folder ${realRoot}: not deleting it`);
  if (!fs.statSync(real).isDirectory()) throw new Error(`--fresh: ${dir} is not a folder: not deleting it`);
  const entries = fs.readdirSync(real).filter((e) => e !== '.lock');
  if (entries.length > 0 && !fs.existsSync(path.join(real, 'config.json'))) {
    throw new Error(`--fresh: ${dir} is not a run folder (no config.json; it holds ${entries.slice(0, 5).join(', ')}${entries.length > 5 ? ', …' : ''}): not deleting it; pick another --name or remove it yourself`);
  }
  if (!keepLock || keepLock.dir !== real) {
    const holder = RunLock.holder(real);
    if (holder && holder.live) throw new Error(`--fresh: ${dir} is in use: ${RunLock.describe(holder.owner)}; not deleting it`);
  }
  const what = `${dir} (${describeRun(real)})`;
  for (const e of entries) fs.rmSync(path.join(real, e), { recursive: true, force: true });
  if (!keepLock) fs.rmSync(path.join(real, '.lock'), { force: true });
  return what;
}

export interface LockOwner {
  pid: number;
  host: string;
  startedAt: string;
  /** Kernel start time of the process (Linux /proc/<pid>/stat field 22), to tell a reused pid. */
  procStart?: string | null;
  command?: string;
  /** The scheduler task the holder runs as (`slurm:<SLURM_JOB_ID>`): a requeued task may take its own earlier lock. */
  task?: string | null;
}

/** Seconds between refreshes of a held lock's modification time (its heartbeat). */
export const LOCK_HEARTBEAT_S = 30;
/** A lock of another host not refreshed for this long is stale (its holder cannot be checked directly). */
export const LOCK_STALE_S = 600;

/** The scheduler task this process runs as, or null: Slurm keeps SLURM_JOB_ID across a requeue. */
function schedulerTask(): string | null {
  return process.env.SLURM_JOB_ID ? `slurm:${process.env.SLURM_JOB_ID}` : null;
}

function procStart(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Locks held by this process (re-entrant: a run folder locked twice in one process is one lock). */
const heldLocks = new Map<string, { lock: RunLock; count: number }>();
let exitHookInstalled = false;

/**
 * `.lock` in a run folder: created atomically (written to a temp file, then hard-linked into place,
 * which fails when a lock exists) with its owner's pid, host, start time and command.
 * @example
 *   const lock = RunLock.acquire('runs/cwd');   // throws "… is in use by pid 123 on host h since …"
 *   try { … } finally { lock.release(); }
 */
export class RunLock {
  private released = false;
  private heartbeat: NodeJS.Timeout | null = null;
  private constructor(readonly dir: string, readonly file: string, readonly owner: LockOwner) {}

  static describe(o: LockOwner): string {
    return `pid ${o.pid} on host ${o.host} since ${o.startedAt}${o.command ? ` (${o.command})` : ''}`;
  }

  /** The current holder of a run folder's lock (live: its process still runs), or null. */
  static holder(dir: string): { owner: LockOwner; live: boolean; why?: string } | null {
    const file = path.join(dir, '.lock');
    let owner: LockOwner;
    try {
      owner = JSON.parse(fs.readFileSync(file, 'utf8')) as LockOwner;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      return { owner: { pid: -1, host: '?', startedAt: '?' }, live: false, why: `${file} is unreadable (${(e as Error).message})` };
    }
    if (owner.host !== os.hostname()) {
      const task = schedulerTask();
      if (task && owner.task === task) return { owner, live: false, why: `it is an earlier attempt of this scheduler task (${task}, requeued)` };
      let age = 0;
      try { age = (Date.now() - fs.statSync(file).mtimeMs) / 1000; } catch { /* gone meanwhile */ }
      if (age > LOCK_STALE_S) return { owner, live: false, why: `held on another host and not refreshed for ${Math.round(age)} s (a live holder refreshes it every ${LOCK_HEARTBEAT_S} s)` };
      return { owner, live: true, why: `held on another host (refreshed ${Math.round(age)} s ago; it counts as gone after ${LOCK_STALE_S} s without a refresh)` };
    }
    if (!pidAlive(owner.pid)) return { owner, live: false, why: `process ${owner.pid} is no longer running` };
    if (owner.procStart && procStart(owner.pid) && procStart(owner.pid) !== owner.procStart) {
      return { owner, live: false, why: `pid ${owner.pid} now belongs to another process` };
    }
    return { owner, live: true };
  }

  /**
   * Lock run folder `dir` (created if needed). A stale lock (dead process on this host) is taken over,
   * with a note to `log`; a live holder is an error naming it.
   */
  static acquire(dir: string, o: { command?: string; log?: (m: string) => void } = {}): RunLock {
    const abs = path.resolve(dir);
    fs.mkdirSync(abs, { recursive: true });
    const real = fs.realpathSync(abs);
    const held = heldLocks.get(real);
    if (held) {
      held.count += 1;
      return held.lock;
    }
    const file = path.join(real, '.lock');
    const owner: LockOwner = {
      pid: process.pid, host: os.hostname(), startedAt: new Date().toISOString(), procStart: procStart(process.pid),
      command: o.command ?? process.argv.slice(1).join(' '), task: schedulerTask(),
    };
    const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    fs.writeFileSync(tmp, JSON.stringify(owner, null, 1) + '\n');
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          fs.linkSync(tmp, file);
          break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        }
        const h = RunLock.holder(real);
        if (h && h.live) {
          throw new Error(`run ${abs} is in use by ${RunLock.describe(h.owner)}${h.why ? ` [${h.why}]` : ''}: wait for it to finish, or use another --name${h.why ? `; if that process is gone, delete ${file}` : ''}`);
        }
        if (attempt >= 3) throw new Error(`run ${abs}: could not take the lock ${file} after ${attempt} attempts (another process is racing for it)`);
        if (h) {
          // take the stale lock over: move it aside first so that two processes never both remove a fresh lock
          const aside = `${file}.stale-${process.pid}`;
          try {
            fs.renameSync(file, aside);
            const again = (() => { try { return JSON.parse(fs.readFileSync(aside, 'utf8')) as LockOwner; } catch { return null; } })();
            if (again && again.pid !== h.owner.pid) {
              // someone replaced the stale lock in the meantime: put theirs back and look again
              try { fs.linkSync(aside, file); } catch { /* they will notice */ }
              fs.rmSync(aside, { force: true });
              continue;
            }
            fs.rmSync(aside, { force: true });
            o.log?.(`run ${abs}: removed a stale lock of ${RunLock.describe(h.owner)} (${h.why})`);
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
          }
        }
      }
    } finally {
      fs.rmSync(tmp, { force: true });
    }
    const lock = new RunLock(real, file, owner);
    lock.heartbeat = setInterval(() => {
      const now = new Date();
      try { fs.utimesSync(file, now, now); } catch { /* removed by hand: nothing to refresh */ }
    }, LOCK_HEARTBEAT_S * 1000);
    lock.heartbeat.unref();
    heldLocks.set(real, { lock, count: 1 });
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on('exit', () => { for (const { lock: l } of heldLocks.values()) l.forceRelease(); });
    }
    return lock;
  }

  /** Release one hold; the file is removed when the last hold of this process is released. */
  release(): void {
    const held = heldLocks.get(this.dir);
    if (!held || held.lock !== this) return;
    held.count -= 1;
    if (held.count <= 0) this.forceRelease();
  }

  private forceRelease(): void {
    if (this.released) return;
    this.released = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    heldLocks.delete(this.dir);
    try {
      const cur = JSON.parse(fs.readFileSync(this.file, 'utf8')) as LockOwner;
      if (cur.pid === this.owner.pid && cur.startedAt === this.owner.startedAt) fs.rmSync(this.file, { force: true });
    } catch { /* gone already */ }
  }
}
