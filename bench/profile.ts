/**
 * Where the time of a step goes: `tf.profile` per-kernel times, aggregated by kernel name,
 * and each backward convolution kernel compared with its forward counterpart at the same shapes.
 *
 * Kernels that the backend implements in JS out of other kernels (e.g. a registered
 * `Conv2DBackpropFilter` built from wasm ops) appear in `tf.profile` together with the kernels they
 * call. We tag every profiled kernel with its nesting depth so that the aggregate counts each
 * millisecond once (depth 1 = called by user code or the gradient tape) and the inner kernels are
 * reported apart.
 */
import * as tf from '@tensorflow/tfjs';

export interface KernelRecord {
  name: string;
  ms: number;
  depth: number;
  /** Name of the enclosing kernel or op scope (depth > 1), '' at the top level. */
  parent: string;
  inputShapes: (number[] | null)[];
  outputShapes: number[][];
}

export interface KernelAggregate {
  name: string;
  ms: number;
  calls: number;
  /** Share of the top-level kernel time, 0..1. */
  share: number;
}

/**
 * Run `fn` under `tf.profile` and return every kernel with its time and nesting depth.
 * `fn` may return tensors; they are disposed here.
 */
export async function profileKernels(fn: () => tf.TensorContainer | Promise<tf.TensorContainer>): Promise<{ kernels: KernelRecord[]; wallMs: number }> {
  const engine = tf.engine() as unknown as {
    profiler: { profileKernel: (name: string, inputs: unknown, f: () => unknown) => { extraInfo: unknown } };
    state: { kernelDepth: number };
  };
  const profiler = engine.profiler;
  const orig = profiler.profileKernel;
  const checkBefore = tf.env().getBool('CHECK_COMPUTATION_FOR_ERRORS');
  tf.env().set('CHECK_COMPUTATION_FOR_ERRORS', false);
  const stack: string[] = [];
  profiler.profileKernel = function patched(this: unknown, name: string, inputs: unknown, f: () => unknown) {
    const depth = engine.state.kernelDepth;
    const parent = stack.length ? stack[stack.length - 1] : '';
    stack.push(name);
    let result: { extraInfo: unknown };
    try {
      result = orig.call(this, name, inputs, f);
    } finally {
      stack.pop();
    }
    const extra = result.extraInfo;
    result.extraInfo = Promise.resolve(extra).then((e) => JSON.stringify({ depth, parent, extra: e ?? '' }));
    return result;
  };
  let info: Awaited<ReturnType<typeof tf.profile>>;
  const t0 = performance.now();
  try {
    info = await tf.profile(async () => {
      const out = await fn();
      return out as tf.TensorContainer;
    });
  } finally {
    profiler.profileKernel = orig;
    tf.env().set('CHECK_COMPUTATION_FOR_ERRORS', checkBefore);
  }
  const wallMs = performance.now() - t0;
  tf.dispose(info.result as tf.TensorContainer);
  const kernels: KernelRecord[] = info.kernels.map((k) => {
    let depth = 1;
    let parent = '';
    try {
      const j = JSON.parse(String(k.extraInfo));
      depth = j.depth ?? 1;
      parent = j.parent ?? '';
    } catch {
      depth = 1;
    }
    return {
      name: k.name,
      ms: Number(k.kernelTimeMs) || 0,
      depth,
      parent,
      inputShapes: k.inputShapes as (number[] | null)[],
      outputShapes: k.outputShapes as number[][],
    };
  });
  return { kernels, wallMs };
}

/** Sum kernel time by name over the kernels of one depth (default: top level), largest first. */
export function aggregateKernels(kernels: KernelRecord[], depth = 1): KernelAggregate[] {
  const byName = new Map<string, { ms: number; calls: number }>();
  let total = 0;
  for (const k of kernels) {
    if (k.depth !== depth) continue;
    const a = byName.get(k.name) ?? { ms: 0, calls: 0 };
    a.ms += k.ms;
    a.calls += 1;
    total += k.ms;
    byName.set(k.name, a);
  }
  return [...byName.entries()]
    .map(([name, a]) => ({ name, ms: a.ms, calls: a.calls, share: total > 0 ? a.ms / total : 0 }))
    .sort((a, b) => b.ms - a.ms);
}

/** Forward kernels a backward kernel is compared with (same x, filter and y shapes). */
const BACKWARD_TO_FORWARD: Record<string, string[]> = {
  Conv2DBackpropFilter: ['Conv2D', 'FusedConv2D'],
  Conv2DBackpropInput: ['Conv2D', 'FusedConv2D'],
  DepthwiseConv2dNativeBackpropFilter: ['DepthwiseConv2dNative', 'FusedDepthwiseConv2D'],
  DepthwiseConv2dNativeBackpropInput: ['DepthwiseConv2dNative', 'FusedDepthwiseConv2D'],
};

/** The (x, filter, y) shapes of a conv-family kernel call, as a key; null when not a conv kernel. */
export function convKey(k: KernelRecord): string | null {
  const s = (a: number[] | null | undefined) => (a ? a.join('x') : '?');
  switch (k.name) {
    case 'Conv2D':
    case 'FusedConv2D':
    case 'DepthwiseConv2dNative':
    case 'FusedDepthwiseConv2D':
      // inputs: x, filter[, bias, preluActivationWeights]; output: y
      return `x${s(k.inputShapes[0])}_w${s(k.inputShapes[1])}_y${s(k.outputShapes[0])}`;
    case 'Conv2DBackpropFilter':
    case 'DepthwiseConv2dNativeBackpropFilter':
      // inputs: x, dy; output: dW
      return `x${s(k.inputShapes[0])}_w${s(k.outputShapes[0])}_y${s(k.inputShapes[1])}`;
    case 'Conv2DBackpropInput':
    case 'DepthwiseConv2dNativeBackpropInput':
      // inputs: dy, filter; output: dx
      return `x${s(k.outputShapes[0])}_w${s(k.inputShapes[1])}_y${s(k.inputShapes[0])}`;
    default:
      return null;
  }
}

export interface BackwardVsForward {
  kernel: string;
  forwardKernel: string;
  key: string;
  /** Mean ms per call of the backward kernel at this shape. */
  backwardMs: number;
  /** Mean ms per call of the forward conv at the same shapes. */
  forwardMs: number;
  ratio: number;
  calls: number;
}

/**
 * Each backward conv kernel (filter and input gradients, plain and depthwise) against its forward
 * conv at the same (x, filter, y) shapes: mean time per call, per shape. Backward kernels whose
 * forward shape never ran in the profile are listed with `forwardMs = NaN`.
 * Backward kernels count at the top level (depth 1); forward convs also when they run inside an
 * op scope of their own (e.g. `fusedConv2d__op`, the custom-gradient wrapper of fused conv+bias+relu),
 * but not when called from inside another kernel (e.g. a backward kernel built from forward convs).
 */
export function backwardVsForward(kernels: KernelRecord[]): BackwardVsForward[] {
  const fwd = new Map<string, { ms: number; calls: number; name: string }>();
  const bwd = new Map<string, { ms: number; calls: number; name: string; key: string }>();
  for (const k of kernels) {
    const key = convKey(k);
    if (!key) continue;
    const isBackward = k.name in BACKWARD_TO_FORWARD;
    if (isBackward ? k.depth !== 1 : !(k.depth === 1 || (k.depth === 2 && k.parent.endsWith('__op')))) continue;
    if (isBackward) {
      const id = `${k.name}|${key}`;
      const a = bwd.get(id) ?? { ms: 0, calls: 0, name: k.name, key };
      a.ms += k.ms;
      a.calls += 1;
      bwd.set(id, a);
    } else {
      const family = k.name.includes('Depthwise') ? 'dw' : 'conv';
      const id = `${family}|${key}`;
      const a = fwd.get(id) ?? { ms: 0, calls: 0, name: k.name };
      a.ms += k.ms;
      a.calls += 1;
      fwd.set(id, a);
    }
  }
  const out: BackwardVsForward[] = [];
  for (const b of bwd.values()) {
    const family = b.name.includes('Depthwise') ? 'dw' : 'conv';
    const f = fwd.get(`${family}|${b.key}`);
    const backwardMs = b.ms / b.calls;
    const forwardMs = f ? f.ms / f.calls : NaN;
    out.push({
      kernel: b.name,
      forwardKernel: f ? f.name : BACKWARD_TO_FORWARD[b.name][0],
      key: b.key,
      backwardMs,
      forwardMs,
      ratio: backwardMs / forwardMs,
      calls: b.calls,
    });
  }
  return out.sort((a, b) => (Number.isNaN(b.ratio) ? -1 : b.ratio) - (Number.isNaN(a.ratio) ? -1 : a.ratio));
}
