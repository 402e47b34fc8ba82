/**
 * From tensors to figure data: channel maps of an NHWC / HWC tensor as `GridMap`s for `channelGridSpec`.
 */
import * as tf from '@tensorflow/tfjs';
import type { GridMap } from './specs';

/**
 * The maps of `channels` of `x` ([H,W,C], or [N,H,W,C] with `image` picking the image) as GridMaps,
 * average-pooled down so that neither side exceeds `maxSize` (every pixel becomes an SVG rect).
 * Reads asynchronously (the webgpu backend has no synchronous reads in Node).
 * @example
 *   await channelMaps(feature, [0, 5, 9], (c) => `channel ${c}`)   // three panels
 */
export async function channelMaps(
  x: tf.Tensor3D | tf.Tensor4D, channels: number[], title: (channel: number) => string,
  options: { image?: number; maxSize?: number } = {},
): Promise<GridMap[]> {
  const maxSize = options.maxSize ?? 32;
  const img = options.image ?? 0;
  const c = x.shape[x.rank - 1];
  channels.forEach((ch) => {
    if (!Number.isInteger(ch) || ch < 0 || ch >= c) throw new Error(`channelMaps: channel ${ch} out of range: the tensor has ${c} channels (shape [${x.shape.join(',')}])`);
  });
  if (x.rank === 4 && (img < 0 || img >= x.shape[0])) throw new Error(`channelMaps: image ${img} out of range: batch of ${x.shape[0]}`);
  const maps = tf.tidy(() => {
    let hwc = (x.rank === 4 ? (x as tf.Tensor4D).slice([img, 0, 0, 0], [1, -1, -1, -1]) : (x as tf.Tensor3D).expandDims(0)) as tf.Tensor4D;
    const [, h, w] = hwc.shape;
    const f = Math.ceil(Math.max(h, w) / maxSize);
    if (f > 1) hwc = tf.avgPool(hwc, [f, f], [f, f], 'valid');
    return tf.gather(hwc, channels, 3) as tf.Tensor4D;
  });
  const [, h, w] = maps.shape;
  const data = await maps.data();
  maps.dispose();
  return channels.map((ch, k) => {
    const values = new Float32Array(h * w);
    for (let i = 0; i < h * w; i++) values[i] = data[i * channels.length + k];
    return { title: title(ch), height: h, width: w, values };
  });
}

/**
 * The values of the tensor `fn` returns (computed inside `tf.tidy`), read asynchronously, the tensor
 * disposed: the notebooks' replacement for `t.dataSync()`, which the webgpu backend lacks in Node.
 * @example
 *   const [m] = await tidyData(() => x.mean());
 */
export async function tidyData(fn: () => tf.Tensor): Promise<Float32Array | Int32Array | Uint8Array> {
  const t = tf.tidy(fn);
  try {
    return await t.data();
  } finally {
    t.dispose();
  }
}
