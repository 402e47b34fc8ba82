/**
 * Gradients tfjs-core 4.22 lacks, registered for every backend (the gradient registry is global):
 * `Conv2D` and `DepthwiseConv2dNative` with dilation rates > 1 (tfjs throws "dilation rates greater
 * than 1 are not yet supported in gradients"). Atrous convs are what PSPNet / DeepLab backbones use
 * to keep output stride 8. Non-dilated convs keep tfjs's own gradient.
 * Also `Relu` from its saved output (see below), and `ResizeBilinear` with `halfPixelCenters: true` (PyTorch's `align_corners=False`): the tfjs
 * 4.22 `ResizeBilinearGrad` kernels ignore that attribute and return a wrong gradient.
 * @example
 *   registerDilatedConvGradients();
 *   const [gx, gw] = tf.grads((x, w) => tf.conv2d(x, w, 1, 'same', 'NHWC', 2).sum())([x, w]);
 */
import * as tf from '@tensorflow/tfjs';
import { assertNHWC, pair } from './conv-util';
import { conv2dFilterGrad, conv2dInputGrad, depthwiseFilterGrad, depthwiseInputGrad } from './conv-grads';
import { wasmNativeKernelsActive, wasmTrainingKernelsRegistered } from './wasm-kernels';

type AnyAttrs = Record<string, any>;

function isDilated(dilations: unknown): boolean {
  const [dh, dw] = pair(dilations as number | [number, number] | undefined);
  return dh !== 1 || dw !== 1;
}

/**
 * The `[outSize, inSize]` interpolation matrix of one axis of `tf.image.resizeBilinear`, with the
 * cpu backend's source-index formula (TF's): `src = ratio*(o+0.5)-0.5` with half-pixel centres,
 * `ratio*o` otherwise; `lo = max(0, floor(src))`, `hi = min(in-1, ceil(src))`, weight of hi `src-lo`.
 */
export function bilinearAxisMatrix(inSize: number, outSize: number, alignCorners: boolean, halfPixelCenters: boolean): Float32Array {
  const effIn = alignCorners && outSize > 1 ? inSize - 1 : inSize;
  const effOut = alignCorners && outSize > 1 ? outSize - 1 : outSize;
  const ratio = effIn / effOut;
  const a = new Float32Array(outSize * inSize);
  for (let o = 0; o < outSize; o++) {
    const src = halfPixelCenters ? ratio * (o + 0.5) - 0.5 : ratio * o;
    const lo = Math.max(0, Math.floor(src));
    const hi = Math.min(inSize - 1, Math.ceil(src));
    const frac = src - lo;
    a[o * inSize + lo] += 1 - frac;
    a[o * inSize + hi] += frac;
  }
  return a;
}

/**
 * Gradient of `resizeBilinear` w.r.t. its images as two dense matMuls with the transposed
 * interpolation matrices (`dx = A_h^T · dy · A_w` per image and channel). Used for
 * `halfPixelCenters: true`, which the `ResizeBilinearGrad` kernels of tfjs 4.22 (cpu and wasm) ignore.
 */
export function resizeBilinearGradDense(
  dy: tf.Tensor4D, imagesShape: number[], alignCorners: boolean, halfPixelCenters: boolean,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, ih, iw, c] = imagesShape;
    const [, oh, ow] = dy.shape;
    const ah = tf.tensor2d(bilinearAxisMatrix(ih, oh, alignCorners, halfPixelCenters), [oh, ih]);
    const aw = tf.tensor2d(bilinearAxisMatrix(iw, ow, alignCorners, halfPixelCenters), [ow, iw]);
    // Reduce the height first: [B,OW,C,OH]·[OH,IH] → [B,IH,C,OW]·[OW,IW] → [B,IH,IW,C].
    const t1 = tf.matMul(tf.transpose(dy, [0, 2, 3, 1]).reshape([-1, oh]), ah).reshape([b, ow, c, ih]);
    const t2 = tf.matMul(tf.transpose(t1, [0, 3, 2, 1]).reshape([-1, ow]), aw).reshape([b, ih, c, iw]);
    return tf.transpose(t2, [0, 1, 3, 2]) as tf.Tensor4D;
  });
}

let ourConvGrad: tf.GradFunc | null = null;

/**
 * package.json maps `@tensorflow/tfjs-node` to plain `@tensorflow/tfjs` (danfojs-node requires it).
 * That copy of the tfjs bundle re-registers every stock gradient when it is first loaded, which would
 * silently replace the gradients below (e.g. when a notebook loads danfojs after training). Load it
 * first so that ours are registered last; a real tfjs-node build is left alone.
 */
function preloadTfjsNodeAlias(): void {
  try {
    const pkg = require('@tensorflow/tfjs-node/package.json') as { name?: string };
    if (pkg.name === '@tensorflow/tfjs') require('@tensorflow/tfjs-node');
  } catch {
    // not installed: nothing can overwrite the registry that way
  }
}

/**
 * Register the dilated `Conv2D` / `DepthwiseConv2dNative` gradients and the `ResizeBilinear`
 * gradient with half-pixel centres (idempotent).
 */
export function registerDilatedConvGradients(): void {
  preloadTfjsNodeAlias();
  if (ourConvGrad && tf.getGradient('Conv2D')?.gradFunc === ourConvGrad) return;
  const conv = tf.getGradient('Conv2D');
  const depthwise = tf.getGradient('DepthwiseConv2dNative');
  if (!conv || !depthwise) throw new Error('tfjs-core has no Conv2D / DepthwiseConv2dNative gradient to extend');

  tf.registerGradient({
    kernelName: 'Conv2D',
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, saved, attrs) => {
      const a = attrs as AnyAttrs;
      if (!isDilated(a.dilations)) return conv.gradFunc(dy, saved, attrs);
      assertNHWC(a.dataFormat, 'gradient of dilated conv2d');
      const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
      const g = { strides: a.strides, pad: a.pad, dilations: a.dilations, dimRoundingMode: a.dimRoundingMode };
      const d = dy as tf.Tensor4D;
      if (tf.getBackend() === 'wasm' && wasmTrainingKernelsRegistered()) {
        // our wasm Conv2DBackprop* kernels (native or JS) take the dilation directly
        const base = { strides: a.strides, pad: a.pad, dataFormat: 'NHWC', dimRoundingMode: a.dimRoundingMode, dilations: a.dilations };
        return {
          x: () => tf.engine().runKernel('Conv2DBackpropInput', { dy: d, filter }, { ...base, inputShape: x.shape }) as tf.Tensor,
          filter: () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy: d }, { ...base, filterShape: filter.shape }) as tf.Tensor,
        };
      }
      return {
        x: () => conv2dInputGrad(d, filter, x.shape, g),
        filter: () => conv2dFilterGrad(x, d, filter.shape, g),
      };
    },
  });

  tf.registerGradient({
    kernelName: 'DepthwiseConv2dNative',
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, saved, attrs) => {
      const a = attrs as AnyAttrs;
      if (!isDilated(a.dilations)) return depthwise.gradFunc(dy, saved, attrs);
      assertNHWC(a.dataFormat, 'gradient of dilated depthwiseConv2d');
      const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
      const g = { strides: a.strides, pad: a.pad, dilations: a.dilations, dimRoundingMode: a.dimRoundingMode };
      const d = dy as tf.Tensor4D;
      if (tf.getBackend() === 'wasm' && wasmTrainingKernelsRegistered()) {
        // our wasm depthwise backprop kernels (native or JS) take the dilation directly
        const base = { strides: a.strides, pad: a.pad, dimRoundingMode: a.dimRoundingMode, dilations: a.dilations };
        return {
          x: () => tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy: d, filter }, { ...base, inputShape: x.shape }) as tf.Tensor,
          filter: () => tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy: d }, { ...base, filterShape: filter.shape }) as tf.Tensor,
        };
      }
      return {
        x: () => depthwiseInputGrad(d, filter, x.shape, g),
        filter: () => depthwiseFilterGrad(x, d, filter.shape, g),
      };
    },
  });
  tf.registerGradient({
    kernelName: 'ResizeBilinear',
    inputsToSave: ['images'],
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
      const a = attrs as AnyAttrs;
      const [images] = saved;
      if (!a.halfPixelCenters || (tf.getBackend() === 'wasm' && wasmNativeKernelsActive())) {
        // (the native wasm ResizeBilinearGrad honours halfPixelCenters)
        return { images: () => tf.engine().runKernel('ResizeBilinearGrad', { dy: dy as tf.Tensor, images }, attrs) as tf.Tensor };
      }
      return { images: () => resizeBilinearGradDense(dy as tf.Tensor4D, images.shape, !!a.alignCorners, true) };
    },
  });
  // ReLU: the gradient from the saved OUTPUT (y > 0 ⇔ x > 0), so the ReLU's input (a BatchNorm output)
  // need not be kept for the backward pass (the output is kept anyway as the next conv's input); one
  // native kernel where the backend has it (`CwdReluGrad`), else tfjs's formula dy·step(y).
  tf.registerGradient({
    kernelName: 'Relu',
    outputsToSave: [true],
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const [y] = saved;
      const d = dy as tf.Tensor;
      if (d.dtype === 'float32' && y.dtype === 'float32' && tf.getKernel(RELU_GRAD, tf.getBackend())) {
        return { x: () => tf.engine().runKernel(RELU_GRAD, { dy: d, y }, {}) as tf.Tensor };
      }
      return { x: () => tf.mul(d, tf.cast(tf.step(y), 'float32')) };
    },
  });
  // ClipByValue (ReLU6 of MobileNetV2: tfjs-layers clips after the ReLU): one native kernel where the
  // backend has it (`CwdClipGrad`: dy where lo ≤ x ≤ hi, else 0) instead of tfjs's GreaterEqual,
  // LessEqual, LogicalAnd, ZerosLike and Select (~25% of the MobileNetV2 student's step); else tfjs's own.
  const clip = tf.getGradient('ClipByValue');
  if (clip && clip.gradFunc !== ourClipGrad) {
    const stock = clip.gradFunc;
    ourClipGrad = (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
      const [x] = saved;
      const d = dy as tf.Tensor;
      const a = attrs as AnyAttrs;
      if (d.dtype === 'float32' && x.dtype === 'float32' && tf.getKernel(CLIP_GRAD, tf.getBackend())) {
        return { x: () => tf.engine().runKernel(CLIP_GRAD, { dy: d, x }, { clipValueMin: a.clipValueMin, clipValueMax: a.clipValueMax }) as tf.Tensor };
      }
      return stock(dy, saved, attrs);
    };
    tf.registerGradient({ kernelName: 'ClipByValue', inputsToSave: ['x'], gradFunc: ourClipGrad });
  }
  ourConvGrad = tf.getGradient('Conv2D')!.gradFunc;
}

let ourClipGrad: tf.GradFunc | null = null;
/** Kernel of the ClipByValue gradient: dx = clipValueMin ≤ x ≤ clipValueMax ? dy : 0 (lib/backend/native.ts registers it for wasm). */
const CLIP_GRAD = 'CwdClipGrad';

/** Kernel of the ReLU gradient from its output: dx = y > 0 ? dy : 0 (lib/backend/native.ts registers it for wasm). */
const RELU_GRAD = 'CwdReluGrad';
