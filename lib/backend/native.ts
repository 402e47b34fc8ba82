/**
 * Optional native kernels for the wasm backend (`native/cwd_kernels.cc`, N-API + OpenMP).
 *
 * The wasm backend keeps every tensor in its WebAssembly heap; these kernels receive Float32Array
 * views of that heap and compute in place (no copies), compiled for the machine
 * (`-O3 -march=native -fopenmp`). For the 'wasm' backend they replace (`registerWasmTrainingKernels`
 * in wasm-kernels.ts registers them):
 * - the convolutions (`nativeKernelFuncs`), an im2col-free packed GEMM: `Conv2D`, `FusedConv2D`
 *   (bias + linear/relu/relu6), `Conv2DBackpropFilter`, `Conv2DBackpropInput`,
 *   `DepthwiseConv2dNativeBackpropFilter/Input`;
 * - the element-wise, reduction and data-movement kernels of `NATIVE_ELEMENTWISE`
 *   (`nativeElementwiseFuncs`: Add, Sub, Multiply, RealDiv, Exp, Relu, Sum, Mean, Max, BatchMatMul,
 *   Slice, SplitV, AvgPoolGrad, MaxPoolGrad, OneHot) for large float32 tensors, unless
 *   `CWD_NATIVE_ELEMENTWISE=0`; and `ResizeBilinearGrad` always (its halfPixelCenters gradient).
 * Each handles NHWC float32 with the broadcasts it knows; anything else goes to the previous implementation.
 * The same addon also holds the fused distillation-loss kernels of `native/loss_kernels.cc`, registered by
 * loss-kernels.ts.
 *
 * Build: `npx tsx lib/backend/native.ts build` (or automatically on first use when g++ and the Node
 * headers are present) writes `lib/backend/native/build/cwd_kernels-<source hash>.node`. Nothing is downloaded.
 * When the addon cannot be built or loaded, the JS kernels of `wasm-kernels.ts` stay in use and
 * `nativeKernelsStatus()` says why (printed once by `startWasmBackend`). `CWD_NATIVE=0` disables it.
 * @example
 *   import { loadNativeKernels, nativeKernelsStatus } from './native';
 *   loadNativeKernels();              // {loaded: true, path: '…/cwd_kernels.node', note: ''}
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { createHash } from 'crypto';
import * as tf from '@tensorflow/tfjs';

export interface NativeAddon {
  conv2d(x: Float32Array, w: Float32Array, y: Float32Array, dims: Int32Array, bias: Float32Array | null, act: number): void;
  backpropFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, dims: Int32Array): void;
  backpropInput(dy: Float32Array, w: Float32Array, dx: Float32Array, dims: Int32Array): void;
  setThreads(n: number): number;
  matmul(a: Float32Array, b: Float32Array, c: Float32Array, batchA: number, batchB: number, m: number, k: number, n: number, transA: boolean, transB: boolean): void;
  slice(x: Float32Array, out: Float32Array, shape: Int32Array, begin: Int32Array, size: Int32Array): void;
  avgPoolGrad(dy: Float32Array, dx: Float32Array, params: Int32Array, scale: number): void;
  maxPoolGrad(x: Float32Array, dy: Float32Array, dx: Float32Array, params: Int32Array): void;
  oneHot(indices: Int32Array, out: Float32Array, depth: number, on: number, off: number): void;
  resizeBilinearGrad(dy: Float32Array, dx: Float32Array, params: Int32Array, alignCorners: boolean, halfPixelCenters: boolean): void;
  dwBackpropFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, dims: Int32Array): void;
  dwBackpropInput(dy: Float32Array, w: Float32Array, dx: Float32Array, dims: Int32Array): void;
  dwConv2d(x: Float32Array, w: Float32Array, y: Float32Array, dims: Int32Array, bias: Float32Array | null, act: number): void;
  bnMoving(movingMean: Float32Array, movingVariance: Float32Array, mean: Float32Array, variance: Float32Array, outMean: Float32Array, outVariance: Float32Array, momentum: number): void;
  clipGrad(dy: Float32Array, x: Float32Array, dx: Float32Array, lo: number, hi: number): void;
  reluGrad(dy: Float32Array, y: Float32Array, dx: Float32Array): void;
  sgdUpdate(w: Float32Array, g: Float32Array, v: Float32Array, wOut: Float32Array, vOut: Float32Array, lr: number, momentum: number, weightDecay: number): void;
  adamUpdate(w: Float32Array, g: Float32Array, m: Float32Array, s: Float32Array, wOut: Float32Array, mOut: Float32Array, sOut: Float32Array,
    lr: number, beta1: number, beta2: number, epsilon: number, weightDecay: number, biasCorrection1: number, biasCorrection2: number): void;
  bnForward(x: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array, mean: Float32Array, variance: Float32Array, c: number, eps: number): void;
  bnBackward(dy: Float32Array, x: Float32Array, mean: Float32Array, variance: Float32Array, gamma: Float32Array,
    dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array, c: number, eps: number): void;
  binary(op: number, a: Float32Array, b: Float32Array, out: Float32Array, rows: number, c: number, mode: number): void;
  unary(op: number, x: Float32Array, out: Float32Array): void;
  reduceRows(x: Float32Array, out: Float32Array, rows: number, c: number, scale: number): void;
  reduceLast(x: Float32Array, out: Float32Array, rows: number, c: number, op: number, scale: number): void;
}

export interface NativeStatus {
  loaded: boolean;
  /** The .node file in use (or the one that failed). */
  path: string;
  /** Why the addon is not in use, or '' when it is. */
  note: string;
  threads: number;
}

const SRC = path.join(__dirname, 'native', 'cwd_kernels.cc');
/**
 * All sources of the addon, compiled in one g++ call: the conv/element-wise kernels and the fused losses
 * (`loss_kernels.cc`, registered by loss-kernels.ts). `-Dnapi_register_module_v1=…` renames
 * cwd_kernels.cc's module entry point; loss_kernels.cc defines the real one, which calls it first.
 */
const SOURCES = [SRC, path.join(__dirname, 'native', 'loss_kernels.cc')];
const OUT_DIR = path.join(__dirname, 'native', 'build');
/** The build is named by a hash of the source (and compiler flags), so a stale build is never loaded. */
const FLAGS = ['-O3', '-march=native', '-fopenmp', '-shared', '-fPIC', '-std=c++17', '-DNODE_GYP_MODULE_NAME=cwd_kernels', '-Dnapi_register_module_v1=cwd_kernels_register_module'];
function sourceHash(): string {
  try {
    // -march=native: the CPU model is part of the name, so a checkout shared across machines rebuilds
    const cpu = require('os').cpus()[0]?.model ?? '';
    const h = createHash('sha1');
    for (const src of SOURCES) h.update(fs.readFileSync(src));
    return h.update(FLAGS.join(' ')).update(cpu).update(process.versions.napi ?? '').digest('hex').slice(0, 12);
  } catch {
    return 'missing-source';
  }
}
const OUT = path.join(OUT_DIR, `cwd_kernels-${sourceHash()}.node`);

let addon: NativeAddon | null = null;
let status: NativeStatus | null = null;

/** Directory holding `node_api.h` for the running Node, or null. */
function nodeIncludeDir(): string | null {
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  const candidates = [
    process.env.npm_config_nodedir ? path.join(process.env.npm_config_nodedir, 'include', 'node') : '',
    path.join(prefix, 'include', 'node'),
    '/usr/include/node',
    '/usr/include/nodejs/src',
    '/usr/include/nodejs',
  ].filter(Boolean);
  return candidates.find((d) => fs.existsSync(path.join(d, 'node_api.h'))) ?? null;
}

/**
 * Compile the addon with g++ (no downloads). Returns '' on success or the reason it failed.
 * @example buildNativeKernels()  // '' → lib/backend/native/build/cwd_kernels.node
 */
export function buildNativeKernels(options: { quiet?: boolean } = {}): string {
  const include = nodeIncludeDir();
  if (!include) return 'no node_api.h found (install the Node.js headers, e.g. Debian libnode-dev, or set npm_config_nodedir)';
  const cxx = process.env.CXX || 'g++';
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const tmp = `${OUT}.${process.pid}.tmp`;
  const args = [...FLAGS, `-I${include}`, ...SOURCES, '-o', tmp];
  if (!options.quiet) console.error(`[channel-distill] building native conv kernels: ${cxx} ${args.join(' ')}`);
  const r = spawnSync(cxx, args, { encoding: 'utf8' });
  if (r.error) return `${cxx} could not run: ${r.error.message}`;
  if (r.status !== 0) {
    fs.rmSync(tmp, { force: true });
    return `${cxx} failed (exit ${r.status}): ${(r.stderr || '').split('\n').slice(0, 5).join(' | ')}`;
  }
  fs.renameSync(tmp, OUT); // atomic: concurrent processes never load a half-written file
  // drop builds of older sources (a process that loaded one keeps its mapping)
  for (const f of fs.readdirSync(OUT_DIR)) {
    if (/^cwd_kernels-[0-9a-f]+\.node$/.test(f) && path.join(OUT_DIR, f) !== OUT) fs.rmSync(path.join(OUT_DIR, f), { force: true });
  }
  return '';
}

function stale(): boolean {
  return !fs.existsSync(OUT);
}

/**
 * Load (building first if needed) the native addon. Never throws: check `loaded`/`note`.
 * `CWD_NATIVE=0` turns it off.
 */
export function loadNativeKernels(): NativeStatus {
  if (status) return status;
  if (process.env.CWD_NATIVE === '0') {
    status = { loaded: false, path: OUT, note: 'disabled by CWD_NATIVE=0', threads: 0 };
    return status;
  }
  let note = '';
  if (stale()) {
    try {
      note = buildNativeKernels();
    } catch (e) {
      note = `could not build into ${OUT_DIR}: ${(e as Error).message}`;
    }
  }
  if (!note) {
    // Idle OpenMP threads sleep instead of spinning (the wasm threads and other processes share the cores).
    process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
    try {
      addon = require(OUT) as NativeAddon;
    } catch (e) {
      note = `could not load ${OUT}: ${(e as Error).message}`;
    }
  }
  status = addon
    ? { loaded: true, path: OUT, note: '', threads: addon.setThreads(0) }
    : { loaded: false, path: OUT, note, threads: 0 };
  return status;
}

/** The addon's state (null before `loadNativeKernels`). */
export function nativeKernelsStatus(): NativeStatus | null {
  return status;
}

/** Set the OpenMP thread count of the native kernels (0 = OpenMP's default). Returns the count in use. */
export function setNativeThreads(n: number): number {
  if (!addon) return 0;
  const t = addon.setThreads(n);
  if (status) status.threads = t;
  return t;
}

// ---- kernels ----------------------------------------------------------------------------------

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
}

type KernelArgs = Parameters<tf.KernelFunc>[0];
type AnyAttrs = Record<string, any>;

function dims(ci: tf.backend_util.Conv2DInfo): Int32Array {
  return Int32Array.from([
    ci.batchSize, ci.inHeight, ci.inWidth, ci.inChannels, ci.outHeight, ci.outWidth, ci.outChannels,
    ci.filterHeight, ci.filterWidth, ci.strideHeight, ci.strideWidth, ci.dilationHeight, ci.dilationWidth,
    ci.padInfo.top, ci.padInfo.left,
  ]);
}

function allFloat(...ts: (tf.TensorInfo | undefined)[]): boolean {
  return ts.every((t) => !t || t.dtype === 'float32');
}

const ACT: Record<string, number> = { linear: 0, relu: 1, relu6: 2 };

/**
 * Training-mode batch normalisation over the last axis as one native kernel (registered for wasm
 * when the addon is in use): inputs x, gamma, beta; attr epsilon; outputs y, batch mean, biased
 * batch variance. lib/models' `batchNormTraining` uses it when the backend has it.
 */
export const BATCH_NORM_TRAINING = 'CwdBatchNormTraining';
/** Its gradient: inputs dy, x, mean, variance, gamma; attr epsilon; outputs dx, dgamma, dbeta. */
export const BATCH_NORM_TRAINING_GRAD = 'CwdBatchNormTrainingGrad';
/**
 * One optimiser update of one variable as one kernel (lib/train/optim.ts uses it when the backend has
 * it): inputs w, g, m (SGD: the momentum buffer v) and, for Adam, s; attrs type ('sgd' | 'adam'), lr,
 * momentum, weightDecay, beta1, beta2, epsilon, biasCorrection1, biasCorrection2;
 * outputs the new w, m (and s), with optim.ts's formulas.
 */
export const OPTIMIZER_UPDATE = 'CwdOptimizerUpdate';

/** Native kernel functions, each falling back to `fallback` for what it does not handle. */
export function nativeKernelFuncs(fallback: Record<string, tf.KernelFunc>): Record<string, tf.KernelFunc> {
  const a = addon;
  if (!a) throw new Error('nativeKernelFuncs: the native addon is not loaded (call loadNativeKernels first)');
  // depthwise forward (plain or fused bias + linear/relu/relu6), any channel multiplier
  const depthwise = (args: KernelArgs, name: 'DepthwiseConv2dNative' | 'FusedDepthwiseConv2D'): tf.TensorInfo => {
    const { x, filter, bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo | undefined>;
    const at = args.attrs as AnyAttrs;
    const act = ACT[at.activation ?? 'linear'];
    const xi = x as tf.TensorInfo;
    const fi = filter as tf.TensorInfo;
    if ((at.dataFormat && at.dataFormat !== 'NHWC') || act === undefined || preluActivationWeights || !allFloat(xi, fi, bias)
      || xi.shape.length !== 4 || (bias && tf.util.sizeFromShape(bias.shape) !== fi.shape[2] * fi.shape[3])) {
      return fallback[name](args) as tf.TensorInfo;
    }
    const be = args.backend as unknown as WasmBackendLike;
    const ci = tf.backend_util.computeConv2DInfo(xi.shape as [number, number, number, number], fi.shape as [number, number, number, number],
      at.strides, at.dilations ?? 1, at.pad, at.dimRoundingMode, true);
    const out = be.makeOutput(ci.outShape, 'float32');
    a.dwConv2d(be.typedArrayFromHeap(xi), be.typedArrayFromHeap(fi), be.typedArrayFromHeap(out), dims(ci), bias ? be.typedArrayFromHeap(bias) : null, act);
    return out;
  };
  return {
    Conv2D: (args: KernelArgs) => {
      const { x, filter } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
      const at = args.attrs as AnyAttrs;
      if ((at.dataFormat && at.dataFormat !== 'NHWC') || !allFloat(x, filter)) return fallback.Conv2D(args);
      const be = args.backend as unknown as WasmBackendLike;
      const ci = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filter.shape as [number, number, number, number],
        at.strides, at.dilations ?? 1, at.pad, at.dimRoundingMode);
      const out = be.makeOutput(ci.outShape, 'float32');
      a.conv2d(be.typedArrayFromHeap(x), be.typedArrayFromHeap(filter), be.typedArrayFromHeap(out), dims(ci), null, 0);
      return out;
    },
    FusedConv2D: (args: KernelArgs) => {
      const { x, filter, bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo | undefined>;
      const at = args.attrs as AnyAttrs;
      const act = ACT[at.activation ?? 'linear'];
      if ((at.dataFormat && at.dataFormat !== 'NHWC') || act === undefined || preluActivationWeights || !allFloat(x, filter, bias)) {
        return fallback.FusedConv2D(args);
      }
      const xi = x as tf.TensorInfo;
      const fi = filter as tf.TensorInfo;
      const co = fi.shape[3];
      if (bias && tf.util.sizeFromShape(bias.shape) !== co) return fallback.FusedConv2D(args);
      const be = args.backend as unknown as WasmBackendLike;
      const ci = tf.backend_util.computeConv2DInfo(xi.shape as [number, number, number, number], fi.shape as [number, number, number, number],
        at.strides, at.dilations ?? 1, at.pad, at.dimRoundingMode);
      const out = be.makeOutput(ci.outShape, 'float32');
      a.conv2d(be.typedArrayFromHeap(xi), be.typedArrayFromHeap(fi), be.typedArrayFromHeap(out), dims(ci),
        bias ? be.typedArrayFromHeap(bias) : null, act);
      return out;
    },
    Conv2DBackpropFilter: (args: KernelArgs) => {
      const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
      const at = args.attrs as AnyAttrs;
      if ((at.dataFormat && at.dataFormat !== 'NHWC') || !allFloat(x, dy)) return fallback.Conv2DBackpropFilter(args);
      const be = args.backend as unknown as WasmBackendLike;
      const ci = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], at.filterShape,
        at.strides, at.dilations ?? 1, at.pad, at.dimRoundingMode);
      const out = be.makeOutput(at.filterShape, 'float32');
      a.backpropFilter(be.typedArrayFromHeap(x), be.typedArrayFromHeap(dy), be.typedArrayFromHeap(out), dims(ci));
      return out;
    },
    DepthwiseConv2dNative: (args: KernelArgs) => depthwise(args, 'DepthwiseConv2dNative'),
    FusedDepthwiseConv2D: (args: KernelArgs) => depthwise(args, 'FusedDepthwiseConv2D'),
    [BATCH_NORM_TRAINING]: (args: KernelArgs) => {
      const { x, gamma, beta } = args.inputs as Record<string, tf.TensorInfo>;
      const eps = (args.attrs as AnyAttrs).epsilon as number;
      const c = x.shape[x.shape.length - 1];
      if (!allFloat(x, gamma, beta) || tf.util.sizeFromShape(gamma.shape) !== c || tf.util.sizeFromShape(beta.shape) !== c) {
        throw new Error(`${BATCH_NORM_TRAINING}: float32 x [..., C] with gamma and beta of C, got x ${x.shape}, gamma ${gamma.shape}, beta ${beta.shape}`);
      }
      const be = args.backend as unknown as WasmBackendLike;
      const y = be.makeOutput(x.shape, 'float32');
      const mean = be.makeOutput([c], 'float32');
      const variance = be.makeOutput([c], 'float32');
      a.bnForward(be.typedArrayFromHeap(x), be.typedArrayFromHeap(gamma), be.typedArrayFromHeap(beta), be.typedArrayFromHeap(y),
        be.typedArrayFromHeap(mean), be.typedArrayFromHeap(variance), c, eps);
      return [y, mean, variance];
    },
    CwdBatchNormMovingUpdate: (args: KernelArgs) => {
      const { movingMean, movingVariance, mean, variance } = args.inputs as Record<string, tf.TensorInfo>;
      const ins = [movingMean, movingVariance, mean, variance];
      if (!allFloat(...ins) || ins.some((t) => tf.util.sizeFromShape(t.shape) !== tf.util.sizeFromShape(mean.shape))) {
        throw new Error('CwdBatchNormMovingUpdate: float32 movingMean, movingVariance, mean, variance of one size');
      }
      const be = args.backend as unknown as WasmBackendLike;
      const om = be.makeOutput(movingMean.shape, 'float32');
      const ov = be.makeOutput(movingVariance.shape, 'float32');
      const h = (t: tf.TensorInfo) => be.typedArrayFromHeap(t);
      a.bnMoving(h(movingMean), h(movingVariance), h(mean), h(variance), h(om), h(ov), (args.attrs as AnyAttrs).momentum);
      return [om, ov];
    },
    CwdClipGrad: (args: KernelArgs) => {
      const { dy, x } = args.inputs as Record<string, tf.TensorInfo>;
      const at = args.attrs as AnyAttrs;
      if (!allFloat(dy, x) || !tf.util.arraysEqual(dy.shape, x.shape)) throw new Error(`CwdClipGrad: float32 dy and x of one shape, got ${dy.shape} and ${x.shape}`);
      const be = args.backend as unknown as WasmBackendLike;
      const dx = be.makeOutput(dy.shape, 'float32');
      a.clipGrad(be.typedArrayFromHeap(dy), be.typedArrayFromHeap(x), be.typedArrayFromHeap(dx), at.clipValueMin, at.clipValueMax);
      return dx;
    },
    CwdReluGrad: (args: KernelArgs) => {
      const { dy, y } = args.inputs as Record<string, tf.TensorInfo>;
      if (!allFloat(dy, y) || !tf.util.arraysEqual(dy.shape, y.shape)) throw new Error(`CwdReluGrad: float32 dy and y of one shape, got ${dy.shape} and ${y.shape}`);
      const be = args.backend as unknown as WasmBackendLike;
      const dx = be.makeOutput(dy.shape, 'float32');
      a.reluGrad(be.typedArrayFromHeap(dy), be.typedArrayFromHeap(y), be.typedArrayFromHeap(dx));
      return dx;
    },
    [OPTIMIZER_UPDATE]: (args: KernelArgs) => {
      const { w, g, m, s } = args.inputs as Record<string, tf.TensorInfo | undefined>;
      const at = args.attrs as AnyAttrs;
      const adam = at.type === 'adam';
      const ins = [w, g, m, ...(adam ? [s] : [])] as tf.TensorInfo[];
      if (ins.some((t) => !t) || !allFloat(...ins) || ins.some((t) => !tf.util.arraysEqual(t.shape, ins[0].shape))) {
        throw new Error(`${OPTIMIZER_UPDATE}: float32 w, g, m${adam ? ', s' : ''} of one shape`);
      }
      const be = args.backend as unknown as WasmBackendLike;
      const outs = ins.filter((_, i) => i !== 1).map((t) => be.makeOutput(t.shape, 'float32'));
      const h = (t: tf.TensorInfo) => be.typedArrayFromHeap(t);
      if (adam) {
        a.adamUpdate(h(ins[0]), h(ins[1]), h(ins[2]), h(ins[3]), h(outs[0]), h(outs[1]), h(outs[2]),
          at.lr, at.beta1, at.beta2, at.epsilon, at.weightDecay, at.biasCorrection1, at.biasCorrection2);
      } else {
        a.sgdUpdate(h(ins[0]), h(ins[1]), h(ins[2]), h(outs[0]), h(outs[1]), at.lr, at.momentum, at.weightDecay);
      }
      return outs;
    },
    [BATCH_NORM_TRAINING_GRAD]: (args: KernelArgs) => {
      const { dy, x, mean, variance, gamma } = args.inputs as Record<string, tf.TensorInfo>;
      const eps = (args.attrs as AnyAttrs).epsilon as number;
      const c = x.shape[x.shape.length - 1];
      if (!allFloat(dy, x, mean, variance, gamma) || !tf.util.arraysEqual(dy.shape, x.shape)) {
        throw new Error(`${BATCH_NORM_TRAINING_GRAD}: float32 dy and x of the same shape, got ${dy.shape} and ${x.shape}`);
      }
      const be = args.backend as unknown as WasmBackendLike;
      const dx = be.makeOutput(x.shape, 'float32');
      const dgamma = be.makeOutput([c], 'float32');
      const dbeta = be.makeOutput([c], 'float32');
      a.bnBackward(be.typedArrayFromHeap(dy), be.typedArrayFromHeap(x), be.typedArrayFromHeap(mean), be.typedArrayFromHeap(variance),
        be.typedArrayFromHeap(gamma), be.typedArrayFromHeap(dx), be.typedArrayFromHeap(dgamma), be.typedArrayFromHeap(dbeta), c, eps);
      return [dx, dgamma, dbeta];
    },
    DepthwiseConv2dNativeBackpropFilter: (args: KernelArgs) => {
      const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
      const at = args.attrs as AnyAttrs;
      if (!allFloat(x, dy) || x.shape.length !== 4) return fallback.DepthwiseConv2dNativeBackpropFilter(args);
      const be = args.backend as unknown as WasmBackendLike;
      const ci = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], at.filterShape,
        at.strides, at.dilations ?? 1, at.pad, at.dimRoundingMode, true);
      const out = be.makeOutput(at.filterShape, 'float32');
      a.dwBackpropFilter(be.typedArrayFromHeap(x), be.typedArrayFromHeap(dy), be.typedArrayFromHeap(out), dims(ci));
      return out;
    },
    DepthwiseConv2dNativeBackpropInput: (args: KernelArgs) => {
      const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
      const at = args.attrs as AnyAttrs;
      if (!allFloat(dy, filter) || at.inputShape.length !== 4) return fallback.DepthwiseConv2dNativeBackpropInput(args);
      const be = args.backend as unknown as WasmBackendLike;
      const ci = tf.backend_util.computeConv2DInfo(at.inputShape, filter.shape as [number, number, number, number],
        at.strides, at.dilations ?? 1, at.pad, at.dimRoundingMode, true);
      const out = be.makeOutput(at.inputShape, 'float32');
      a.dwBackpropInput(be.typedArrayFromHeap(dy), be.typedArrayFromHeap(filter), be.typedArrayFromHeap(out), dims(ci));
      return out;
    },
    Conv2DBackpropInput: (args: KernelArgs) => {
      const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
      const at = args.attrs as AnyAttrs;
      if ((at.dataFormat && at.dataFormat !== 'NHWC') || !allFloat(dy, filter)) return fallback.Conv2DBackpropInput(args);
      const be = args.backend as unknown as WasmBackendLike;
      const ci = tf.backend_util.computeConv2DInfo(at.inputShape, filter.shape as [number, number, number, number],
        at.strides, at.dilations ?? 1, at.pad, at.dimRoundingMode);
      const out = be.makeOutput(at.inputShape, 'float32');
      a.backpropInput(be.typedArrayFromHeap(dy), be.typedArrayFromHeap(filter), be.typedArrayFromHeap(out), dims(ci));
      return out;
    },
  };
}

// ---- element-wise and reductions ---------------------------------------------------------------

/** Below this many elements the wasm kernels are used (call overhead dominates). */
const ELEMENTWISE_MIN = 4096;

const BINARY_OPS: Record<string, number> = { Add: 0, Sub: 1, Multiply: 2, RealDiv: 3 };

/**
 * The broadcast pattern of `a op b` as [rows, c, mode] for the native kernel, or null.
 * mode 0 same shape, 1 b per last-axis entry, 2 a per last-axis entry, 3 b scalar, 4 a scalar,
 * 5 b per row (last axis 1), 6 a per row.
 */
export function broadcastPattern(as: number[], bs: number[]): [number, number, number] | null {
  const na = tf.util.sizeFromShape(as);
  const nb = tf.util.sizeFromShape(bs);
  const out = tf.backend_util.assertAndGetBroadcastShape(as, bs);
  const n = tf.util.sizeFromShape(out);
  const c = out.length ? out[out.length - 1] : 1;
  const strip = (s: number[]) => { const t = s.slice(); while (t.length && t[0] === 1) t.shift(); return t; };
  const same = (x: number[], y: number[]) => x.length === y.length && x.every((v, i) => v === y[i]);
  if (na === n && nb === n && same(strip(as), strip(bs))) return [n / c, c, 0];
  if (na === n && nb === 1) return [n / c, c, 3];
  if (nb === n && na === 1) return [n / c, c, 4];
  const isChannel = (s: number[]) => { const t = strip(s); return t.length === 1 && t[0] === c; };
  if (na === n && isChannel(bs) && c > 1) return [n / c, c, 1];
  if (nb === n && isChannel(as) && c > 1) return [n / c, c, 2];
  const isRow = (s: number[]) => s.length === out.length && s[s.length - 1] === 1 && same(s.slice(0, -1), out.slice(0, -1));
  if (na === n && isRow(bs) && same(as, out)) return [n / c, c, 5];
  if (nb === n && isRow(as) && same(bs, out)) return [n / c, c, 6];
  return null;
}

/** Native element-wise / reduction kernels for the wasm backend, each falling back to `fallback`. */
export function nativeElementwiseFuncs(fallback: Record<string, tf.KernelFunc>): Record<string, tf.KernelFunc> {
  const a = addon;
  if (!a) throw new Error('nativeElementwiseFuncs: the native addon is not loaded');
  const funcs: Record<string, tf.KernelFunc> = {};
  for (const [name, op] of Object.entries(BINARY_OPS)) {
    funcs[name] = (args: KernelArgs) => {
      const { a: x, b: y } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      if (!allFloat(x, y)) return fallback[name](args);
      const p = broadcastPattern(x.shape, y.shape);
      const outShape = tf.backend_util.assertAndGetBroadcastShape(x.shape, y.shape);
      if (!p || tf.util.sizeFromShape(outShape) < ELEMENTWISE_MIN) return fallback[name](args);
      const be = args.backend as unknown as WasmBackendLike;
      const out = be.makeOutput(outShape, 'float32');
      a.binary(op, be.typedArrayFromHeap(x), be.typedArrayFromHeap(y), be.typedArrayFromHeap(out), p[0], p[1], p[2]);
      return out;
    };
  }
  for (const [name, op] of [['Exp', 0], ['Relu', 1]] as [string, number][]) {
    funcs[name] = (args: KernelArgs) => {
      const { x } = args.inputs as { x: tf.TensorInfo };
      if (!allFloat(x) || tf.util.sizeFromShape(x.shape) < ELEMENTWISE_MIN) return fallback[name](args);
      const be = args.backend as unknown as WasmBackendLike;
      const out = be.makeOutput(x.shape, 'float32');
      a.unary(op, be.typedArrayFromHeap(x), be.typedArrayFromHeap(out));
      return out;
    };
  }
  for (const name of ['Sum', 'Mean', 'Max']) {
    funcs[name] = (args: KernelArgs) => {
      const { x } = args.inputs as { x: tf.TensorInfo };
      const at = args.attrs as AnyAttrs;
      const n = tf.util.sizeFromShape(x.shape);
      const r = x.shape.length;
      if (!allFloat(x) || n < ELEMENTWISE_MIN || r < 1) return fallback[name](args);
      const axes = tf.util.parseAxisParam(at.axis ?? at.reductionIndices, x.shape).sort((p, q) => p - q);
      const c = x.shape[r - 1];
      const leading = axes.length === r - 1 && axes.every((v, i) => v === i);
      const last = axes.length === 1 && axes[0] === r - 1;
      if (!(leading && name !== 'Max') && !last) return fallback[name](args);
      const keep = !!at.keepDims;
      const outShape = keep ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
      const be = args.backend as unknown as WasmBackendLike;
      const out = be.makeOutput(outShape, 'float32');
      const rows = n / c;
      if (leading) a.reduceRows(be.typedArrayFromHeap(x), be.typedArrayFromHeap(out), rows, c, name === 'Mean' ? 1 / rows : 1);
      else a.reduceLast(be.typedArrayFromHeap(x), be.typedArrayFromHeap(out), rows, c, name === 'Max' ? 1 : 0, name === 'Mean' ? 1 / c : 1);
      return out;
    };
  }
  const asF32 = (v: Float32Array | Int32Array): Float32Array => (v instanceof Float32Array ? v : new Float32Array(v.buffer, v.byteOffset, v.length));
  const heap = (be: WasmBackendLike, t: tf.TensorInfo) => asF32(be.typedArrayFromHeap(t) as Float32Array | Int32Array);
  const pad4 = (v: number[], fill: number) => Int32Array.from([...new Array(4 - v.length).fill(fill), ...v]);
  const nativeSlice = (be: WasmBackendLike, x: tf.TensorInfo, begin: number[], size: number[]): tf.TensorInfo => {
    const out = be.makeOutput(size, x.dtype);
    a.slice(heap(be, x), heap(be, out), pad4(x.shape, 1), pad4(begin, 0), pad4(size, 1));
    return out;
  };
  const sliceable = (x: tf.TensorInfo) => (x.dtype === 'float32' || x.dtype === 'int32') && x.shape.length >= 1 && x.shape.length <= 4;
  funcs.Slice = (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const at = args.attrs as AnyAttrs;
    if (!sliceable(x)) return fallback.Slice(args);
    const [begin, size] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, at.begin, at.size);
    if (tf.util.sizeFromShape(size) < ELEMENTWISE_MIN) return fallback.Slice(args);
    return nativeSlice(args.backend as unknown as WasmBackendLike, x, begin, size);
  };
  funcs.SplitV = (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const at = args.attrs as AnyAttrs;
    if (!sliceable(x) || tf.util.sizeFromShape(x.shape) < ELEMENTWISE_MIN) return fallback.SplitV(args);
    const axis = tf.util.parseAxisParam(at.axis, x.shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(x as unknown as tf.Tensor, at.numOrSizeSplits, axis) as number[];
    const be = args.backend as unknown as WasmBackendLike;
    let offset = 0;
    return sizes.map((s) => {
      const begin = x.shape.map(() => 0);
      const size = x.shape.slice();
      begin[axis] = offset;
      size[axis] = s;
      offset += s;
      return nativeSlice(be, x, begin, size);
    });
  };
  const poolParams = (ci: tf.backend_util.Conv2DInfo) => Int32Array.from([
    ci.batchSize, ci.inHeight, ci.inWidth, ci.inChannels, ci.outHeight, ci.outWidth,
    ci.effectiveFilterHeight, ci.effectiveFilterWidth, ci.strideHeight, ci.strideWidth, ci.padInfo.top, ci.padInfo.left]);
  funcs.AvgPoolGrad = (args: KernelArgs) => {
    const { dy, input } = args.inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
    const at = args.attrs as AnyAttrs;
    // 'valid' only: every window is full, so 1/area is the exact divisor (as the forward pass uses)
    if (!allFloat(dy, input) || input.shape.length !== 4 || !(at.pad === 'valid' || at.pad === 0)) return fallback.AvgPoolGrad(args);
    const ci = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], at.filterSize, at.strides, 1, at.pad, at.dimRoundingMode);
    const be = args.backend as unknown as WasmBackendLike;
    const out = be.makeOutput(input.shape, 'float32');
    a.avgPoolGrad(be.typedArrayFromHeap(dy), be.typedArrayFromHeap(out), poolParams(ci), 1 / (ci.effectiveFilterHeight * ci.effectiveFilterWidth));
    return out;
  };
  funcs.MaxPoolGrad = (args: KernelArgs) => {
    const { dy, input } = args.inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
    const at = args.attrs as AnyAttrs;
    if (!allFloat(dy, input) || input.shape.length !== 4) return fallback.MaxPoolGrad(args);
    const ci = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], at.filterSize, at.strides, 1, at.pad, at.dimRoundingMode);
    const be = args.backend as unknown as WasmBackendLike;
    const out = be.makeOutput(input.shape, 'float32');
    a.maxPoolGrad(be.typedArrayFromHeap(input), be.typedArrayFromHeap(dy), be.typedArrayFromHeap(out), poolParams(ci));
    return out;
  };
  // Honours halfPixelCenters (tfjs's own ResizeBilinearGrad kernels do not).
  funcs.ResizeBilinearGrad = (args: KernelArgs) => {
    const { images, dy } = args.inputs as { images: tf.TensorInfo; dy: tf.TensorInfo };
    const at = args.attrs as AnyAttrs;
    if (!allFloat(images, dy) || images.shape.length !== 4) return fallback.ResizeBilinearGrad(args);
    const be = args.backend as unknown as WasmBackendLike;
    const out = be.makeOutput(images.shape, 'float32');
    const [b, ih, iw, c] = images.shape;
    a.resizeBilinearGrad(be.typedArrayFromHeap(dy), be.typedArrayFromHeap(out), Int32Array.from([b, ih, iw, c, dy.shape[1], dy.shape[2]]),
      !!at.alignCorners, !!at.halfPixelCenters);
    return out;
  };
  funcs.OneHot = (args: KernelArgs) => {
    const { indices } = args.inputs as { indices: tf.TensorInfo };
    const at = args.attrs as AnyAttrs;
    const depth = at.depth as number;
    const dtype = (at.dtype ?? 'int32') as tf.DataType;
    if (indices.dtype !== 'int32' || dtype !== 'float32' || tf.util.sizeFromShape(indices.shape) * depth < ELEMENTWISE_MIN) return fallback.OneHot(args);
    const be = args.backend as unknown as WasmBackendLike;
    const out = be.makeOutput([...indices.shape, depth], 'float32');
    a.oneHot(be.typedArrayFromHeap(indices) as unknown as Int32Array, be.typedArrayFromHeap(out), depth, at.onValue ?? 1, at.offValue ?? 0);
    return out;
  };
  funcs.BatchMatMul = (args: KernelArgs) => {
    const { a: x, b: y } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const at = args.attrs as AnyAttrs;
    const ra = x.shape.length;
    const rb = y.shape.length;
    if (!allFloat(x, y) || ra < 2 || rb < 2) return fallback.BatchMatMul(args);
    const ta = !!at.transposeA;
    const tb = !!at.transposeB;
    const m = ta ? x.shape[ra - 1] : x.shape[ra - 2];
    const k = ta ? x.shape[ra - 2] : x.shape[ra - 1];
    const k2 = tb ? y.shape[rb - 1] : y.shape[rb - 2];
    const n = tb ? y.shape[rb - 2] : y.shape[rb - 1];
    const batchShapeA = x.shape.slice(0, -2);
    const batchShapeB = y.shape.slice(0, -2);
    const ba = tf.util.sizeFromShape(batchShapeA);
    const bb = tf.util.sizeFromShape(batchShapeB);
    // thin products (m < 16, e.g. the 6xK·KxN resize matrices) use a streaming kernel unless B is transposed
    if (k !== k2 || (ba !== bb && ba !== 1 && bb !== 1) || m * k * n < 1 << 16 || (m < 16 && tb) || n < 16) return fallback.BatchMatMul(args);
    const batchShape = tf.backend_util.assertAndGetBroadcastShape(batchShapeA, batchShapeB);
    if (tf.util.sizeFromShape(batchShape) !== Math.max(ba, bb)) return fallback.BatchMatMul(args);
    const be = args.backend as unknown as WasmBackendLike;
    const out = be.makeOutput([...batchShape, m, n], 'float32');
    a.matmul(be.typedArrayFromHeap(x), be.typedArrayFromHeap(y), be.typedArrayFromHeap(out), ba, bb, m, k, n, ta, tb);
    return out;
  };
  return funcs;
}

if (require.main === module && process.argv[2] === 'build') {
  const why = buildNativeKernels();
  if (why) {
    console.error(`[channel-distill] native kernels not built: ${why}`);
    process.exit(1);
  }
  console.error(`[channel-distill] built ${OUT}`);
}
