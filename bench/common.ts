/**
 * Shared pieces of the benchmark (`npm run bench`): the figure record (one JSON line per
 * measured number), robust timing (median of repeats after warm-up), machine description.
 *
 * Every figure printed by the bench is measured in the same process run; nothing is estimated.
 * A figure that could not be measured is reported with `value: null` and a `note` saying why (for
 * example "PyTorch not found"). lib/ is imported statically and typed: a change of lib that the bench
 * does not follow fails the type check, never degrades the benchmark silently.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';

/** One measured number. `ratio_vs_torch` = tfjs time / PyTorch time (1 = parity, 2 = tfjs twice as slow). */
export interface Figure {
  name: string;
  value: number | null;
  unit: string;
  backend: string;
  threads: number;
  shape?: number[] | Record<string, number[]>;
  ratio_vs_torch?: number | null;
  /** Extra detail: repeats, min/max, torch value, config. */
  [key: string]: unknown;
}

/** Median of a non-empty list (the mean of the two middle values for an even count). */
export function median(values: number[]): number {
  if (values.length === 0) throw new Error('median of an empty list');
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export interface Timing {
  /** Median wall time of the timed repeats, ms. */
  median: number;
  min: number;
  max: number;
  /** All timed repeats, ms. */
  all: number[];
  /** Median process CPU time (user + system, all threads) per repeat, ms, when measured. */
  cpuMedian?: number;
}

/** Summarise repeat times (ms). */
export function summarise(all: number[]): Timing {
  return { median: median(all), min: Math.min(...all), max: Math.max(...all), all };
}

/**
 * Time an async function: `warmup` untimed calls, then `reps` timed calls; median wall time.
 * With `budgetMs`, a function whose warm-up call was slow gets fewer repeats (never fewer than 3).
 * The function must itself wait for its result (e.g. `await t.data()`), so that the time covers the work.
 */
export async function timeAsync(fn: () => Promise<void>, reps: number, warmup = 1, budgetMs = Infinity): Promise<Timing> {
  let last = 0;
  for (let i = 0; i < warmup; i++) {
    const t0 = performance.now();
    await fn();
    last = performance.now() - t0;
  }
  // a slow function gets fewer repeats (at least 3) so that a run stays within its time budget
  if (Number.isFinite(budgetMs) && last > 0) reps = Math.max(Math.min(reps, 3), Math.min(reps, Math.floor(budgetMs / last)));
  const all: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    all.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return { ...summarise(all), cpuMedian: median(cpu) };
}

/** Round for printing/JSON without losing the magnitude of small values. */
export function round(x: number | null | undefined, digits = 3): number | null {
  if (x === null || x === undefined || !Number.isFinite(x)) return null;
  if (x === 0) return 0;
  const mag = Math.floor(Math.log10(Math.abs(x)));
  const d = Math.max(0, digits - 1 - mag);
  return Number(x.toFixed(Math.min(d, 8)));
}

/** The machine the figures were measured on. */
export function machineInfo(): { nproc: number; cpu: string; node: string; tfjs: string; date: string } {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
    const m = /^model name\s*:\s*(.+)$/m.exec(info);
    if (m) cpu = m[1].trim();
  } catch {
    // not Linux: os.cpus() model is fine
  }
  return { nproc: os.cpus().length, cpu, node: process.version, tfjs: tf.version.tfjs, date: new Date().toISOString() };
}

/** Threads the current tfjs backend computes with (wasm: its pool or, with the native kernels, theirs; cpu: 1; tensorflow: the cores). */
export function backendThreads(): number {
  const name = tf.getBackend();
  if (name === 'wasm') {
    // a lazy require: loading the wasm package registers its backend, which only wasm runs want
    const pool = (require('@tensorflow/tfjs-backend-wasm') as { getThreadsCount(): number }).getThreadsCount();
    // with the native kernels, wasm's own pool is 1 thread and the compute runs on the native threads
    const native = (require('../lib/backend/native') as typeof import('../lib/backend/native')).nativeKernelsStatus();
    return Math.max(pool, native?.loaded ? native.threads : 0);
  }
  if (name === 'tensorflow') return os.cpus().length;
  return 1;
}

/** Collects figures: prints each as one JSON line as it is measured and appends it to a .jsonl file. */
export class Recorder {
  readonly figures: Figure[] = [];
  readonly notes: string[] = [];
  private readonly files: string[];

  constructor(files: string[], private readonly echo = true) {
    this.files = files;
    for (const f of files) {
      fs.mkdirSync(path.dirname(f), { recursive: true });
      fs.writeFileSync(f, '');
    }
  }

  add(fig: Figure): Figure {
    const clean: Figure = { ...fig, value: typeof fig.value === 'number' ? round(fig.value, 4) : fig.value, load1: loadAverage() };
    if (typeof clean.ratio_vs_torch === 'number') clean.ratio_vs_torch = round(clean.ratio_vs_torch, 3);
    this.figures.push(clean);
    const line = JSON.stringify(clean);
    if (this.echo) console.log(line);
    for (const f of this.files) fs.appendFileSync(f, line + '\n');
    return clean;
  }

  /** A figure that could not be measured: value null with the reason. Never a made-up number. */
  unavailable(name: string, unit: string, note: string, extra: Partial<Figure> = {}): Figure {
    return this.add({ name, value: null, unit, backend: tf.getBackend() ?? 'none', threads: safeThreads(), note, ...extra });
  }

  find(name: string): Figure | undefined {
    return this.figures.find((f) => f.name === name);
  }

  note(text: string): void {
    this.notes.push(text);
    console.error(`[bench] ${text}`);
  }
}

/** 1-minute load average (Linux), to show how busy the shared machine was when a figure was taken. */
export function loadAverage(): number | null {
  try {
    return Number(fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  } catch {
    return null;
  }
}

export function safeThreads(): number {
  try {
    return backendThreads();
  } catch {
    return 1;
  }
}

/** Print a progress line to stderr (stdout carries the JSON lines). */
export function progress(text: string): void {
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${text}`);
}

/** Short message of an error (the wasm module's errors can carry a whole minified source line). */
export function errorMessage(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.length > 400 ? msg.slice(0, 400) + '…' : msg;
}
