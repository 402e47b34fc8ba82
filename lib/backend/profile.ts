/**
 * Kernel micro-benchmarks for the backend in use: forward conv, `Conv2DBackpropFilter` and
 * `Conv2DBackpropInput` at given shapes, as median ms and GFLOP/s (2·N·OH·OW·KH·KW·Ci·Co FLOPs each).
 * For bench/ and for checking a machine: `scripts/profile-conv-kernels.ts` runs it on the backend
 * in use and prints one JSON line per kernel and shape.
 */
import * as tf from '@tensorflow/tfjs';

export interface ConvBenchShape {
  /** [N, H, W, Ci] */
  x: [number, number, number, number];
  /** [KH, KW, Ci, Co] */
  filter: [number, number, number, number];
  strides?: number | [number, number];
  dilations?: number | [number, number];
  /** 'same' (default), 'valid' or explicit padding as the conv ops take it. */
  pad?: 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
  /** A depthwise conv: filter [KH, KW, Ci, multiplier] (kernels DepthwiseConv2dNative and its two gradients). */
  depthwise?: boolean;
}

export interface ConvBenchResult {
  kernel: 'Conv2D' | 'Conv2DBackpropFilter' | 'Conv2DBackpropInput'
    | 'DepthwiseConv2dNative' | 'DepthwiseConv2dNativeBackpropFilter' | 'DepthwiseConv2dNativeBackpropInput';
  shape: string;
  ms: number;
  gflops: number;
  backend: string;
  /** 2 × multiply-adds of one call (the same for the forward conv and its two gradients). */
  flops: number;
}

/** A short name of a bench shape: `[dw_]x{N×H×W×Ci}_w{KH×KW×Ci×Co}_s{stride}_d{dilation}_{pad}`. */
export function convShapeName(s: ConvBenchShape): string {
  const two = (v: number | [number, number] | undefined) => (Array.isArray(v) ? (v[0] === v[1] ? String(v[0]) : v.join(',')) : String(v ?? 1));
  const pad = typeof s.pad === 'string' || s.pad === undefined ? (s.pad ?? 'same') : JSON.stringify(s.pad).replace(/[[\]]/g, '').replace(/,/g, '-');
  return `${s.depthwise ? 'dw_' : ''}x${s.x.join('x')}_w${s.filter.join('x')}_s${two(s.strides)}_d${two(s.dilations)}_${pad}`;
}

/** Representative shapes: the probe's 3x3 64→64 on 4×64×128, and student-r18 / teacher layers at 256×512, batch 8. */
export const DEFAULT_CONV_SHAPES: ConvBenchShape[] = [
  { x: [4, 64, 128, 64], filter: [3, 3, 64, 64] },
  { x: [8, 128, 256, 3], filter: [3, 3, 3, 16], strides: 2 },
  { x: [8, 64, 128, 16], filter: [3, 3, 16, 16] },
  { x: [8, 64, 128, 16], filter: [3, 3, 16, 32], strides: 2 },
  { x: [8, 32, 64, 64], filter: [3, 3, 64, 64], dilations: 2 },
  { x: [8, 32, 64, 128], filter: [1, 1, 128, 64] },
];

const SYNC_BACKENDS = new Set(['wasm', 'cpu', 'tensorflow']);

function median(a: number[]): number {
  const s = [...a].sort((p, q) => p - q);
  return s[Math.floor(s.length / 2)];
}

/**
 * Time the three conv kernels at each shape on the current backend (`reps` timed runs after one warm-up;
 * `kernels(shape)`, when given, names the kernels to time at that shape; `stat`: the median of the runs, or
 * the fastest, which on a shared machine is the kernel's own cost with the least of other processes' load).
 * Dilated shapes time the backward kernels with a `dilations` attribute, which only this project's
 * wasm kernels accept; on other backends those rows are skipped.
 */
export async function benchmarkConvKernels(
  shapes: ConvBenchShape[] = DEFAULT_CONV_SHAPES, reps = 5, kernels?: (s: ConvBenchShape) => string[], stat: 'median' | 'min' = 'median',
): Promise<ConvBenchResult[]> {
  const out: ConvBenchResult[] = [];
  const backend = tf.getBackend();
  for (const s of shapes) {
    const strides = s.strides ?? 1;
    const dil = s.dilations ?? 1;
    const pad = (s.pad ?? 'same') as 'same';
    const dw = !!s.depthwise;
    const info = tf.backend_util.computeConv2DInfo(s.x, s.filter, strides, dil, pad, undefined, dw);
    const flops = 2 * info.batchSize * info.outHeight * info.outWidth * s.filter[0] * s.filter[1] * s.filter[2] * s.filter[3];
    const x = tf.randomNormal(s.x) as tf.Tensor4D;
    const w = tf.randomNormal(s.filter) as tf.Tensor4D;
    const dy = tf.randomNormal(info.outShape) as tf.Tensor4D;
    const attrs = { strides, pad, dataFormat: 'NHWC', dimRoundingMode: undefined, ...(dil !== 1 ? { dilations: dil } : {}) };
    const runs: [ConvBenchResult['kernel'], () => tf.Tensor][] = [
      dw ? ['DepthwiseConv2dNative', () => tf.depthwiseConv2d(x, w, strides, pad, 'NHWC', dil)]
        : ['Conv2D', () => tf.conv2d(x, w, strides, pad, 'NHWC', dil)],
    ];
    const dwAttrs = { ...attrs, dilations: dil };
    if (dw) {
      runs.push(['DepthwiseConv2dNativeBackpropFilter', () => tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { ...dwAttrs, filterShape: s.filter } as unknown as tf.NamedAttrMap) as tf.Tensor]);
      runs.push(['DepthwiseConv2dNativeBackpropInput', () => tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy, filter: w }, { ...dwAttrs, inputShape: s.x } as unknown as tf.NamedAttrMap) as tf.Tensor]);
    } else if ((typeof dil === 'number' ? dil === 1 : dil[0] === 1 && dil[1] === 1) || backend === 'wasm') {
      runs.push(['Conv2DBackpropFilter', () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: s.filter } as unknown as tf.NamedAttrMap) as tf.Tensor]);
      runs.push(['Conv2DBackpropInput', () => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: s.x } as unknown as tf.NamedAttrMap) as tf.Tensor]);
    }
    const wanted = kernels ? new Set(kernels(s)) : null;
    for (const [kernel, f] of runs) {
      if (wanted && !wanted.has(kernel)) continue;
      const times: number[] = [];
      for (let i = 0; i <= reps; i++) {
        const t0 = performance.now();
        const y = f();
        // wasm and cpu run kernels synchronously: the kernel is done when f returns (reading y would
        // also time its copy out of the backend, tens of ms for a 12 MB output of a ~2 ms kernel);
        // the GPU backends are waited for with a read
        if (!SYNC_BACKENDS.has(backend)) await y.data();
        const dt = performance.now() - t0;
        y.dispose();
        if (i > 0) times.push(dt);
      }
      const ms = stat === 'min' ? Math.min(...times) : median(times);
      out.push({ kernel, shape: convShapeName(s), ms: +ms.toFixed(3), gflops: +(flops / ms / 1e6).toFixed(1), backend, flops });
    }
    tf.dispose([x, w, dy]);
  }
  return out;
}


const FORWARD_CONVS = ['Conv2D', 'FusedConv2D', 'DepthwiseConv2dNative', 'FusedDepthwiseConv2D'];
const BACKWARD_CONVS = ['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput'];

/** A conv shape that ran in `fn`, how often its forward ran, and which backward kernels ran at it. */
export interface CapturedConv {
  shape: ConvBenchShape;
  name: string;
  forwardCalls: number;
  /** Backward kernel names (DepthwiseConv2dNative… / Conv2DBackprop…) that ran at this shape. */
  backward: string[];
}

/**
 * Run `fn` with the backend's conv kernels wrapped to record each call's shapes and attributes (the
 * kernels themselves still run; the registrations are restored afterwards): the conv shapes of a
 * training step, for {@link benchmarkConvKernels}.
 */
export async function captureConvCalls(fn: () => Promise<unknown> | unknown): Promise<CapturedConv[]> {
  const backend = tf.getBackend();
  const seen = new Map<string, CapturedConv>();
  const originals: tf.KernelConfig[] = [];
  const shapeOf = (t: unknown) => (t as tf.TensorInfo).shape.slice() as [number, number, number, number];
  for (const name of [...FORWARD_CONVS, ...BACKWARD_CONVS]) {
    const k = tf.getKernel(name, backend);
    if (!k) continue;
    originals.push(k);
    tf.unregisterKernel(name, backend);
    tf.registerKernel({
      ...k,
      kernelFunc: (args) => {
        const a = args.attrs as Record<string, any>;
        const dw = name.includes('Depthwise');
        let x: [number, number, number, number];
        let filter: [number, number, number, number];
        if (FORWARD_CONVS.includes(name)) { x = shapeOf(args.inputs.x); filter = shapeOf(args.inputs.filter); }
        else if (name.endsWith('Filter')) { x = shapeOf(args.inputs.x); filter = a.filterShape.slice(); }
        else { x = a.inputShape.slice(); filter = shapeOf(args.inputs.filter); }
        const shape: ConvBenchShape = {
          x, filter, strides: a.strides, dilations: a.dilations ?? 1, pad: a.pad, ...(dw ? { depthwise: true } : {}),
        };
        const key = convShapeName(shape);
        const c = seen.get(key) ?? { shape, name: key, forwardCalls: 0, backward: [] };
        if (FORWARD_CONVS.includes(name)) c.forwardCalls++;
        else if (!c.backward.includes(name)) c.backward.push(name);
        seen.set(key, c);
        return k.kernelFunc(args);
      },
    });
  }
  try {
    await fn();
  } finally {
    for (const k of originals) {
      tf.unregisterKernel(k.kernelName, backend);
      tf.registerKernel(k);
    }
  }
  return [...seen.values()];
}

/** This machine's fp32 peak: cores × clock × FMA width × 2 (one FMA per cycle per core), from /proc/cpuinfo. */
export interface CpuPeak {
  gflops: number;
  cores: number;
  mhz: number;
  /** fp32 lanes of the widest FMA the flags show (avx512f: 16, fma/avx2: 8, else 4). */
  lanes: number;
  isa: string;
  how: string;
}

export function cpuPeak(cores: number): CpuPeak | null {
  let text = '';
  try {
    text = require('fs').readFileSync('/proc/cpuinfo', 'utf8') as string;
  } catch {
    return null;
  }
  const mhz = Number(/^cpu MHz\s*:\s*([\d.]+)/m.exec(text)?.[1]);
  const flags = new Set((/^flags\s*:\s*(.+)$/m.exec(text)?.[1] ?? '').split(/\s+/));
  if (!Number.isFinite(mhz) || mhz <= 0) return null;
  const [lanes, isa] = flags.has('avx512f') ? [16, 'avx512f'] : flags.has('fma') ? [8, 'fma (avx2)'] : [4, 'sse'];
  const gflops = cores * (mhz / 1000) * lanes * 2;
  return {
    gflops, cores, mhz, lanes, isa,
    how: `${cores} cores × ${(mhz / 1000).toFixed(3)} GHz (/proc/cpuinfo "cpu MHz") × ${lanes} fp32 lanes (${isa} in the flags) × 2 (an FMA is 2 FLOPs)`
      + ` = ${gflops.toFixed(0)} GFLOP/s, counting one vector FMA per cycle per core at the listed clock; a core with two FMA pipes`
      + ` (${(2 * gflops).toFixed(0)} GFLOP/s) or a boost clock above "cpu MHz" (a VM lists the nominal one) exceeds it, so above 100% reads as "at the hardware's real limit"`,
  };
}
