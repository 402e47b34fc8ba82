/**
 * Frames for training and evaluation, with every random choice a pure function of (seed, step) so a
 * resumed run sees exactly the batches the killed one would have seen.
 *
 * - `loadSplitFrames(root, split, {downsample})`: the Cityscapes layout on disk (real or synthetic),
 *   decoded losslessly with sharp, labelIds mapped to trainIds, then shrunk by an integer factor
 *   with an exact JS box filter (images) and pixel-centre nearest neighbour (labels), so the same
 *   files always give the same tensors whatever the decoder's resampler does.
 * - `renderSplitFrames(...)`: the same frames rendered in memory by the synthetic generator
 *   (bit-identical to the written PNGs), for tests.
 * Training batches come from the one sampler, `TrainLoader` (lib/data/loader.ts): random scale, crop,
 * flip, optional jitter, normalisation, step-indexed and prefetching.
 * - `frameBatches(frames, batchSize)`: whole-image eval batches in order.
 */
import * as tf from '@tensorflow/tfjs';
import { listCityscapes, loadCityscapesFrame, type CityscapesEntry } from '../cityscapes/dataset';
import { labelIdsToTrainIds } from '../cityscapes/labels';
import { renderSyntheticFrame } from '../cityscapes/synthetic';
import { IMAGENET_MEAN, IMAGENET_STD } from '../data/augment';
import type { Batch, Frame } from '../data/types';


/** Shrink a frame by an integer factor: 2×2 (f×f) box average for RGB, pixel-centre label. */
export function downsampleFrame(f: Frame, factor: number): Frame {
  if (factor === 1) return f;
  if (!Number.isInteger(factor) || factor < 1) throw new Error(`downsampleFrame: factor must be a positive integer, got ${factor}`);
  const w = Math.floor(f.width / factor);
  const h = Math.floor(f.height / factor);
  const image = new Uint8Array(w * h * 3);
  const label = new Uint8Array(w * h);
  const c = Math.floor(factor / 2);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let k = 0; k < 3; k++) {
        let s = 0;
        for (let dy = 0; dy < factor; dy++) for (let dx = 0; dx < factor; dx++) s += f.image[((y * factor + dy) * f.width + x * factor + dx) * 3 + k];
        image[(y * w + x) * 3 + k] = Math.round(s / (factor * factor));
      }
      label[y * w + x] = f.label[(y * factor + c) * f.width + x * factor + c];
    }
  }
  return { id: f.id, width: w, height: h, image, label };
}

/**
 * List `{id, image, label}` file pairs of a split in the Cityscapes layout (sorted by id), through the
 * data layer's reader (`listCityscapes`: named errors for a missing root or split, an image without its
 * label or the reverse, an empty split; `_gtFine_labelTrainIds.png` preferred when present).
 */
export function listSplit(root: string, split: string): { id: string; image: string; label: string }[] {
  return listEntries(root, split).map((e) => ({ id: e.id, image: e.imagePath, label: e.labelPath }));
}

function listEntries(root: string, split: string): CityscapesEntry[] {
  return listCityscapes(root, split).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * Load a split into memory as frames (trainIds), shrunk by `downsample` (integer, default 1).
 * Decoding and validation (corrupt PNGs, size mismatches, label values that are not Cityscapes ids,
 * each error naming the file) are the data layer's `loadCityscapesFrame` at full size; the shrink is
 * this file's exact box filter, so the same files always give the same tensors.
 * @example const val = await loadSplitFrames('data/synthetic-cityscapes', 'val', {downsample: 2});
 */
export async function loadSplitFrames(root: string, split: string, o: { downsample?: number; limit?: number } = {}): Promise<Frame[]> {
  const entries = listEntries(root, split).slice(0, o.limit ?? Infinity);
  const frames: Frame[] = [];
  for (const entry of entries) {
    frames.push(downsampleFrame(await loadCityscapesFrame(entry, 1), o.downsample ?? 1));
  }
  return frames;
}

/** The synthetic frames of a split rendered in memory (same pixels as the PNGs `npm run data` writes). */
export function renderSplitFrames(
  o: { seed: number; split: string; count: number; width: number; height: number; cities?: number; downsample?: number },
): Frame[] {
  const out: Frame[] = [];
  for (let i = 0; i < o.count; i++) {
    const r = renderSyntheticFrame(o.seed, o.split, i, o.width, o.height, o.cities ?? 3);
    const f: Frame = { id: r.id, width: o.width, height: o.height, image: r.image, label: labelIdsToTrainIds(r.labelIds) };
    out.push(downsampleFrame(f, o.downsample ?? 1));
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function normalise(dst: Float32Array, o: number, r: number, g: number, b: number): void {
  dst[o] = (r - IMAGENET_MEAN[0]) / IMAGENET_STD[0];
  dst[o + 1] = (g - IMAGENET_MEAN[1]) / IMAGENET_STD[1];
  dst[o + 2] = (b - IMAGENET_MEAN[2]) / IMAGENET_STD[2];
}

/** Frames → a normalised batch (no augmentation), all frames of one size. */
export function framesToBatch(frames: Frame[]): Batch {
  const { width: w, height: h } = frames[0];
  const img = new Float32Array(frames.length * h * w * 3);
  const lab = new Int32Array(frames.length * h * w);
  frames.forEach((f, b) => {
    if (f.width !== w || f.height !== h) throw new Error(`framesToBatch: frame ${f.id} is ${f.width}x${f.height}, the batch is ${w}x${h}`);
    for (let i = 0; i < h * w; i++) {
      normalise(img, (b * h * w + i) * 3, f.image[i * 3], f.image[i * 3 + 1], f.image[i * 3 + 2]);
      lab[b * h * w + i] = f.label[i];
    }
  });
  return { images: tf.tensor4d(img, [frames.length, h, w, 3]), labels: tf.tensor3d(lab, [frames.length, h, w], 'int32'), ids: frames.map((f) => f.id) };
}

/** Whole-image evaluation batches, in order. */
export function* frameBatches(frames: Frame[], batchSize = 4): Generator<Batch> {
  for (let i = 0; i < frames.length; i += batchSize) yield framesToBatch(frames.slice(i, i + batchSize));
}
