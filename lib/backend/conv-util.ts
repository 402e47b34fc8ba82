/**
 * Shared helpers for the training kernels and gradients in `lib/backend/`: conv geometry and the
 * "transposed convolution as a plain convolution" padding arithmetic.
 */
import * as tf from '@tensorflow/tfjs';

export type Pad = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
export type Pair = number | [number, number];

/** `[h, w]` from a number or a pair (tfjs attrs allow both). */
export function pair(v: Pair | undefined | null, fallback = 1): [number, number] {
  if (v == null) return [fallback, fallback];
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

/** Throws a clear error for the NCHW data format (every kernel here is NHWC only). */
export function assertNHWC(dataFormat: unknown, where: string): void {
  if (dataFormat != null && dataFormat !== 'NHWC') {
    throw new Error(`${where}: dataFormat '${String(dataFormat)}' is not supported (NHWC only)`);
  }
}

/**
 * The input of a registered kernel as a `tf.Tensor`. Inside `kernelFunc` the engine passes the
 * caller's Tensor objects; use them directly (wrapping and disposing would free the caller's data).
 */
export function asTensor<R extends tf.Rank>(t: unknown, where: string): tf.Tensor<R> {
  if (!(t instanceof tf.Tensor)) throw new Error(`${where}: expected a tf.Tensor input from the engine`);
  return t as tf.Tensor<R>;
}

/**
 * Pad (or crop, for negative amounts) the spatial dims of an NHWC tensor.
 * `[top, bottom, left, right]` may be negative.
 */
export function padOrCrop(x: tf.Tensor4D, top: number, bottom: number, left: number, right: number): tf.Tensor4D {
  let y = x;
  if (top > 0 || bottom > 0 || left > 0 || right > 0) {
    y = tf.pad(y, [[0, 0], [Math.max(top, 0), Math.max(bottom, 0)], [Math.max(left, 0), Math.max(right, 0)], [0, 0]]);
  }
  if (top < 0 || bottom < 0 || left < 0 || right < 0) {
    const h0 = Math.max(-top, 0);
    const w0 = Math.max(-left, 0);
    const [b, h, w, c] = y.shape;
    y = tf.slice(y, [0, h0, w0, 0], [b, h - h0 - Math.max(-bottom, 0), w - w0 - Math.max(-right, 0), c]);
  }
  return y;
}

/**
 * Zero-insert `dy` for a strided convolution: `[B, OH, OW, C]` → `[B, (OH-1)*sh+1, (OW-1)*sw+1, C]`
 * with `dy` at every `sh`-th row and `sw`-th column.
 */
export function zeroInsert(dy: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return dy;
  const [b, oh, ow, c] = dy.shape;
  const spread = tf.pad(dy.reshape([b, oh, 1, ow, 1, c]), [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]])
    .reshape([b, oh * sh, ow * sw, c]) as tf.Tensor4D;
  return tf.slice(spread, [0, 0, 0, 0], [b, (oh - 1) * sh + 1, (ow - 1) * sw + 1, c]);
}

/**
 * The gradient w.r.t. the input of a conv (or depthwise conv) is a 'valid' conv of the zero-inserted,
 * padded `dy` with the spatially flipped filter. This pads `d` (already zero-inserted) so that the
 * 'valid' conv with dilation `(dh, dw)` gives exactly `inH × inW`.
 */
export function padForInputGrad(
  d: tf.Tensor4D, inH: number, inW: number, kh: number, kw: number, dh: number, dw: number, top: number, left: number,
): tf.Tensor4D {
  const pbH = (kh - 1) * dh - top;
  const pbW = (kw - 1) * dw - left;
  const paH = inH + (kh - 1) * dh - pbH - d.shape[1];
  const paW = inW + (kw - 1) * dw - pbW - d.shape[2];
  return padOrCrop(d, pbH, paH, pbW, paW);
}

/**
 * The `kh*kw` taps of an im2col: for each filter position, the `[B, OH, OW, C]` window of the padded
 * input that multiplies it (strided and dilated as the forward conv).
 */
export function im2colTaps(
  xp: tf.Tensor4D, kh: number, kw: number, sh: number, sw: number, dh: number, dw: number, oh: number, ow: number,
): tf.Tensor4D[] {
  const [b, , , c] = xp.shape;
  const taps: tf.Tensor4D[] = [];
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const h0 = i * dh;
      const w0 = j * dw;
      taps.push(sh === 1 && sw === 1
        ? tf.slice(xp, [0, h0, w0, 0], [b, oh, ow, c])
        : tf.stridedSlice(xp, [0, h0, w0, 0], [b, h0 + (oh - 1) * sh + 1, w0 + (ow - 1) * sw + 1, c], [1, sh, sw, 1]) as tf.Tensor4D);
    }
  }
  return taps;
}

/** Pad an NHWC input by the forward conv's padInfo. */
export function padInput(x: tf.Tensor4D, padInfo: { top: number; bottom: number; left: number; right: number }): tf.Tensor4D {
  const { top, bottom, left, right } = padInfo;
  return (top || bottom || left || right) ? tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]]) : x;
}
