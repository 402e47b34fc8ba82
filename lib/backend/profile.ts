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
  strides?: number;
  dilations?: number;
  pad?: 'same' | 'valid';
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
 * Time the three conv kernels at each shape on the current backend (`reps` timed runs after one warm-up).
 * Dilated shapes time the backward kernels with a `dilations` attribute, which only this project's
 * wasm kernels accept; on other backends those rows are skipped.
 */
export async function benchmarkConvKernels(shapes: ConvBenchShape[] = DEFAULT_CONV_SHAPES, reps = 5): Promise<ConvBenchResult[]> {
  const out: ConvBenchResult[] = [];
  const backend = tf.getBackend();
  for (const s of shapes) {
    const strides = s.strides ?? 1;
    const dil = s.dilations ?? 1;
    const pad = s.pad ?? 'same';
    const dw = !!s.depthwise;
    const info = tf.backend_util.computeConv2DInfo(s.x, s.filter, strides, dil, pad, undefined, dw);
    const flops = 2 * info.batchSize * info.outHeight * info.outWidth * s.filter[0] * s.filter[1] * s.filter[2] * s.filter[3];
    const x = tf.randomNormal(s.x) as tf.Tensor4D;
    const w = tf.randomNormal(s.filter) as tf.Tensor4D;
    const dy = tf.randomNormal(info.outShape) as tf.Tensor4D;
    const attrs = { strides, pad, dataFormat: 'NHWC', dimRoundingMode: undefined, ...(dil > 1 ? { dilations: dil } : {}) };
    const runs: [ConvBenchResult['kernel'], () => tf.Tensor][] = [
      dw ? ['DepthwiseConv2dNative', () => tf.depthwiseConv2d(x, w, strides, pad, 'NHWC', dil)]
        : ['Conv2D', () => tf.conv2d(x, w, strides, pad, 'NHWC', dil)],
    ];
    const dwAttrs = { ...attrs, dilations: dil };
    if (dw) {
      runs.push(['DepthwiseConv2dNativeBackpropFilter', () => tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { ...dwAttrs, filterShape: s.filter } as unknown as tf.NamedAttrMap) as tf.Tensor]);
      runs.push(['DepthwiseConv2dNativeBackpropInput', () => tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy, filter: w }, { ...dwAttrs, inputShape: s.x } as unknown as tf.NamedAttrMap) as tf.Tensor]);
    } else if (dil === 1 || backend === 'wasm') {
      runs.push(['Conv2DBackpropFilter', () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: s.filter } as unknown as tf.NamedAttrMap) as tf.Tensor]);
      runs.push(['Conv2DBackpropInput', () => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: s.x } as unknown as tf.NamedAttrMap) as tf.Tensor]);
    }
    for (const [kernel, f] of runs) {
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
      const ms = median(times);
      out.push({ kernel, shape: `${dw ? 'dw_' : ''}x${s.x.join('x')}_w${s.filter.join('x')}_s${strides}_d${dil}_${pad}`, ms: +ms.toFixed(2), gflops: +(flops / ms / 1e6).toFixed(1), backend });
    }
    tf.dispose([x, w, dy]);
  }
  return out;
}

