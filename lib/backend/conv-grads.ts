/**
 * Convolution gradients written with ordinary tfjs ops, so they run on any backend (they are the
 * wasm training kernels of `wasm-kernels.ts` and the dilated-conv gradients of `gradients.ts`).
 * NHWC only. Each function supports strides and dilations (tfjs never has both > 1 at once).
 */
import * as tf from '@tensorflow/tfjs';
import { Pad, Pair, im2colTaps, padForInputGrad, padInput, pair, zeroInsert } from './conv-util';

/** The window of tap (i, j) of the padded input (see `im2colTaps`), as a one-element list. */
function im2colTapAt(xp: tf.Tensor4D, i: number, j: number, ci: tf.backend_util.Conv2DInfo): tf.Tensor4D[] {
  const [b, , , c] = xp.shape;
  const h0 = i * ci.dilationHeight;
  const w0 = j * ci.dilationWidth;
  const sh = ci.strideHeight;
  const sw = ci.strideWidth;
  const t = sh === 1 && sw === 1
    ? tf.slice(xp, [0, h0, w0, 0], [b, ci.outHeight, ci.outWidth, c])
    : tf.stridedSlice(xp, [0, h0, w0, 0], [b, h0 + (ci.outHeight - 1) * sh + 1, w0 + (ci.outWidth - 1) * sw + 1, c], [1, sh, sw, 1]) as tf.Tensor4D;
  return [t];
}

export interface ConvGeometry {
  strides: Pair;
  pad: Pad;
  dilations?: Pair;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function info(xShape: number[], filterShape: number[], g: ConvGeometry, depthwise: boolean): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number], filterShape as [number, number, number, number],
    pair(g.strides), pair(g.dilations), g.pad as 'same', g.dimRoundingMode, depthwise,
  );
}

/**
 * dL/dW of `conv2d(x, W)`: one `[Co, N] x [N, Ci]` matMul per filter tap (im2col split by tap, which
 * avoids materialising the whole im2col matrix; `dy` is transposed once because wasm's transposed
 * BatchMatMul is ~10x slower than the plain one).
 * @example const dW = conv2dFilterGrad(x, dy, [3, 3, 8, 16], {strides: 1, pad: 'same', dilations: 2});
 */
export function conv2dFilterGrad(
  x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: [number, number, number, number], g: ConvGeometry,
): tf.Tensor4D {
  return tf.tidy(() => {
    const ci = info(x.shape, filterShape, g, false);
    const [kh, kw, cin, cout] = filterShape;
    if (x.shape[3] !== cin) throw new Error(`conv2dFilterGrad: x has ${x.shape[3]} channels but filterShape expects ${cin}`);
    const xp = padInput(x, ci.padInfo);
    const dyT = tf.transpose(dy.reshape([-1, cout]));                    // [Co, N]
    // one tap at a time: K x [Co, Ci] (all windows alive at once would multiply the peak memory)
    const parts: tf.Tensor[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        parts.push(tf.tidy(() => tf.matMul(dyT, im2colTapAt(xp, i, j, ci)[0].reshape([-1, cin]))));
      }
    }
    if (parts.length === 1) return tf.transpose(parts[0]).reshape(filterShape) as tf.Tensor4D;
    return tf.transpose(tf.stack(parts), [0, 2, 1]).reshape(filterShape) as tf.Tensor4D;
  });
}

/**
 * dL/dx of `conv2d(x, W)`: a 'valid' conv of the zero-inserted, padded `dy` with the flipped,
 * in/out-swapped filter (with the forward dilation).
 */
export function conv2dInputGrad(
  dy: tf.Tensor4D, filter: tf.Tensor4D, inputShape: [number, number, number, number], g: ConvGeometry,
): tf.Tensor4D {
  return tf.tidy(() => {
    const ci = info(inputShape, filter.shape, g, false);
    const [kh, kw] = filter.shape;
    let d = zeroInsert(dy, ci.strideHeight, ci.strideWidth);
    d = padForInputGrad(d, ci.inHeight, ci.inWidth, kh, kw, ci.dilationHeight, ci.dilationWidth, ci.padInfo.top, ci.padInfo.left);
    const wT = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
    return tf.conv2d(d, wT, 1, 'valid', 'NHWC', [ci.dilationHeight, ci.dilationWidth]);
  });
}

/**
 * dL/dW of `depthwiseConv2d(x, W)` (any channel multiplier): per tap, the sum over batch and space
 * of `x_window[c] * dy[c, m]`.
 */
export function depthwiseFilterGrad(
  x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: [number, number, number, number], g: ConvGeometry,
): tf.Tensor4D {
  return tf.tidy(() => {
    const ci = info(x.shape, filterShape, g, true);
    const [kh, kw, c, m] = filterShape;
    const xp = padInput(x, ci.padInfo);
    const [b, oh, ow] = dy.shape;
    const dy5 = m === 1 ? dy : dy.reshape([b, oh, ow, c, m]);
    // one tap at a time (each window is as large as dy: keeping all of them alive multiplies the peak memory)
    const sums: tf.Tensor[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        sums.push(tf.tidy(() => {
          const [t] = im2colTapAt(xp, i, j, ci);
          return m === 1 ? tf.sum(tf.mul(t, dy5), [0, 1, 2]) : tf.sum(tf.mul(t.reshape([b, oh, ow, c, 1]), dy5), [0, 1, 2]);
        }));
      }
    }
    return tf.stack(sums).reshape(filterShape) as tf.Tensor4D;
  });
}

/** dL/dx of `depthwiseConv2d(x, W)` (any channel multiplier): a depthwise conv with the flipped filter. */
export function depthwiseInputGrad(
  dy: tf.Tensor4D, filter: tf.Tensor4D, inputShape: [number, number, number, number], g: ConvGeometry,
): tf.Tensor4D {
  return tf.tidy(() => {
    const ci = info(inputShape, filter.shape, g, true);
    const [kh, kw, c, m] = filter.shape;
    let d = zeroInsert(dy, ci.strideHeight, ci.strideWidth);
    d = padForInputGrad(d, ci.inHeight, ci.inWidth, kh, kw, ci.dilationHeight, ci.dilationWidth, ci.padInfo.top, ci.padInfo.left);
    const wflip = tf.reverse(filter, [0, 1]) as tf.Tensor4D;
    const dil: [number, number] = [ci.dilationHeight, ci.dilationWidth];
    if (m === 1) return tf.depthwiseConv2d(d, wflip, 1, 'valid', 'NHWC', dil);
    const [b, h, w] = d.shape;
    const d5 = d.reshape([b, h, w, c, m]);
    let acc: tf.Tensor4D | null = null;
    for (let k = 0; k < m; k++) {
      const dk = tf.slice(d5, [0, 0, 0, 0, k], [b, h, w, c, 1]).reshape([b, h, w, c]) as tf.Tensor4D;
      const wk = tf.slice(wflip, [0, 0, 0, k], [kh, kw, c, 1]) as tf.Tensor4D;
      const part = tf.depthwiseConv2d(dk, wk, 1, 'valid', 'NHWC', dil);
      acc = acc ? (tf.add(acc, part) as tf.Tensor4D) : part;
    }
    return acc as tf.Tensor4D;
  });
}
