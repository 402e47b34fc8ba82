/**
 * Fused distillation-loss kernels: each loss of lib/distill that has one is a single forward kernel
 * (value + small per-row statistics) and a single backward kernel (the student gradient in one pass),
 * instead of the 10-40 small element-wise kernels of its composed tf graph, which dominate at the
 * logits shape (8×64×64×19) on wasm.
 *
 * The C++ is `native/loss_kernels.cc`, compiled into the native addon of `native.ts`; the kernels are
 * registered for the 'wasm' backend only (`registerNativeLossKernels`, called by
 * `registerWasmTrainingKernels` when the addon is loaded), with registered gradients (`tf.registerGradient`:
 * the student gets the backward kernel, the teacher an all-zero gradient, as `stopGradient` gives it).
 * lib/distill selects them inside each loss when `fusedLossesActive()` (wasm backend, addon loaded, not
 * turned off by `CWD_NATIVE_LOSSES=0` or `setFusedLosses(false)`); every other backend keeps the composed
 * tf ops, with the same values (test/distill/fused.test.ts compares both, values and gradients).
 *
 * | kernel | loss (lib/distill) |
 * |---|---|
 * | `CdNormDiv` / `CdNormDivGrad` | softmax over C per pixel ('spatial') or over H·W per channel ('channel'), then KL(t‖s), squared error or Bhattacharyya: cwd, pi, channel-mse, bhattacharyya, spatial-mse, spatial-bhattacharyya |
 * | `CdMse` / `…Grad` | mse (every reduction) |
 * | `CdChannelMeanMse` / `…Grad` | channel-mean-mse |
 * | `CdAttention` / `…Grad` | at |
 * | `CdLocal` / `…Grad` | local |
 * | `CdPairwise` / `…Grad` | pa (when the pooled map has ≤ `PA_FUSED_MAX_NODES` nodes) |
 * @example
 *   import { fusedLossesActive, fusedNormalizedDivergence } from './loss-kernels';
 *   if (fusedLossesActive()) fusedNormalizedDivergence(s, t, {normalization: 'channel', divergence: 'kl', temperature: 4, scale: 16 / (n * c)});
 */
import * as tf from '@tensorflow/tfjs';
import { replaceKernel } from './kernel-registry';
import { loadNativeKernels } from './native';

interface LossAddon {
  ndForward(s: Float32Array, t: Float32Array, loss: Float32Array, stats: Float32Array, params: Int32Array, T: number, scale: number): void;
  ndBackward(s: Float32Array, t: Float32Array, stats: Float32Array, dy: Float32Array, gs: Float32Array, params: Int32Array, T: number, scale: number): void;
  mseForward(s: Float32Array, t: Float32Array, loss: Float32Array, denom: number): void;
  mseBackward(s: Float32Array, t: Float32Array, dy: Float32Array, gs: Float32Array, denom: number): void;
  cmForward(s: Float32Array, t: Float32Array, loss: Float32Array, d: Float32Array, params: Int32Array): void;
  cmBackward(d: Float32Array, dy: Float32Array, gs: Float32Array, params: Int32Array): void;
  atForward(s: Float32Array, t: Float32Array, loss: Float32Array, gv: Float32Array, params: Int32Array): void;
  atBackward(s: Float32Array, gv: Float32Array, dy: Float32Array, gs: Float32Array, params: Int32Array): void;
  localForward(s: Float32Array, t: Float32Array, loss: Float32Array, k: Float32Array, params: Int32Array): void;
  localBackward(s: Float32Array, k: Float32Array, dy: Float32Array, gs: Float32Array, params: Int32Array): void;
  paForward(s: Float32Array, t: Float32Array, loss: Float32Array, ps: Float32Array, gp: Float32Array, params: Int32Array): void;
  paBackward(s: Float32Array, ps: Float32Array, gp: Float32Array, dy: Float32Array, gs: Float32Array, params: Int32Array): void;
}

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
}

type KernelArgs = Parameters<tf.KernelFunc>[0];
type AnyAttrs = Record<string, any>;

/** Statistics per distribution row kept by `CdNormDiv` for its backward kernel (see loss_kernels.cc). */
const ND_STATS = 5;
const NORM = { spatial: 0, channel: 1 } as const;
const DIV = { kl: 0, mse: 1, bhattacharyya: 2 } as const;
/** Largest pooled node count M of the fused PA (its similarity matrices cost O(M²·C) in plain loops); above it PA stays composed (tf.matMul). */
export const PA_FUSED_MAX_NODES = 256;

let registered = false;
let enabled = process.env.CWD_NATIVE_LOSSES !== '0';

/** Turn the fused losses on or off for this process (tests compare both paths); returns the previous setting. */
export function setFusedLosses(on: boolean): boolean {
  const before = enabled;
  enabled = on;
  return before;
}

/** True when lib/distill's losses run as the fused native kernels: wasm backend, addon loaded, not turned off. */
export function fusedLossesActive(): boolean {
  return registered && enabled && tf.getBackend() === 'wasm';
}

function makeOutputs(be: WasmBackendLike, shapes: number[][]): { infos: tf.TensorInfo[]; views: () => Float32Array[] } {
  const infos = shapes.map((s) => be.makeOutput(s, 'float32'));
  // views only after every allocation: a later makeOutput can grow (and move) the wasm heap
  return { infos, views: () => infos.map((i) => be.typedArrayFromHeap(i)) };
}

function ndParams(s: tf.TensorInfo, at: AnyAttrs): Int32Array {
  const [n, h, w, c] = s.shape;
  return Int32Array.from([n, h, w, c, NORM[at.normalization as keyof typeof NORM], DIV[at.divergence as keyof typeof DIV]]);
}

function ndRows(shape: number[], normalization: string): number {
  const [n, h, w, c] = shape;
  return normalization === 'channel' ? n * c : n * h * w;
}

/**
 * Register the fused loss kernels for 'wasm' and their gradients (idempotent). Returns false when the
 * native addon is not loaded (then the losses stay composed).
 */
export function registerNativeLossKernels(): boolean {
  if (registered) return true;
  const st = loadNativeKernels();
  if (!st.loaded) return false;
  const a = require(st.path) as LossAddon;
  if (typeof a.ndForward !== 'function') return false;
  const kernels: Record<string, tf.KernelFunc> = {
    CdNormDiv: ({ inputs, attrs, backend }: KernelArgs) => {
      const { s, t } = inputs as { s: tf.TensorInfo; t: tf.TensorInfo };
      const at = attrs as AnyAttrs;
      const be = backend as unknown as WasmBackendLike;
      const o = makeOutputs(be, [[], [ndRows(s.shape, at.normalization), ND_STATS]]);
      const [loss, stats] = o.views();
      a.ndForward(be.typedArrayFromHeap(s), be.typedArrayFromHeap(t), loss, stats, ndParams(s, at), at.temperature, at.scale);
      return o.infos;
    },
    CdNormDivGrad: ({ inputs, attrs, backend }: KernelArgs) => {
      const { s, t, stats, dy } = inputs as Record<string, tf.TensorInfo>;
      const at = attrs as AnyAttrs;
      const be = backend as unknown as WasmBackendLike;
      const o = makeOutputs(be, [s.shape]);
      const [gs] = o.views();
      a.ndBackward(be.typedArrayFromHeap(s), be.typedArrayFromHeap(t), be.typedArrayFromHeap(stats), be.typedArrayFromHeap(dy), gs,
        ndParams(s, at), at.temperature, at.scale);
      return o.infos[0];
    },
    CdMse: ({ inputs, attrs, backend }: KernelArgs) => {
      const { s, t } = inputs as { s: tf.TensorInfo; t: tf.TensorInfo };
      const be = backend as unknown as WasmBackendLike;
      const o = makeOutputs(be, [[]]);
      const [loss] = o.views();
      a.mseForward(be.typedArrayFromHeap(s), be.typedArrayFromHeap(t), loss, (attrs as AnyAttrs).denom);
      return o.infos[0];
    },
    CdMseGrad: ({ inputs, attrs, backend }: KernelArgs) => {
      const { s, t, dy } = inputs as Record<string, tf.TensorInfo>;
      const be = backend as unknown as WasmBackendLike;
      const o = makeOutputs(be, [s.shape]);
      const [gs] = o.views();
      a.mseBackward(be.typedArrayFromHeap(s), be.typedArrayFromHeap(t), be.typedArrayFromHeap(dy), gs, (attrs as AnyAttrs).denom);
      return o.infos[0];
    },
    CdChannelMeanMse: ({ inputs, backend }: KernelArgs) => {
      const { s, t } = inputs as { s: tf.TensorInfo; t: tf.TensorInfo };
      const [n, h, w, c] = s.shape;
      const be = backend as unknown as WasmBackendLike;
      const o = makeOutputs(be, [[], [n, c]]);
      const [loss, d] = o.views();
      a.cmForward(be.typedArrayFromHeap(s), be.typedArrayFromHeap(t), loss, d, Int32Array.from([n, h * w, c]));
      return o.infos;
    },
    CdChannelMeanMseGrad: ({ inputs, attrs, backend }: KernelArgs) => {
      const { d, dy } = inputs as Record<string, tf.TensorInfo>;
      const shape = (attrs as AnyAttrs).shape as number[];
      const [n, h, w, c] = shape;
      const be = backend as unknown as WasmBackendLike;
      const o = makeOutputs(be, [shape]);
      const [gs] = o.views();
      a.cmBackward(be.typedArrayFromHeap(d), be.typedArrayFromHeap(dy), gs, Int32Array.from([n, h * w, c]));
      return o.infos[0];
    },
    CdAttention: ({ inputs, backend }: KernelArgs) => {
      const { s, t } = inputs as { s: tf.TensorInfo; t: tf.TensorInfo };
      const [n, h, w, cs] = s.shape;
      const be = backend as unknown as WasmBackendLike;
      const o = makeOutputs(be, [[], [n, h * w]]);
      const [loss, gv] = o.views();
      a.atForward(be.typedArrayFromHeap(s), be.typedArrayFromHeap(t), loss, gv, Int32Array.from([n, h * w, cs, t.shape[3]]));
      return o.infos;
    },
    CdAttentionGrad: ({ inputs, backend }: KernelArgs) => {
      const { s, gv, dy } = inputs as Record<string, tf.TensorInfo>;
      const [n, h, w, c] = s.shape;
      const be = backend as unknown as WasmBackendLike;
      const o = makeOutputs(be, [s.shape]);
      const [gs] = o.views();
      a.atBackward(be.typedArrayFromHeap(s), be.typedArrayFromHeap(gv), be.typedArrayFromHeap(dy), gs, Int32Array.from([n, h * w, c]));
      return o.infos[0];
    },
    CdLocal: ({ inputs, backend }: KernelArgs) => {
      const { s, t } = inputs as { s: tf.TensorInfo; t: tf.TensorInfo };
      const [n, h, w, cs] = s.shape;
      const be = backend as unknown as WasmBackendLike;
      const o = makeOutputs(be, [[], [4, n, h, w]]);
      const [loss, k] = o.views();
      a.localForward(be.typedArrayFromHeap(s), be.typedArrayFromHeap(t), loss, k, Int32Array.from([n, h, w, cs, t.shape[3]]));
      return o.infos;
    },
    CdLocalGrad: ({ inputs, backend }: KernelArgs) => {
      const { s, k, dy } = inputs as Record<string, tf.TensorInfo>;
      const be = backend as unknown as WasmBackendLike;
      const o = makeOutputs(be, [s.shape]);
      const [gs] = o.views();
      a.localBackward(be.typedArrayFromHeap(s), be.typedArrayFromHeap(k), be.typedArrayFromHeap(dy), gs, Int32Array.from(s.shape));
      return o.infos[0];
    },
    CdPairwise: ({ inputs, attrs, backend }: KernelArgs) => {
      const { s, t } = inputs as { s: tf.TensorInfo; t: tf.TensorInfo };
      const at = attrs as AnyAttrs;
      const [n, h, w, cs] = s.shape;
      const m = Math.ceil(h / at.kh) * Math.ceil(w / at.kw);
      const be = backend as unknown as WasmBackendLike;
      const o = makeOutputs(be, [[], [n, m, cs], [n, m, cs]]);
      const [loss, ps, gp] = o.views();
      a.paForward(be.typedArrayFromHeap(s), be.typedArrayFromHeap(t), loss, ps, gp, paParams(s.shape, t.shape[3], at));
      return o.infos;
    },
    CdPairwiseGrad: ({ inputs, attrs, backend }: KernelArgs) => {
      const { s, ps, gp, dy } = inputs as Record<string, tf.TensorInfo>;
      const at = attrs as AnyAttrs;
      const be = backend as unknown as WasmBackendLike;
      const o = makeOutputs(be, [s.shape]);
      const [gs] = o.views();
      a.paBackward(be.typedArrayFromHeap(s), be.typedArrayFromHeap(ps), be.typedArrayFromHeap(gp), be.typedArrayFromHeap(dy), gs,
        paParams(s.shape, at.ct, at));
      return o.infos[0];
    },
  };
  for (const [kernelName, kernelFunc] of Object.entries(kernels)) replaceKernel(kernelName, 'wasm', kernelFunc);
  registerGradients();
  registered = true;
  return true;
}

function paParams(shape: number[], ct: number, at: AnyAttrs): Int32Array {
  const [n, h, w, cs] = shape;
  return Int32Array.from([n, h, w, cs, ct, at.kh, at.kw, at.detachNorm ? 1 : 0]);
}

const run = (name: string, inputs: Record<string, tf.Tensor>, attrs: AnyAttrs = {}) =>
  tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, attrs as tf.NamedAttrMap);

function registerGradients(): void {
  const zerosForTeacher = (saved: tf.Tensor[]) => () => tf.zerosLike(saved[1]);
  tf.registerGradient({
    kernelName: 'CdNormDiv', inputsToSave: ['s', 't'], outputsToSave: [false, true],
    gradFunc: (dys, saved, attrs) => {
      const [s, t, stats] = saved;
      const dy = (dys as tf.Tensor[])[0];
      return { s: () => run('CdNormDivGrad', { s, t, stats, dy }, attrs) as tf.Tensor, t: zerosForTeacher(saved) };
    },
  });
  tf.registerGradient({
    kernelName: 'CdMse', inputsToSave: ['s', 't'],
    gradFunc: (dy, saved, attrs) => {
      const [s, t] = saved;
      return { s: () => run('CdMseGrad', { s, t, dy: dy as tf.Tensor }, attrs) as tf.Tensor, t: zerosForTeacher(saved) };
    },
  });
  tf.registerGradient({
    kernelName: 'CdChannelMeanMse', inputsToSave: ['s', 't'], outputsToSave: [false, true],
    gradFunc: (dys, saved) => {
      const [s, , d] = saved;
      const dy = (dys as tf.Tensor[])[0];
      return { s: () => run('CdChannelMeanMseGrad', { d, dy }, { shape: s.shape }) as tf.Tensor, t: zerosForTeacher(saved) };
    },
  });
  tf.registerGradient({
    kernelName: 'CdAttention', inputsToSave: ['s', 't'], outputsToSave: [false, true],
    gradFunc: (dys, saved) => {
      const [s, , gv] = saved;
      const dy = (dys as tf.Tensor[])[0];
      return { s: () => run('CdAttentionGrad', { s, gv, dy }) as tf.Tensor, t: zerosForTeacher(saved) };
    },
  });
  tf.registerGradient({
    kernelName: 'CdLocal', inputsToSave: ['s', 't'], outputsToSave: [false, true],
    gradFunc: (dys, saved) => {
      const [s, , k] = saved;
      const dy = (dys as tf.Tensor[])[0];
      return { s: () => run('CdLocalGrad', { s, k, dy }) as tf.Tensor, t: zerosForTeacher(saved) };
    },
  });
  tf.registerGradient({
    kernelName: 'CdPairwise', inputsToSave: ['s', 't'], outputsToSave: [false, true, true],
    gradFunc: (dys, saved, attrs) => {
      const [s, t, ps, gp] = saved;
      const dy = (dys as tf.Tensor[])[0];
      return { s: () => run('CdPairwiseGrad', { s, ps, gp, dy }, { ...attrs, ct: t.shape[3] }) as tf.Tensor, t: zerosForTeacher(saved) };
    },
  });
}

/** The scalar (first) output of a fused forward kernel; its other outputs are the saved statistics. */
function lossOf(outs: tf.Tensor | tf.Tensor[]): tf.Scalar {
  const list = outs as tf.Tensor[];
  // the statistics outputs stay alive through the tape (outputsToSave) while gradients are recorded
  tf.dispose(list.slice(1));
  return list[0] as tf.Scalar;
}

/**
 * `scale · Σ_rows D(p_t, p_s)` with p = softmax(x/T) over C per pixel ('spatial') or over H·W per
 * channel ('channel'), D = KL(p_t‖p_s) | Σ(p_s − p_t)² | −ln Σ√(p_s·p_t). NHWC, same shapes.
 */
export function fusedNormalizedDivergence(
  student: tf.Tensor4D, teacher: tf.Tensor4D,
  o: { normalization: 'spatial' | 'channel'; divergence: 'kl' | 'mse' | 'bhattacharyya'; temperature: number; scale: number },
): tf.Scalar {
  return lossOf(run('CdNormDiv', { s: student, t: teacher }, o));
}

/** `Σ (s − t)² / denom` over every element. */
export function fusedMse(student: tf.Tensor4D, teacher: tf.Tensor4D, denom: number): tf.Scalar {
  return run('CdMse', { s: student, t: teacher }, { denom }) as tf.Scalar;
}

/** `Σ_{n,c} (mean_HW s − mean_HW t)² / (N·C)`. */
export function fusedChannelMeanMse(student: tf.Tensor4D, teacher: tf.Tensor4D): tf.Scalar {
  return lossOf(run('CdChannelMeanMse', { s: student, t: teacher }));
}

/** Attention transfer (p = 2): mean over N·H·W of (a(s) − a(t))², a = L2-normalised mean_C(x²). */
export function fusedAttentionTransfer(student: tf.Tensor4D, teacher: tf.Tensor4D): tf.Scalar {
  return lossOf(run('CdAttention', { s: student, t: teacher }));
}

/** Local affinity: squared difference of the 8-neighbour feature distances, mean over the pairs. */
export function fusedLocalAffinity(student: tf.Tensor4D, teacher: tf.Tensor4D): tf.Scalar {
  return lossOf(run('CdLocal', { s: student, t: teacher }));
}

/** Pairwise affinity: ceil-mode kh×kw max pool, cosine similarity matrices, mean squared difference. */
export function fusedPairwiseAffinity(student: tf.Tensor4D, teacher: tf.Tensor4D, kh: number, kw: number, detachNorm: boolean): tf.Scalar {
  return lossOf(run('CdPairwise', { s: student, t: teacher }, { kh, kw, detachNorm }));
}
