/**
 * Host-side (typed-array) augmentation for semantic segmentation, mmsegmentation-style:
 * random scale (0.5–2.0) → random crop (labels padded with 255, images with the mean colour, i.e.
 * 0 after normalisation) → horizontal flip → photometric jitter → ImageNet mean/std normalisation.
 *
 * Scale, crop, pad and flip are one inverse mapping per output pixel (bilinear for the image,
 * nearest neighbour for the label, pixel-centre aligned), so the cost is O(crop pixels) and image
 * and label stay aligned by construction.
 *
 * @example
 * const rng = Rng.fromState(hashSeed(seed, epoch, index));
 * const p = sampleAugmentParams(rng, frame.width, frame.height, defaultAugmentConfig());
 * const { image, label } = augmentFrame(frame, p, defaultAugmentConfig()); // Float32 HWC, Int32 HW
 */
import type { Frame } from './types';
import { Rng } from '../rng';

/** ImageNet mean / std in 0..255 units (RGB), as used by mmseg/TorchDistiller. */
export const IMAGENET_MEAN: readonly [number, number, number] = [123.675, 116.28, 103.53];
export const IMAGENET_STD: readonly [number, number, number] = [58.395, 57.12, 57.375];

export interface JitterConfig {
  /** multiplicative brightness factor drawn from [1−b, 1+b] */
  brightness: number;
  /** contrast factor around the crop's mean grey, from [1−c, 1+c] */
  contrast: number;
  /** saturation factor (blend with luminance), from [1−s, 1+s] */
  saturation: number;
}

export interface AugmentConfig {
  /** [min, max] random scale relative to the frame (uniform). [1, 1] disables. */
  scaleRange: [number, number];
  /** Output [height, width]; frames smaller than this after scaling are padded. */
  cropSize: [number, number];
  /** Probability of a horizontal flip. */
  flipProb: number;
  /** Photometric jitter, or null for none. */
  jitter: JitterConfig | null;
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
  /** Label value for padding (255 = ignore). */
  ignoreIndex: number;
}

/** The paper's random scale range (mmseg / TorchDistiller Cityscapes recipe): 0.5–2.0. */
export const DEFAULT_SCALE_RANGE: [number, number] = [0.5, 2.0];
/** Photometric jitter when enabled: brightness, contrast and saturation factors in [0.75, 1.25]. */
export const DEFAULT_JITTER: JitterConfig = { brightness: 0.25, contrast: 0.25, saturation: 0.25 };

/** Defaults: scale 0.5–2.0, crop 256×512, flip 0.5, jitter ±0.25/0.25/0.25, ImageNet normalisation. */
export function defaultAugmentConfig(): AugmentConfig {
  return {
    scaleRange: [...DEFAULT_SCALE_RANGE],
    cropSize: [256, 512],
    flipProb: 0.5,
    jitter: { ...DEFAULT_JITTER },
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    ignoreIndex: 255,
  };
}

/** The random draws for one sample (so a test can replay them). */
export interface AugmentParams {
  scale: number;
  /** Size of the scaled frame. */
  scaledWidth: number;
  scaledHeight: number;
  /** Crop origin in the scaled frame. */
  cropX: number;
  cropY: number;
  flip: boolean;
  brightness: number;
  contrast: number;
  saturation: number;
}

export function validateAugmentConfig(c: AugmentConfig): void {
  const [lo, hi] = c.scaleRange;
  if (!(lo > 0 && hi >= lo && hi <= 8)) throw new Error(`augment: scaleRange must be 0 < min ≤ max ≤ 8, got [${lo}, ${hi}]`);
  const [ch, cw] = c.cropSize;
  if (!(Number.isInteger(ch) && Number.isInteger(cw) && ch > 0 && cw > 0)) {
    throw new Error(`augment: cropSize must be two positive integers [height, width], got [${c.cropSize}]`);
  }
  if (!(c.flipProb >= 0 && c.flipProb <= 1)) throw new Error(`augment: flipProb must be in [0, 1], got ${c.flipProb}`);
  if (c.std.some((s) => !(s > 0))) throw new Error(`augment: std must be positive, got [${c.std}]`);
  if (c.jitter) {
    for (const k of ['brightness', 'contrast', 'saturation'] as const) {
      const v = c.jitter[k];
      if (!(v >= 0 && v < 1)) throw new Error(`augment: jitter.${k} must be in [0, 1), got ${v}`);
    }
  }
}

/** Draw the augmentation parameters for a frame of the given size. */
export function sampleAugmentParams(rng: Rng, width: number, height: number, c: AugmentConfig): AugmentParams {
  const scale = c.scaleRange[0] === c.scaleRange[1] ? c.scaleRange[0] : rng.uniform(c.scaleRange[0], c.scaleRange[1]);
  const scaledWidth = Math.max(1, Math.round(width * scale));
  const scaledHeight = Math.max(1, Math.round(height * scale));
  const [ch, cw] = c.cropSize;
  const cropX = scaledWidth > cw ? rng.intIn(0, scaledWidth - cw) : 0;
  const cropY = scaledHeight > ch ? rng.intIn(0, scaledHeight - ch) : 0;
  const flip = c.flipProb > 0 && rng.next() < c.flipProb;
  const j = c.jitter;
  return {
    scale, scaledWidth, scaledHeight, cropX, cropY, flip,
    brightness: j ? rng.uniform(1 - j.brightness, 1 + j.brightness) : 1,
    contrast: j ? rng.uniform(1 - j.contrast, 1 + j.contrast) : 1,
    saturation: j ? rng.uniform(1 - j.saturation, 1 + j.saturation) : 1,
  };
}

/**
 * Apply scale+crop+pad+flip+jitter+normalisation to one frame.
 * @param out optional destination arrays (length ch·cw·3 and ch·cw), e.g. slices of a batch buffer.
 * @returns image: normalised float32 HWC [ch, cw, 3]; label: int32 HW [ch, cw] with ignoreIndex padding.
 */
export function augmentFrame(
  frame: Frame, p: AugmentParams, c: AugmentConfig, out?: { image: Float32Array; label: Int32Array },
): { image: Float32Array; label: Int32Array } {
  const [ch, cw] = c.cropSize;
  const { width: W, height: H, image: src, label: lab } = frame;
  if (src.length !== W * H * 3 || lab.length !== W * H) {
    throw new Error(`augmentFrame: frame ${frame.id} has image ${src.length} / label ${lab.length} values for ${W}x${H}`);
  }
  const image = out?.image ?? new Float32Array(ch * cw * 3);
  const label = out?.label ?? new Int32Array(ch * cw);
  if (image.length !== ch * cw * 3 || label.length !== ch * cw) throw new Error('augmentFrame: output buffers have the wrong size');
  const sx = p.scaledWidth / W; // actual scale after rounding
  const sy = p.scaledHeight / H;
  const [m0, m1, m2] = c.mean;
  const i0 = 1 / c.std[0];
  const i1 = 1 / c.std[1];
  const i2 = 1 / c.std[2];
  const b = p.brightness;
  const con = p.contrast;
  const sat = p.saturation;
  const jitter = b !== 1 || con !== 1 || sat !== 1;
  // contrast pivots around the frame's mean grey (subsampled estimate)
  let grey = 128;
  if (con !== 1) {
    let s = 0;
    let n = 0;
    const step = Math.max(1, Math.floor((W * H) / 4096));
    for (let i = 0; i < W * H; i += step) {
      s += 0.299 * src[i * 3] + 0.587 * src[i * 3 + 1] + 0.114 * src[i * 3 + 2];
      n++;
    }
    grey = (s / n) * b;
  }
  // column lookup tables
  const colValid = new Uint8Array(cw);
  const colX0 = new Int32Array(cw);
  const colX1 = new Int32Array(cw);
  const colFx = new Float32Array(cw);
  const colNN = new Int32Array(cw);
  for (let x = 0; x < cw; x++) {
    const xs = p.cropX + (p.flip ? cw - 1 - x : x); // column in the scaled frame
    if (xs >= p.scaledWidth) continue;
    colValid[x] = 1;
    const u = (xs + 0.5) / sx - 0.5;
    const u0 = Math.floor(u);
    colFx[x] = u - u0;
    colX0[x] = Math.min(W - 1, Math.max(0, u0));
    colX1[x] = Math.min(W - 1, Math.max(0, u0 + 1));
    colNN[x] = Math.min(W - 1, Math.floor((xs + 0.5) / sx));
  }
  const ig = c.ignoreIndex;
  for (let y = 0; y < ch; y++) {
    const ys = p.cropY + y;
    const o = y * cw;
    if (ys >= p.scaledHeight) {
      image.fill(0, o * 3, (o + cw) * 3);
      label.fill(ig, o, o + cw);
      continue;
    }
    const v = (ys + 0.5) / sy - 0.5;
    const v0 = Math.floor(v);
    const fy = v - v0;
    const r0 = Math.min(H - 1, Math.max(0, v0)) * W;
    const r1 = Math.min(H - 1, Math.max(0, v0 + 1)) * W;
    const rNN = Math.min(H - 1, Math.floor((ys + 0.5) / sy)) * W;
    for (let x = 0; x < cw; x++) {
      const k = o + x;
      if (!colValid[x]) {
        image[k * 3] = 0;
        image[k * 3 + 1] = 0;
        image[k * 3 + 2] = 0;
        label[k] = ig;
        continue;
      }
      label[k] = lab[rNN + colNN[x]];
      const fx = colFx[x];
      const a = (r0 + colX0[x]) * 3;
      const bb = (r0 + colX1[x]) * 3;
      const cc = (r1 + colX0[x]) * 3;
      const d = (r1 + colX1[x]) * 3;
      const w00 = (1 - fx) * (1 - fy);
      const w01 = fx * (1 - fy);
      const w10 = (1 - fx) * fy;
      const w11 = fx * fy;
      let R = src[a] * w00 + src[bb] * w01 + src[cc] * w10 + src[d] * w11;
      let G = src[a + 1] * w00 + src[bb + 1] * w01 + src[cc + 1] * w10 + src[d + 1] * w11;
      let B = src[a + 2] * w00 + src[bb + 2] * w01 + src[cc + 2] * w10 + src[d + 2] * w11;
      if (jitter) {
        R *= b;
        G *= b;
        B *= b;
        R = (R - grey) * con + grey;
        G = (G - grey) * con + grey;
        B = (B - grey) * con + grey;
        const l = 0.299 * R + 0.587 * G + 0.114 * B;
        R = l + (R - l) * sat;
        G = l + (G - l) * sat;
        B = l + (B - l) * sat;
        R = R < 0 ? 0 : R > 255 ? 255 : R;
        G = G < 0 ? 0 : G > 255 ? 255 : G;
        B = B < 0 ? 0 : B > 255 ? 255 : B;
      }
      image[k * 3] = (R - m0) * i0;
      image[k * 3 + 1] = (G - m1) * i1;
      image[k * 3 + 2] = (B - m2) * i2;
    }
  }
  return { image, label };
}

/** RGB uint8 HWC → normalised float32 HWC. */
export function normalizeImage(
  rgb: Uint8Array, mean: readonly number[] = IMAGENET_MEAN, std: readonly number[] = IMAGENET_STD, out?: Float32Array,
): Float32Array {
  const res = out ?? new Float32Array(rgb.length);
  const i0 = 1 / std[0];
  const i1 = 1 / std[1];
  const i2 = 1 / std[2];
  for (let i = 0; i < rgb.length; i += 3) {
    res[i] = (rgb[i] - mean[0]) * i0;
    res[i + 1] = (rgb[i + 1] - mean[1]) * i1;
    res[i + 2] = (rgb[i + 2] - mean[2]) * i2;
  }
  return res;
}

/** Normalised float32 HWC → RGB uint8 HWC (for display). */
export function denormalizeImage(
  x: Float32Array | ArrayLike<number>, mean: readonly number[] = IMAGENET_MEAN, std: readonly number[] = IMAGENET_STD,
): Uint8Array {
  const out = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const c = i % 3;
    const v = x[i] * std[c] + mean[c];
    out[i] = v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
  }
  return out;
}
