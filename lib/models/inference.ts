/**
 * Test-time inference of a segmentation network on one image, scored at any output size (the label's
 * full resolution for Cityscapes evaluation):
 *
 * - `whole`: one forward pass on the whole image; the stride-8 logits are upsampled bilinearly
 *   (align corners, as `predictLogits`) straight to the output size.
 * - `slide`: windows of `crop` [h, w] every `stride` [h, w] (mmsegmentation's `slide_inference`:
 *   the last row/column of windows is moved back inside the image; an image smaller than the window
 *   is one smaller window); each window's logits are upsampled to the window, overlapping windows
 *   are averaged, and the averaged logits are upsampled to the output size.
 * - `flip`: also run on the horizontally mirrored image and mirror the result back.
 * - `scales`: also run on the image resized bilinearly by each factor (e.g. [0.75, 1, 1.25]).
 *
 * With several passes (flip and/or several scales) the softmax probabilities of the passes at the
 * output size are averaged; a single pass returns the argmax of its upsampled logits, which is
 * exactly `predictLabels` when the output size is the input size.
 *
 * @example
 * const labels = inferLabels(net, image, [1024, 2048], { ...defaultInferenceOptions(), flip: true, scales: [0.75, 1, 1.25] });
 */
import * as tf from '@tensorflow/tfjs';
import { forward } from './predict';
import { upsampleLogits } from './layers';
import type { SegmentationNet } from './types';

export interface InferenceOptions {
  mode: 'whole' | 'slide';
  /** Sliding window [h, w] in pixels of the (scaled) network input; required for 'slide'. */
  crop: [number, number] | null;
  /** Window step [h, w] (default: 2/3 of the window, rounded). */
  stride: [number, number] | null;
  /** Average with the horizontally flipped image. */
  flip: boolean;
  /** Input scale factors (1 = the image as given). */
  scales: number[];
}

export function defaultInferenceOptions(): InferenceOptions {
  return { mode: 'whole', crop: null, stride: null, flip: false, scales: [1] };
}

/** Complete and check inference options; errors name the option. */
export function validateInferenceOptions(o: Partial<InferenceOptions> = {}): InferenceOptions {
  const r: InferenceOptions = { ...defaultInferenceOptions(), ...o };
  if (r.mode !== 'whole' && r.mode !== 'slide') throw new Error(`inference: mode must be 'whole' or 'slide', got '${r.mode}'`);
  const pair = (name: string, v: unknown) => {
    if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => Number.isInteger(x) && x >= 1)) {
      throw new Error(`inference: ${name} must be [h, w] with positive integers, got ${JSON.stringify(v)}`);
    }
  };
  if (r.mode === 'slide') {
    if (!r.crop) throw new Error("inference: mode 'slide' needs crop [h, w] (the window size)");
    pair('crop', r.crop);
    if (r.stride) pair('stride', r.stride);
    else r.stride = [Math.max(1, Math.round((r.crop[0] * 2) / 3)), Math.max(1, Math.round((r.crop[1] * 2) / 3))];
  } else if (r.crop || r.stride) {
    throw new Error("inference: crop/stride are only used with mode 'slide'");
  }
  if (!Array.isArray(r.scales) || r.scales.length === 0 || !r.scales.every((s) => Number.isFinite(s) && s > 0 && s <= 4)) {
    throw new Error(`inference: scales must be a non-empty list of numbers in (0, 4], got ${JSON.stringify(r.scales)}`);
  }
  return r;
}

/** One pass: logits of `image` [1, h, w, 3] at some resolution (whole: stride 8; slide: the image's). */
function passLogits(net: SegmentationNet, image: tf.Tensor4D, o: InferenceOptions): tf.Tensor4D {
  if (o.mode === 'whole') return forward(net, image, { training: false }).logits;
  const [, h, w] = image.shape;
  const [ch, cw] = o.crop!;
  const [sh, sw] = o.stride!;
  const C = net.config.numClasses;
  // windows are summed on the device (each zero-padded to the image), then divided by the count of
  // windows covering each pixel: no read back to the host
  const count = new Float32Array(h * w);
  let sum: tf.Tensor4D = tf.zeros([1, h, w, C]);
  const hGrids = Math.floor(Math.max(h - ch + sh - 1, 0) / sh) + 1;
  const wGrids = Math.floor(Math.max(w - cw + sw - 1, 0) / sw) + 1;
  for (let i = 0; i < hGrids; i++) {
    for (let j = 0; j < wGrids; j++) {
      const y2 = Math.min(i * sh + ch, h);
      const x2 = Math.min(j * sw + cw, w);
      const y1 = Math.max(y2 - ch, 0);
      const x1 = Math.max(x2 - cw, 0);
      const wh = y2 - y1;
      const ww = x2 - x1;
      const next = tf.tidy(() => {
        const crop = tf.slice(image, [0, y1, x1, 0], [1, wh, ww, 3]);
        const win = upsampleLogits(forward(net, crop, { training: false }).logits, [wh, ww]);
        return tf.add(sum, tf.pad(win, [[0, 0], [y1, h - y2], [x1, w - x2], [0, 0]])) as tf.Tensor4D;
      });
      sum.dispose();
      sum = next;
      for (let y = y1; y < y2; y++) for (let x = x1; x < x2; x++) count[y * w + x]++;
    }
  }
  const out = tf.tidy(() => tf.div(sum, tf.tensor4d(count, [1, h, w, 1])) as tf.Tensor4D);
  sum.dispose();
  return out;
}

/** Logits of one (scale, flip) pass upsampled to `outSize`: [1, H, W, C]. */
function passAtSize(net: SegmentationNet, image: tf.Tensor4D, outSize: [number, number], scale: number, flip: boolean, o: InferenceOptions): tf.Tensor4D {
  return tf.tidy(() => {
    let x = image;
    if (scale !== 1) {
      const hs = Math.max(1, Math.round(image.shape[1] * scale));
      const ws = Math.max(1, Math.round(image.shape[2] * scale));
      x = tf.image.resizeBilinear(image, [hs, ws], false, true);
    }
    if (flip) x = tf.reverse(x, 2);
    let logits = upsampleLogits(passLogits(net, x, o), outSize);
    if (flip) logits = tf.reverse(logits, 2);
    return logits;
  });
}

function checkImage(net: SegmentationNet, image: tf.Tensor4D, outSize: [number, number]): void {
  if (image.rank !== 4 || image.shape[0] !== 1 || image.shape[3] !== 3) {
    throw new Error(`inference: image must be one normalised RGB image [1, H, W, 3], got [${image.shape}] for model '${net.config.arch}'`);
  }
  if (!outSize.every((v) => Number.isInteger(v) && v >= 1)) throw new Error(`inference: output size must be [H, W] positive integers, got [${outSize}]`);
}

/**
 * Class probabilities at `outSize` [H, W], averaged over the passes (scales × flips): [1, H, W, C].
 * Runs in tf.tidy: only the returned tensor stays alive.
 */
export function inferProbabilities(
  net: SegmentationNet, image: tf.Tensor4D, outSize: [number, number], options: Partial<InferenceOptions> = {},
): tf.Tensor4D {
  const o = validateInferenceOptions(options);
  checkImage(net, image, outSize);
  const flips = o.flip ? [false, true] : [false];
  let acc: tf.Tensor4D | null = null;
  for (const s of o.scales) {
    for (const f of flips) {
      const p = tf.tidy(() => tf.softmax(passAtSize(net, image, outSize, s, f, o)) as tf.Tensor4D);
      if (acc) {
        const next: tf.Tensor4D = tf.add(acc, p);
        acc.dispose();
        p.dispose();
        acc = next;
      } else acc = p;
    }
  }
  const n = o.scales.length * flips.length;
  return tf.tidy(() => tf.div(acc!, n) as tf.Tensor4D);
}

/**
 * Per-pixel class ids at `outSize` [H, W] (row-major Int32Array of H·W). One pass: argmax of the
 * upsampled logits; several: argmax of the averaged probabilities. Reads the result asynchronously
 * (no synchronous read: works on the webgpu backend).
 * @param image one normalised image [1, h, w, 3] (not disposed).
 */
export async function inferLabels(
  net: SegmentationNet, image: tf.Tensor4D, outSize: [number, number], options: Partial<InferenceOptions> = {},
): Promise<Int32Array> {
  const o = validateInferenceOptions(options);
  checkImage(net, image, outSize);
  const single = o.scales.length === 1 && !o.flip;
  const labels = tf.tidy(() => {
    const scores = single ? passAtSize(net, image, outSize, o.scales[0], false, o) : inferProbabilities(net, image, outSize, o);
    return tf.argMax(scores, 3);
  });
  try {
    return (await labels.data()) as Int32Array;
  } finally {
    labels.dispose();
  }
}
