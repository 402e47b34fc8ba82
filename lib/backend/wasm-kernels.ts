/**
 * Training kernels that `@tensorflow/tfjs-backend-wasm` 4.22 lacks (or has in a slow form),
 * registered for the `wasm` backend with `tf.registerKernel`:
 *
 * | kernel                                 | implementation                                         |
 * |----------------------------------------|--------------------------------------------------------|
 * | `Conv2DBackpropFilter`                 | im2col split by tap, one matMul per tap (`conv2dFilterGrad`) |
 * | `Conv2DBackpropInput`                  | replaces wasm's own (~20x slower): zero-insert + flipped 'valid' conv |
 * | `DepthwiseConv2dNativeBackpropFilter`  | per-tap multiply-and-sum                               |
 * | `DepthwiseConv2dNativeBackpropInput`   | zero-insert + flipped depthwise conv                   |
 * | `UnsortedSegmentSum`                   | the cpu backend's kernel on a copy of the data (gradient of gather) |
 * | `MaxPoolGrad`                          | the cpu kernel on a copy: wasm's own drops some windows' gradient |
 * | `AvgPoolGrad`                          | tiled windows (pyramid pooling bins) as a broadcast, else wasm's |
 * | `OneHot`                               | float32 output via the cpu kernel: wasm's writes int bit patterns |
 * | `Identity`                             | shares the input's memory (reference count), as wasm's `Reshape` and the cpu backend do; wasm's copies it |
 *
 * They are built from ops the wasm backend has (XNNPACK conv, matMul, slice, pad …).
 * @example
 *   import { registerWasmTrainingKernels } from './wasm-kernels';
 *   registerWasmTrainingKernels();   // idempotent; then tf.grads(...) works on 'wasm'
 */
import * as tf from '@tensorflow/tfjs';
import { asTensor, assertNHWC } from './conv-util';
import { conv2dFilterGrad, conv2dInputGrad, depthwiseFilterGrad, depthwiseInputGrad } from './conv-grads';
import { loadNativeKernels, nativeElementwiseFuncs, nativeKernelFuncs } from './native';
import { registerNativeLossKernels } from './loss-kernels';
import { replaceKernel } from './kernel-registry';

/** The kernels `registerWasmTrainingKernels` installs for the 'wasm' backend. */
export const WASM_TRAINING_KERNELS = [
  'OneHot',
  'MaxPoolGrad',
  'AvgPoolGrad',
  'Conv2DBackpropFilter',
  'Conv2DBackpropInput',
  'DepthwiseConv2dNativeBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
  'UnsortedSegmentSum',
  'Identity',
] as const;

type KernelArgs = Parameters<tf.KernelFunc>[0];
type AnyAttrs = Record<string, any>;

export { replaceKernel };

function conv2DBackpropFilter({ inputs, attrs }: KernelArgs): tf.TensorInfo {
  const a = attrs as AnyAttrs;
  assertNHWC(a.dataFormat, 'Conv2DBackpropFilter (wasm)');
  const x = asTensor<tf.Rank.R4>(inputs.x, 'Conv2DBackpropFilter');
  const dy = asTensor<tf.Rank.R4>(inputs.dy, 'Conv2DBackpropFilter');
  return conv2dFilterGrad(x, dy, a.filterShape, { strides: a.strides, pad: a.pad, dilations: a.dilations, dimRoundingMode: a.dimRoundingMode });
}

function conv2DBackpropInput({ inputs, attrs }: KernelArgs): tf.TensorInfo {
  const a = attrs as AnyAttrs;
  assertNHWC(a.dataFormat, 'Conv2DBackpropInput (wasm)');
  const dy = asTensor<tf.Rank.R4>(inputs.dy, 'Conv2DBackpropInput');
  const filter = asTensor<tf.Rank.R4>(inputs.filter, 'Conv2DBackpropInput');
  return conv2dInputGrad(dy, filter, a.inputShape, { strides: a.strides, pad: a.pad, dilations: a.dilations, dimRoundingMode: a.dimRoundingMode });
}

function depthwiseBackpropFilter({ inputs, attrs }: KernelArgs): tf.TensorInfo {
  const a = attrs as AnyAttrs;
  const x = asTensor<tf.Rank.R4>(inputs.x, 'DepthwiseConv2dNativeBackpropFilter');
  const dy = asTensor<tf.Rank.R4>(inputs.dy, 'DepthwiseConv2dNativeBackpropFilter');
  return depthwiseFilterGrad(x, dy, a.filterShape,
    { strides: a.strides, pad: a.pad, dilations: a.dilations, dimRoundingMode: a.dimRoundingMode });
}

function depthwiseBackpropInput({ inputs, attrs }: KernelArgs): tf.TensorInfo {
  const a = attrs as AnyAttrs;
  const dy = asTensor<tf.Rank.R4>(inputs.dy, 'DepthwiseConv2dNativeBackpropInput');
  const filter = asTensor<tf.Rank.R4>(inputs.filter, 'DepthwiseConv2dNativeBackpropInput');
  return depthwiseInputGrad(dy, filter, a.inputShape,
    { strides: a.strides, pad: a.pad, dilations: a.dilations, dimRoundingMode: a.dimRoundingMode });
}

/**
 * A wasm kernel that runs the cpu backend's implementation on copies of the inputs (for kernels
 * that are rare in training and cheap, e.g. `UnsortedSegmentSum` from the gradient of gather).
 */
export function cpuFallbackKernel(kernelName: string): tf.KernelFunc {
  const cpuKernel = tf.getKernel(kernelName, 'cpu');
  if (!cpuKernel) throw new Error(`cpuFallbackKernel: the cpu backend has no kernel '${kernelName}'`);
  return ({ inputs, attrs, backend }: KernelArgs) => {
    const cpu = tf.engine().findBackend('cpu') as unknown as tf.KernelBackend & {
      makeTensorInfo(shape: number[], dtype: tf.DataType, values: tf.backend_util.BackendValues): tf.TensorInfo;
    };
    if (!cpu) throw new Error(`${kernelName} on wasm needs the cpu backend for its fallback, and it is not registered`);
    const wasm = backend as tf.KernelBackend & {
      makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number | null, values?: tf.backend_util.BackendValues): tf.TensorInfo;
    };
    const cin: Record<string, tf.TensorInfo> = {};
    for (const [k, t] of Object.entries(inputs) as [string, tf.TensorInfo][]) {
      cin[k] = cpu.makeTensorInfo(t.shape, t.dtype, wasm.readSync(t.dataId) as tf.backend_util.BackendValues);
    }
    try {
      const out = cpuKernel.kernelFunc({ inputs: cin, attrs, backend: cpu });
      const outs = Array.isArray(out) ? out : [out];
      const res = outs.map((o) => {
        const r = wasm.makeOutput(o.shape, o.dtype, null, cpu.readSync(o.dataId) as tf.backend_util.BackendValues);
        cpu.disposeData(o.dataId);
        return r;
      });
      return Array.isArray(out) ? res : res[0];
    } finally {
      for (const t of Object.values(cin)) cpu.disposeData(t.dataId);
    }
  };
}

/**
 * `AvgPoolGrad` when the windows tile the input (stride == window, no padding: PSPNet's pyramid
 * pooling bins): the gradient is `dy / area` repeated over each window. wasm's own kernel visits
 * every window for every input pixel (one 4x2x2x128 → 4x32x64x128 call took ~0.3 s). Other
 * geometries go to `fallback`.
 */
function avgPoolGradTiled(fallback: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { dy: dyInfo, input } = args.inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
    const a = args.attrs as AnyAttrs;
    const [fh, fw] = typeof a.filterSize === 'number' ? [a.filterSize, a.filterSize] : a.filterSize;
    const [sh, sw] = typeof a.strides === 'number' ? [a.strides, a.strides] : a.strides;
    if (input.shape.length !== 4 || dyInfo.dtype !== 'float32') return fallback(args);
    const [b, h, w, c] = input.shape;
    const [, oh, ow] = dyInfo.shape;
    const tiled = fh === sh && fw === sw && (a.pad === 'valid' || a.pad === 0) && oh === Math.floor(h / fh) && ow === Math.floor(w / fw);
    if (!tiled) return fallback(args);
    const dy = asTensor<tf.Rank.R4>(dyInfo, 'AvgPoolGrad');
    return tf.tidy(() => {
      let g = tf.mul(dy, 1 / (fh * fw)).reshape([b, oh, 1, ow, 1, c]);
      g = tf.tile(g, [1, 1, fh, 1, fw, 1]).reshape([b, oh * fh, ow * fw, c]);
      if (oh * fh !== h || ow * fw !== w) g = tf.pad(g, [[0, 0], [0, h - oh * fh], [0, w - ow * fw], [0, 0]]);
      return g;
    });
  };
}

let registered: { native: boolean } | null = null;

/** Element-wise / reduction kernels the native addon also takes over (large float32 tensors, common broadcasts). */
export const NATIVE_ELEMENTWISE = ['Add', 'Sub', 'Multiply', 'RealDiv', 'Exp', 'Relu', 'Sum', 'Mean', 'Max', 'BatchMatMul', 'Slice', 'SplitV', 'AvgPoolGrad', 'MaxPoolGrad', 'OneHot', 'ResizeBilinearGrad'];

/**
 * Register the training kernels of `WASM_TRAINING_KERNELS` for the 'wasm' backend (idempotent;
 * importing `@tensorflow/tfjs-backend-wasm` first is required, initialising it is not).
 * With `native` (default true) and the addon of `native.ts` available, `Conv2D`, `FusedConv2D`,
 * `Conv2DBackpropFilter` and `Conv2DBackpropInput` run natively (see `nativeKernelsStatus()`), and
 * unless `elementwise: false` (or `CWD_NATIVE_ELEMENTWISE=0`) also the `NATIVE_ELEMENTWISE` kernels
 * for large float32 tensors with same-shape / per-channel / per-row / scalar broadcasting and
 * reductions over the leading axes or the last axis (everything else stays on wasm).
 * Our `Conv2DBackprop*` kernels also accept a `dilations` attribute (tfjs's own do not).
 * Returns whether the native kernels are in use.
 */
export function registerWasmTrainingKernels(options: { native?: boolean; elementwise?: boolean } = {}): boolean {
  if (registered) return registered.native;
  const original: Record<string, tf.KernelFunc> = {};
  for (const k of ['Conv2D', 'FusedConv2D', 'DepthwiseConv2dNative', 'FusedDepthwiseConv2D', ...NATIVE_ELEMENTWISE]) {
    const kc = tf.getKernel(k, 'wasm');
    if (!kc) throw new Error(`registerWasmTrainingKernels: tfjs-backend-wasm has no ${k} kernel`);
    original[k] = kc.kernelFunc;
  }
  replaceKernel('Conv2DBackpropFilter', 'wasm', conv2DBackpropFilter);
  replaceKernel('Conv2DBackpropInput', 'wasm', conv2DBackpropInput);
  replaceKernel('DepthwiseConv2dNativeBackpropFilter', 'wasm', depthwiseBackpropFilter);
  replaceKernel('DepthwiseConv2dNativeBackpropInput', 'wasm', depthwiseBackpropInput);
  replaceKernel('UnsortedSegmentSum', 'wasm', cpuFallbackKernel('UnsortedSegmentSum'));
  // tf.clone / x.clone() and every tensor a gradient saves for the backward pass (engine.saveTensorsForBackwardMode
  // clones it) run Identity, which tfjs-backend-wasm 4.22 implements as a full copy (two 33 MB copies per
  // loss call at the feature shape). Tensors are immutable (Variable.assign swaps dataIds), so sharing the
  // memory with a reference count is safe, as wasm's own Reshape does.
  const identityCopy = tf.getKernel('Identity', 'wasm')!.kernelFunc;
  replaceKernel('Identity', 'wasm', (args: KernelArgs) => {
    const { inputs, backend } = args;
    const { x } = inputs as { x: tf.TensorInfo };
    if (x.dtype === 'string') return identityCopy(args);
    (backend as unknown as { incRef(dataId: object): void }).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
  });
  // tfjs-backend-wasm 4.22's MaxPoolGrad loses the gradient of some windows (80 of 960 on a
  // [2,16,24,5] 2x2/2 'valid' pool; test/backend/kernels.test.ts): use the cpu kernel on a copy
  // (the native kernel replaces this when the addon is built).
  replaceKernel('MaxPoolGrad', 'wasm', cpuFallbackKernel('MaxPoolGrad'));
  // tfjs-backend-wasm 4.22's OneHot with dtype 'float32' writes int32 bit patterns (on=1 reads as
  // 1.4e-45): float32 one-hots go to the cpu kernel (or the native one below).
  const oneHotCpu = cpuFallbackKernel('OneHot');
  const oneHotWasm = original.OneHot;
  replaceKernel('OneHot', 'wasm', (args: KernelArgs) => ((args.attrs as AnyAttrs).dtype === 'float32' ? oneHotCpu(args) : oneHotWasm(args)));
  original.OneHot = tf.getKernel('OneHot', 'wasm')!.kernelFunc;
  original.MaxPoolGrad = tf.getKernel('MaxPoolGrad', 'wasm')!.kernelFunc;
  replaceKernel('AvgPoolGrad', 'wasm', avgPoolGradTiled(original.AvgPoolGrad));
  original.AvgPoolGrad = tf.getKernel('AvgPoolGrad', 'wasm')!.kernelFunc; // the native one falls back to the tiled JS one
  let native = false;
  if (options.native !== false && loadNativeKernels().loaded) {
    const funcs = nativeKernelFuncs({
      ...original, Conv2DBackpropFilter: conv2DBackpropFilter, Conv2DBackpropInput: conv2DBackpropInput,
      DepthwiseConv2dNativeBackpropFilter: depthwiseBackpropFilter, DepthwiseConv2dNativeBackpropInput: depthwiseBackpropInput,
    });
    for (const [k, f] of Object.entries(funcs)) replaceKernel(k, 'wasm', f);
    const elementwise = nativeElementwiseFuncs(original);
    // ResizeBilinearGrad is not element-wise but the halfPixelCenters gradient relies on it
    replaceKernel('ResizeBilinearGrad', 'wasm', elementwise.ResizeBilinearGrad);
    if (options.elementwise !== false && process.env.CWD_NATIVE_ELEMENTWISE !== '0') {
      for (const [k, f] of Object.entries(elementwise)) replaceKernel(k, 'wasm', f);
    }
    registerNativeLossKernels(); // the fused distillation losses (loss-kernels.ts)
    native = true;
  }
  registered = { native };
  return native;
}

/** True when the native kernels are registered for wasm (its ResizeBilinearGrad honours halfPixelCenters). */
export function wasmNativeKernelsActive(): boolean {
  return registered?.native === true;
}

/** True once `registerWasmTrainingKernels` ran (our Conv2DBackprop* kernels honour `dilations`). */
export function wasmTrainingKernelsRegistered(): boolean {
  return registered !== null;
}
