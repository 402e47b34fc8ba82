/**
 * Start the `wasm` backend for training: register the kernels and gradients it lacks
 * (`wasm-kernels.ts`, `gradients.ts`) and run it on several threads in Node.
 *
 * Multi-threading in Node: tfjs-backend-wasm 4.22 turns threads off in Node
 * (`WASM_HAS_MULTITHREAD_SUPPORT` is false when `IS_NODE`), caps the pool at logical cores / 2, and its
 * worker start-up hands emscripten Blob URLs, which Node's worker_threads cannot load. For the
 * threaded build we (1) turn the flag on, (2) make `Blob`/`URL.createObjectURL` write temporary
 * files during initialisation, prefixing the worker script with the module globals it expects,
 * (3) report twice the cores to the cap during initialisation, and (4) `unref()` the workers so they
 * do not keep the process alive. When any of that fails, we start the single-threaded build
 * instead and SAY SO on stderr (and in `wasmThreadingReport()`).
 * @example
 *   import { startWasmBackend, wasmThreadingReport } from './backend/wasm';
 *   await startWasmBackend();            // all cores
 *   console.log(wasmThreadingReport());  // {requested: 2, threads: 2, threaded: true, note: ''}
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import * as wasmBackend from '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from './wasm-kernels';
import { loadNativeKernels, nativeKernelsStatus, setNativeThreads } from './native';
import { registerDilatedConvGradients } from './gradients';

// The real module object (a TS namespace import is a frozen copy whose `cpus` cannot be replaced).
const os = require('os') as typeof import('os');

export interface WasmThreadingReport {
  /** Compute threads asked for (the native kernels run on these; so does wasm's pool without them). */
  requested: number;
  /** Threads wasm's own pool runs (`getThreadsCount()`): 1 when the native kernels are in use, see `wasmPoolThreads`. */
  threads: number;
  /** True when the threaded-SIMD build started. */
  threaded: boolean;
  /** Why fewer threads than requested, or '' when all is well. */
  note: string;
  /** OpenMP threads of the native conv kernels (0 = native kernels not in use; see native.ts). */
  nativeThreads?: number;
}

let report: WasmThreadingReport | null = null;

/** How the wasm backend was started (null before `startWasmBackend`). */
export function wasmThreadingReport(): WasmThreadingReport | null {
  return report;
}

/** The `var require$$N = require('mod')` bindings of the wasm bundle that its worker code references. */
function bundleGlobalsPrelude(): string {
  const bundle = require.resolve('@tensorflow/tfjs-backend-wasm');
  const src = fs.readFileSync(bundle, 'utf8');
  const lines = ['global.commonjsGlobal=globalThis;'];
  const re = /var\s+(require\$\$\d+)\s*=\s*require\('([^']+)'\)/g;
  for (let m = re.exec(src); m; m = re.exec(src)) lines.push(`global.${m[1]}=require(${JSON.stringify(m[2])});`);
  lines.push('URL.createObjectURL=(b)=>(b instanceof String?b.valueOf():b);URL.revokeObjectURL=()=>{};');
  return lines.join('') + '\n';
}

interface PThreadLike { unusedWorkers: { unref(): void }[]; runningWorkers: { unref(): void }[] }

/** Let the process exit while the wasm worker threads idle. */
function unrefWorkers(): void {
  const b = tf.findBackend('wasm') as unknown as { wasm?: { PThread?: PThreadLike } } | null;
  const p = b?.wasm?.PThread;
  if (!p) return;
  for (const w of [...p.unusedWorkers, ...p.runningWorkers]) w.unref();
}

async function initThreaded(threads: number): Promise<boolean> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cwd-tfwasm-'));
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const g = globalThis as unknown as { Blob: unknown };
  const origBlob = g.Blob;
  const origCreate = URL.createObjectURL;
  const origCpus = os.cpus;
  const prelude = bundleGlobalsPrelude();
  let k = 0;
  // The worker script and the module factory are handed over as Blobs: write them to files instead.
  g.Blob = function FileBlob(parts: unknown[]) {
    let text = parts.map(String).join('');
    if (text.startsWith('"use strict";var Module={}')) text = prelude + text;
    const p = path.join(dir, `blob${k++}.js`);
    fs.writeFileSync(p, text);
    return new String(p); // a String object: createObjectURL below tells it from a Blob
  };
  URL.createObjectURL = ((b: unknown) => (b instanceof String ? b.valueOf() : origCreate(b as Blob))) as typeof URL.createObjectURL;
  os.cpus = () => { const c = origCpus(); return c.concat(c); };
  try {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
    wasmBackend.setThreadsCount(threads);
    const ok = await tf.setBackend('wasm');
    if (ok) {
      try {
        unrefWorkers();
      } catch (e) {
        console.warn(`[channel-distill] wasm: could not unref the worker threads (the process may not exit by itself): ${(e as Error).message}`);
      }
    }
    return ok;
  } finally {
    g.Blob = origBlob;
    URL.createObjectURL = origCreate;
    os.cpus = origCpus;
  }
}

/**
 * Threads of wasm's own pool for `requested` compute threads. With the native kernels in use (convs,
 * matmul, element-wise, reductions, batch norm and optimiser updates, each on all threads above a size
 * threshold and on one below it), wasm's pool runs only the small leftover ops, where waking its
 * threads costs more than it saves (measured: the 128x128 step took ~40% less time with one wasm thread; at
 * 256x512 the CPU time was the same): 1. Without them, all `requested`. `CWD_WASM_POOL=N` sets it.
 */
export function wasmPoolThreads(requested: number): number {
  const env = process.env.CWD_WASM_POOL;
  if (env !== undefined) {
    const n = Number(env);
    if (!(Number.isInteger(n) && n >= 1)) throw new Error(`CWD_WASM_POOL=${JSON.stringify(env)} is not a positive integer`);
    return n;
  }
  return requested > 1 && loadNativeKernels().loaded ? 1 : requested;
}

/**
 * Start the wasm backend with `threads` compute threads (default: `CWD_WASM_THREADS`, else all logical cores) and the
 * training kernels: the native kernels run on `threads` (`CWD_NATIVE_THREADS` overrides), wasm's own pool on
 * `wasmPoolThreads(threads)`. Returns false when wasm cannot start at all. A fallback to 1 thread is printed on stderr.
 */
export async function startWasmBackend(threads?: number): Promise<boolean> {
  const ok = await startWasm(threads);
  if (ok && report) {
    registerWasmTrainingKernels();
    registerDilatedConvGradients();
    const native = nativeKernelsStatus();
    if (native?.loaded) {
      report.nativeThreads = setNativeThreads(process.env.CWD_NATIVE_THREADS ? Number(process.env.CWD_NATIVE_THREADS) : report.requested);
    } else {
      report.nativeThreads = 0;
      console.warn(`[channel-distill] wasm: native conv kernels not in use (${native?.note ?? 'not loaded'}); using the slower JS-composed kernels`);
    }
  }
  return ok;
}

async function startWasm(threads?: number): Promise<boolean> {
  const envThreads = process.env.CWD_WASM_THREADS ? Number(process.env.CWD_WASM_THREADS) : undefined;
  if (envThreads !== undefined && !(Number.isInteger(envThreads) && envThreads >= 1)) {
    throw new Error(`CWD_WASM_THREADS=${JSON.stringify(process.env.CWD_WASM_THREADS)} is not a positive integer`);
  }
  const requested = Math.max(1, Math.floor(threads ?? envThreads ?? os.cpus().length));
  const pool = wasmPoolThreads(requested);
  const already = (tf.engine() as unknown as { registry: Record<string, unknown> }).registry.wasm != null;
  if (already) {
    // Initialised earlier (e.g. by a plain tf.setBackend('wasm')): the thread count is fixed now.
    const ok = await tf.setBackend('wasm');
    const n = wasmBackend.getThreadsCount();
    report = { requested, threads: n, threaded: n > 1, note: n < pool ? 'wasm was already initialised with fewer threads' : '' };
    if (report.note) console.warn(`[channel-distill] wasm: ${n} thread(s), ${pool} requested: ${report.note}`);
    return ok;
  }
  let note = '';
  if (pool > 1) {
    try {
      if (await initThreaded(pool)) {
        const n = wasmBackend.getThreadsCount();
        report = { requested, threads: n, threaded: true, note: n < pool ? `the threaded build started ${n} thread(s)` : '' };
        if (report.note) console.warn(`[channel-distill] wasm: ${report.note} (${pool} requested)`);
        return true;
      }
      note = 'the threaded-SIMD wasm build did not initialise';
    } catch (e) {
      note = `the threaded-SIMD wasm build failed: ${(e as Error).message}`;
    }
    // A failed initialisation leaves the registered factory in place: the next setBackend retries it.
  }
  // Single-threaded build.
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  wasmBackend.setThreadsCount(1);
  const ok = await tf.setBackend('wasm');
  report = { requested, threads: ok ? wasmBackend.getThreadsCount() : 0, threaded: false, note };
  if (note && pool > 1) console.warn(`[channel-distill] wasm: falling back to 1 thread (${pool} requested): ${note}`);
  return ok;
}
