/**
 * Backend selection for TensorFlow.js.
 *
 * Order at start-up: `tensorflow` (native libtensorflow through `@tensorflow/tfjs-node-gpu`, then
 * `@tensorflow/tfjs-node`, when they load) → `webgpu` (Dawn from the npm package `webgpu`, on a
 * hardware GPU adapter only; see `lib/backend/webgpu.ts`) → `wasm` (with the training kernels this
 * project registers in `lib/backend/`) → `cpu` (pure JS, slow: a last resort).
 * `CWD_BACKEND=tensorflow|webgpu|wasm|cpu` forces one; a forced backend that cannot start is an
 * error, never a silent fallback. A forced `webgpu` also accepts a software adapter (Mesa llvmpipe).
 * `CWD_NO_AUTO_WEBGPU=1` leaves webgpu out of the automatic choice (test/run.ts sets it for the unit
 * tests, which read tensors synchronously; test/webgpu covers that backend).
 */
import * as tf from '@tensorflow/tfjs';

export type BackendName = 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';
export const BACKENDS: readonly BackendName[] = ['tensorflow', 'webgpu', 'wasm', 'cpu'];

export interface BackendOptions {
  /** Force a backend (overrides `CWD_BACKEND`). */
  backend?: BackendName;
  /** wasm threads (default: all logical cores). */
  threads?: number;
  /** Do not print the "backend: …" line. */
  quiet?: boolean;
}

let initialised: BackendName | null = null;

function tryRequire(name: string): boolean {
  try {
    require(name);
    return true;
  } catch {
    return false;
  }
}

async function startTensorflow(): Promise<boolean> {
  // `@tensorflow/tfjs-node` is mapped to plain `@tensorflow/tfjs` by the package.json override
  // (danfojs-node needs it); only a real native build registers the 'tensorflow' backend.
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    if (tryRequire(pkg) && tf.findBackend('tensorflow')) {
      return tf.setBackend('tensorflow');
    }
  }
  return false;
}

/** Why the last webgpu attempt did not start (for the forced-backend error and the start-up line). */
let webgpuWhy = '';

async function startWebgpu(allowSoftware: boolean): Promise<boolean> {
  const { startWebgpuBackend } = require('./backend/webgpu') as typeof import('./backend/webgpu');
  const r = await startWebgpuBackend({ allowSoftware });
  webgpuWhy = r.why;
  if (!r.ok) throw new Error(r.why);
  return true;
}

async function startWasm(threads?: number): Promise<boolean> {
  const { startWasmBackend } = require('./backend/wasm') as typeof import('./backend/wasm');
  return startWasmBackend(threads);
}

async function startCpu(): Promise<boolean> {
  const { patchCpuBackend } = require('./backend/cpu') as typeof import('./backend/cpu');
  const ok = await tf.setBackend('cpu');
  if (ok) patchCpuBackend();
  return ok;
}

function parseBackend(value: string, source: string): BackendName {
  if ((BACKENDS as readonly string[]).includes(value)) return value as BackendName;
  throw new Error(`${source}=${JSON.stringify(value)} is not a backend: use one of ${BACKENDS.join(', ')}`);
}

/**
 * Pick and start the TensorFlow.js backend once; later calls return the backend in use.
 * @example
 *   const name = await initBackend();            // 'tensorflow' | 'wasm' | 'cpu'
 *   await initBackend({backend: 'wasm'});         // force one (throws if it cannot start)
 */
export async function initBackend(options: BackendOptions = {}): Promise<BackendName> {
  const envValue = process.env.CWD_BACKEND;
  const forced: BackendName | undefined = options.backend
    ?? (envValue ? parseBackend(envValue, 'CWD_BACKEND') : undefined);
  if (initialised) {
    if (forced && forced !== initialised) {
      throw new Error(`backend already initialised as '${initialised}', cannot switch to '${forced}' in the same process`);
    }
    return initialised;
  }
  const starters: Record<BackendName, () => Promise<boolean>> = {
    tensorflow: startTensorflow,
    webgpu: () => startWebgpu(forced === 'webgpu'),
    wasm: () => startWasm(options.threads),
    cpu: startCpu,
  };
  let chosen: BackendName | null = null;
  if (forced) {
    let ok = false;
    let why = '';
    try {
      ok = await starters[forced]();
    } catch (e) {
      why = `: ${(e as Error).message}`;
    }
    if (!ok) {
      const hint = forced === 'tensorflow'
        ? ' (install @tensorflow/tfjs-node-gpu with libtensorflow available: see environment.md)'
        : forced === 'webgpu'
          ? ' (npm `webgpu` + @tensorflow/tfjs-backend-webgpu; without a GPU it needs Mesa EGL: apt-get install libegl1 libegl-dev libegl-mesa0 libgl1-mesa-dri; see environment.md)'
          : '';
      throw new Error(`backend '${forced}' was requested (CWD_BACKEND or options.backend) but could not start${why}${hint}`);
    }
    chosen = forced;
  } else {
    // CWD_NO_AUTO_WEBGPU=1: auto-selection skips webgpu (the unit tests' process: they read synchronously)
    const skip = process.env.CWD_NO_AUTO_WEBGPU === '1' ? ['webgpu'] : [];
    for (const name of BACKENDS.filter((b) => !skip.includes(b))) {
      try {
        if (await starters[name]()) { chosen = name; break; }
      } catch {
        // try the next one; the line printed below says which backend is in use
      }
    }
    if (!chosen) throw new Error(`no TensorFlow.js backend could start (tried ${BACKENDS.join(', ')})`);
  }
  // Gradients tfjs-core lacks (dilated convs, half-pixel bilinear resize), for every backend.
  (require('./backend/gradients') as typeof import('./backend/gradients')).registerDilatedConvGradients();
  initialised = chosen;
  if (!options.quiet && !process.env.CWD_QUIET_BACKEND) {
    const extra = chosen === 'wasm' ? ` (${wasmThreads()} thread(s)${nativeNote()})`
      : chosen === 'cpu' ? ' (pure JS: slow, a last resort)'
        : chosen === 'webgpu' ? ` (${webgpuNote()})` : '';
    // webgpu is skipped quietly when there is simply no (hardware) adapter; anything else is said
    // (no prebuilt dawn.node for the platform, a binary that does not load, a GPU that failed to start).
    const webgpuMissing = chosen !== 'webgpu' && chosen !== 'tensorflow' && webgpuWhy && !/^(no WebGPU adapter|only a software adapter)/.test(webgpuWhy)
      ? ` [webgpu unavailable: ${webgpuWhy}]` : '';
    console.log(`[channel-distill] backend: ${chosen}${extra}${webgpuMissing}`);
  }
  return chosen;
}

/** Backends whose start-up is asynchronous: tfjs cannot start them on the first tensor operation. */
const ASYNC_BACKENDS = ['wasm', 'webgpu', 'webgl'];

/**
 * Using tf before `initBackend()` (e.g. a new notebook cell run before the set-up cell) made tfjs throw
 * "The highest priority backend 'wasm' has not yet been initialized ... await tf.ready()" — and start
 * wasm on its own, without this project's threads and training kernels. While no backend is set and
 * the best registered one starts asynchronously, the engine's `backend` getter now throws an error
 * naming `await initBackend()` instead, and starts nothing. Installed when this module loads.
 */
function guardUninitialisedBackend(): void {
  const engine = tf.engine() as any;
  if (engine.__channelDistillGuard) return;
  const getter = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(engine), 'backend')?.get;
  if (!getter || !('registryFactory' in engine)) return; // a different tfjs-core: keep its own message
  Object.defineProperty(engine, 'backend', {
    configurable: true,
    get(this: any) {
      if (this.backendInstance == null && this.pendingBackendInit == null && !initialised) {
        const entries = Object.entries(this.registryFactory as Record<string, { priority: number }>);
        const best = entries.sort((a, b) => b[1].priority - a[1].priority)[0]?.[0];
        if (best && ASYNC_BACKENDS.includes(best)) {
          throw new Error('TensorFlow.js has no backend yet: run `await initBackend()` (exported by lib/backend.ts and ' +
            "'./lib') before the first tensor operation. In a notebook, run the set-up cell at the top first; " +
            `it calls initBackend(). (Without it, tfjs would start '${best}' on its own, without this project's threads and training kernels.)`);
        }
      }
      return getter.call(this);
    },
  });
  engine.__channelDistillGuard = true;
}
guardUninitialisedBackend();

/** The backend chosen by `initBackend`, or null before it ran. */
export function currentBackend(): BackendName | null {
  return initialised;
}

/**
 * The backend set-up as a short key: the backend name, plus `-native` when the wasm backend runs the
 * project's native kernels (they change float rounding, so results of the two set-ups are kept apart).
 * The notebooks put it in the folder of their runs, so a finished run is reused only on the same set-up.
 * @example backendSetup()   // 'wasm-native' after initBackend() on a machine with g++
 */
export function backendSetup(): string {
  if (!initialised) throw new Error('backendSetup(): call `await initBackend()` first');
  if (initialised !== 'wasm') return initialised;
  const s = (require('./backend/native') as typeof import('./backend/native')).nativeKernelsStatus();
  return s?.loaded ? 'wasm-native' : 'wasm';
}

function webgpuNote(): string {
  const w = require('./backend/webgpu') as typeof import('./backend/webgpu');
  const a = w.webgpuReport()?.adapter;
  if (!a) return 'adapter unknown';
  return `adapter: ${w.describeAdapter(a)}${a.software ? ' — a CPU implementation: correct but slow, for tests only' : ''}`;
}

function nativeNote(): string {
  const s = (require('./backend/native') as typeof import('./backend/native')).nativeKernelsStatus();
  return s?.loaded ? `, native kernels on ${s.threads} thread(s)` : ', JS training kernels';
}

function wasmThreads(): number {
  try {
    return (require('@tensorflow/tfjs-backend-wasm') as { getThreadsCount(): number }).getThreadsCount();
  } catch {
    return 1;
  }
}

// Training kernels, gradients and fixes (wasm threads, dilated conv gradients, cpu ResizeBilinearGrad).
export * from './backend/index';
