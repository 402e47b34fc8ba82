/**
 * The `webgpu` backend in Node: `@tensorflow/tfjs-backend-webgpu` 4.22 on Dawn (Chrome's WebGPU),
 * loaded from the prebuilt `dawn.node` of the npm package `webgpu` — no download, no CUDA toolkit.
 *
 * Adapters are probed with Dawn before the tfjs backend is registered:
 * 1. Dawn's default backend (Vulkan on Linux, Metal on macOS, D3D12 on Windows), high-performance;
 * 2. OpenGL ES through EGL (`EGL_PLATFORM=surfaceless`) at WebGPU's compatibility feature level —
 *    on a machine without a GPU this is Mesa's llvmpipe (Debian: libegl1 libegl-dev libegl-mesa0
 *    libgl1-mesa-dri).
 * A software adapter (llvmpipe, lavapipe, SwiftShader, or one Dawn marks as fallback) is accepted only
 * when `webgpu` is forced (`CWD_BACKEND=webgpu`): it is ~10× slower than wasm and only good for
 * correctness tests. Auto-selection probes step 1 only (quiet, ~1 s), so a CPU machine pays no more.
 *
 * tfjs-backend-webgpu cannot read tensors synchronously in Node (`dataSync`/`arraySync` throw
 * `ReferenceError: OffscreenCanvas is not defined`): code meant to run on it reads with
 * `await t.data()`.
 * @example
 *   const r = await startWebgpuBackend({ allowSoftware: true });
 *   if (r.ok) console.log(describeAdapter(r.adapter!));   // "llvmpipe-… (OpenGL ES 3.2 Mesa 22.3.6; software, opengles)"
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { replaceKernel } from './kernel-registry';
import { asTensor } from './conv-util';
import { resizeBilinearGradDense } from './gradients';

/** What `startWebgpuBackend` found (also kept for `webgpuReport()`). */
export interface WebgpuAdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** Dawn's backend behind the adapter: 'default' (Vulkan/Metal/D3D12) or 'opengles'. */
  dawnBackend: string;
  /** llvmpipe / lavapipe / SwiftShader / fallback: a CPU implementation. */
  software: boolean;
  /** 'core' or 'compatibility' (OpenGL ES). */
  featureLevel: 'core' | 'compatibility';
  /** The limits that bound the largest tensor (bytes). */
  limits: { maxBufferSize: number; maxStorageBufferBindingSize: number };
}

export interface WebgpuStartResult {
  ok: boolean;
  adapter: WebgpuAdapterInfo | null;
  /** Every adapter probe, in order, with what it gave (for error messages and `npm run gpu-check`). */
  probes: string[];
  /** Why it did not start ('' when ok). */
  why: string;
}

export interface WebgpuStartOptions {
  /** Accept a software adapter (only when the user forced `webgpu`). */
  allowSoftware?: boolean;
  /** Also try OpenGL ES/EGL when the default backend gives no hardware adapter (default: allowSoftware). */
  tryOpenGLES?: boolean;
}

interface DawnModule {
  create(options: string[]): GPULike;
  globals: Record<string, unknown>;
}
interface GPULike { requestAdapter(o?: Record<string, unknown>): Promise<AdapterLike | null> }
interface AdapterLike { info?: Record<string, unknown>; features: Set<string>; limits: Record<string, number>; requestDevice(d?: unknown): Promise<unknown> }

const SOFTWARE_RE = /llvmpipe|lavapipe|softpipe|swiftshader|software rasterizer|microsoft basic render/i;

let report: WebgpuStartResult | null = null;

/** How the webgpu backend was started (null before `startWebgpuBackend`). */
export function webgpuReport(): WebgpuStartResult | null {
  return report;
}

/** `vendor device (description; software|hardware, dawn backend, feature level)`, for the start-up line. */
export function describeAdapter(a: WebgpuAdapterInfo): string {
  const name = [a.vendor, a.device || a.architecture].filter(Boolean).join(' ') || 'unnamed adapter';
  const bits = [a.description, a.software ? 'software' : 'hardware', a.dawnBackend === 'default' ? '' : a.dawnBackend,
    a.featureLevel === 'compatibility' ? 'compatibility' : ''].filter(Boolean);
  return `${name} (${bits.join(', ')})`;
}

/**
 * Where `dawn.node` is: `CWD_DAWN_NODE` (the packed GPU check sets it), else the npm package
 * `webgpu`'s `dist/<platform>-<arch>/dawn.node`. Throws a clear error when the package has no
 * prebuilt binary for this platform.
 */
export function dawnNodePath(): string {
  const env = process.env.CWD_DAWN_NODE;
  if (env) {
    if (!fs.existsSync(env)) throw new Error(`CWD_DAWN_NODE=${env}: no such file`);
    return env;
  }
  let pkgDir: string;
  try {
    pkgDir = path.dirname(require.resolve('webgpu/package.json'));
  } catch {
    throw new Error('the npm package `webgpu` is not installed (it is a dependency: run `npm ci`)');
  }
  const arch = process.platform === 'darwin' ? 'universal' : process.arch;
  const file = path.join(pkgDir, 'dist', `${process.platform}-${arch}`, 'dawn.node');
  if (!fs.existsSync(file)) {
    const have = fs.existsSync(path.join(pkgDir, 'dist')) ? fs.readdirSync(path.join(pkgDir, 'dist')).join(', ') : 'none';
    throw new Error(`npm \`webgpu\` has no prebuilt dawn.node for ${process.platform}-${arch} (it ships: ${have}); the webgpu backend is unavailable here`);
  }
  return file;
}

let dawn: DawnModule | null = null;
const liveInstances: GPULike[] = [];

function loadDawn(): DawnModule {
  if (dawn) return dawn;
  const file = dawnNodePath();
  try {
    dawn = require(file) as DawnModule;
  } catch (e) {
    throw new Error(`could not load ${file}: ${(e as Error).message} (dawn.node needs glibc ≥ 2.34 on Linux)`);
  }
  // GPUBufferUsage, GPUMapMode, … are globals in a browser; tfjs-backend-webgpu uses them.
  for (const [k, v] of Object.entries(dawn.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  return dawn;
}

function infoOf(adapter: AdapterLike, dawnBackend: string, featureLevel: 'core' | 'compatibility'): WebgpuAdapterInfo {
  const i = adapter.info ?? {};
  const s = (k: string) => (typeof i[k] === 'string' ? (i[k] as string) : '');
  const text = `${s('vendor')} ${s('architecture')} ${s('device')} ${s('description')}`;
  return {
    vendor: s('vendor'), architecture: s('architecture'), device: s('device'), description: s('description'),
    dawnBackend, featureLevel, software: i.isFallbackAdapter === true || SOFTWARE_RE.test(text),
    limits: { maxBufferSize: Number(adapter.limits?.maxBufferSize ?? 0), maxStorageBufferBindingSize: Number(adapter.limits?.maxStorageBufferBindingSize ?? 0) },
  };
}

/** Probe the adapters Dawn offers (see the file comment), without registering anything. */
export async function probeWebgpuAdapters(options: WebgpuStartOptions = {}): Promise<{ adapter: AdapterLike | null; info: WebgpuAdapterInfo | null; probes: string[] }> {
  const allowSoftware = !!options.allowSoftware;
  const tryGLES = options.tryOpenGLES ?? allowSoftware;
  const d = loadDawn();
  const probes: string[] = [];
  let software: { adapter: AdapterLike; info: WebgpuAdapterInfo } | null = null;
  const attempts: { flags: string[]; request: Record<string, unknown>; name: string; level: 'core' | 'compatibility' }[] = [
    { flags: [], request: { powerPreference: 'high-performance' }, name: 'default', level: 'core' },
  ];
  if (tryGLES) attempts.push({ flags: ['backend=opengles'], request: { featureLevel: 'compatibility', powerPreference: 'high-performance' }, name: 'opengles', level: 'compatibility' });
  for (const at of attempts) {
    if (at.name === 'default' && !allowSoftware && process.platform === 'linux' && !libraryFindable('libvulkan.so.1')) {
      // Dawn would print a "Couldn't load Vulkan" warning at every start of a CPU-only machine.
      probes.push('default: skipped, libvulkan.so.1 not found (Debian: libvulkan1)');
      continue;
    }
    if (at.name === 'opengles' && !process.env.EGL_PLATFORM) process.env.EGL_PLATFORM = 'surfaceless';
    let adapter: AdapterLike | null = null;
    try {
      // Keep every Dawn instance alive: an adapter whose instance was garbage-collected never
      // answers requestDevice (the process then hangs).
      const gpu = d.create(at.flags);
      liveInstances.push(gpu);
      adapter = await gpu.requestAdapter(at.request);
    } catch (e) {
      probes.push(`${at.name}: error ${(e as Error).message}`);
      continue;
    }
    if (!adapter) {
      probes.push(`${at.name}: no adapter${at.name === 'default' && process.platform === 'linux' ? ' (Vulkan: needs libvulkan.so.1 and a GPU driver ICD)' : at.name === 'opengles' ? ' (EGL: needs libEGL.so from libegl-dev and a driver, e.g. Mesa libegl-mesa0 libgl1-mesa-dri)' : ''}`);
      continue;
    }
    const info = infoOf(adapter, at.name, at.level);
    probes.push(`${at.name}: ${describeAdapter(info)}`);
    if (!info.software) return { adapter, info, probes };
    software ??= { adapter, info };
  }
  if (software && allowSoftware) return { ...software, probes };
  return { adapter: null, info: software?.info ?? null, probes };
}

/** Whether the dynamic loader can find `name` (LD_LIBRARY_PATH, the ld.so cache, the usual dirs). */
export function libraryFindable(name: string): boolean {
  const dirs = [...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
    '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib/x86_64-linux-gnu', '/usr/local/lib'];
  if (dirs.some((d) => fs.existsSync(path.join(d, name)))) return true;
  try {
    return fs.readFileSync('/etc/ld.so.cache').includes(Buffer.from(name));
  } catch {
    return false;
  }
}

function setNavigatorGpu(adapter: AdapterLike): void {
  // tfjs-backend-webgpu registers itself only when navigator.gpu exists, and its factory asks
  // navigator.gpu for an adapter: hand it the one chosen here. Node ≥ 21 defines a read-only navigator.
  const gpu = { requestAdapter: async () => adapter, getPreferredCanvasFormat: () => 'rgba8unorm' };
  const nav = (globalThis as unknown as { navigator?: object }).navigator;
  if (nav) Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true, writable: true });
  else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
}

/**
 * Probe adapters, register tfjs-backend-webgpu on the chosen one and `tf.setBackend('webgpu')`.
 * Never throws: `ok: false` with `why` and the probes when no acceptable adapter is found.
 */
export async function startWebgpuBackend(options: WebgpuStartOptions = {}): Promise<WebgpuStartResult> {
  let res: WebgpuStartResult;
  try {
    const { adapter, info, probes } = await probeWebgpuAdapters(options);
    if (!adapter || !info) {
      const why = info?.software
        ? `only a software adapter (${describeAdapter(info)}); it is used only when forced with CWD_BACKEND=webgpu`
        : 'no WebGPU adapter';
      res = { ok: false, adapter: info, probes, why: `${why} [${probes.join('; ')}]` };
    } else {
      setNavigatorGpu(adapter);
      if (!tf.findBackendFactory('webgpu')) {
        require('@tensorflow/tfjs-backend-webgpu');
      }
      if (!tf.findBackendFactory('webgpu')) throw new Error('@tensorflow/tfjs-backend-webgpu did not register a backend');
      const ok = await tf.setBackend('webgpu');
      if (ok) registerWebgpuFixes();
      res = { ok, adapter: info, probes, why: ok ? '' : `tf.setBackend('webgpu') failed on ${describeAdapter(info)}` };
    }
  } catch (e) {
    res = { ok: false, adapter: null, probes: [], why: (e as Error).message };
  }
  report = res;
  return res;
}

let fixed = false;
const stockKernels = new Map<string, tf.KernelConfig>();

/** The stock tfjs-backend-webgpu kernel that `registerWebgpuFixes` replaced (for the regression test). */
export function webgpuStockKernel(name: string): tf.KernelConfig | undefined {
  return stockKernels.get(name);
}

/**
 * Kernel fixes for tfjs-backend-webgpu 4.22 (idempotent; `startWebgpuBackend` calls it; see
 * README.md for reproductions):
 * - `ResizeBilinearGrad` returns zeros when `alignCorners` is true and the image is 1 pixel high or
 *   wide (the 1×1 bin of PSPNet's pyramid pooling): those cases go to the dense transposed
 *   interpolation of `gradients.ts`, the rest to the stock kernel;
 * - `Cast` int32/bool → float32 relabels the GPU buffer without converting it (a later transpose
 *   fails to compile or reads integer bits as floats: IFVD's one-hot, PA's max-pool mask): converted
 *   with a multiply by a float 1;
 * - `PadV2` of rank 5 and 6 does not compile (the output stays zeros): padded one axis at a time.
 */
export function registerWebgpuFixes(): void {
  if (fixed) return;
  const original = tf.getKernel('ResizeBilinearGrad', 'webgpu');
  if (!original) throw new Error('registerWebgpuFixes: the webgpu backend has no ResizeBilinearGrad kernel');
  stockKernels.set('ResizeBilinearGrad', original);
  replaceKernel('ResizeBilinearGrad', 'webgpu', (args) => {
    const a = args.attrs as { alignCorners?: boolean; halfPixelCenters?: boolean };
    const images = asTensor<tf.Rank.R4>(args.inputs.images, 'ResizeBilinearGrad (webgpu)');
    const dy = asTensor<tf.Rank.R4>(args.inputs.dy, 'ResizeBilinearGrad (webgpu)');
    if (a.alignCorners && (images.shape[1] === 1 || images.shape[2] === 1)) {
      return resizeBilinearGradDense(dy, images.shape, true, !!a.halfPixelCenters);
    }
    return original.kernelFunc(args);
  });
  const cast = tf.getKernel('Cast', 'webgpu');
  if (!cast) throw new Error('registerWebgpuFixes: the webgpu backend has no Cast kernel');
  stockKernels.set('Cast', cast);
  replaceKernel('Cast', 'webgpu', (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    if ((args.attrs as { dtype: string }).dtype === 'float32' && (x.dtype === 'int32' || x.dtype === 'bool')) {
      // The stock kernel relabels the int32 buffer as float32 without converting it: a multiply by a
      // float 1 converts for real.
      const one = tf.scalar(1, 'float32');
      const out = tf.engine().runKernel('Multiply', { a: asTensor(x, 'Cast (webgpu)'), b: one }, {}) as tf.Tensor;
      one.dispose();
      return out;
    }
    return cast.kernelFunc(args);
  });
  const pad = tf.getKernel('PadV2', 'webgpu');
  if (!pad) throw new Error('registerWebgpuFixes: the webgpu backend has no PadV2 kernel');
  stockKernels.set('PadV2', pad);
  replaceKernel('PadV2', 'webgpu', (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    if (x.shape.length <= 4) return pad.kernelFunc(args);
    // rank 5 and 6: the stock shader does not compile (`cannot index type 'vec5'`).
    // Pad one axis at a time as a rank-3 pad of [before, axis, after].
    const { paddings, constantValue } = args.attrs as { paddings: [number, number][]; constantValue: number };
    return tf.tidy(() => {
      let y = asTensor(x, 'PadV2 (webgpu)');
      paddings.forEach(([a, b], i) => {
        if (!a && !b) return;
        const shape = y.shape.slice();
        const before = shape.slice(0, i).reduce((p, q) => p * q, 1);
        const after = shape.slice(i + 1).reduce((p, q) => p * q, 1);
        const padded = tf.pad(tf.reshape(y, [before, shape[i], after]), [[0, 0], [a, b], [0, 0]], constantValue);
        shape[i] += a + b;
        y = tf.reshape(padded, shape);
      });
      return y === x ? tf.clone(y) : y;
    });
  });
  fixed = true;
}
