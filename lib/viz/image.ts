/**
 * Images for figures: raw RGB / trainId masks → PNG data URLs (sharp), ready for `imageGridSpec`.
 */
import { colourise } from '../cityscapes/labels';

/** Encode an RGB (3) or grey (1) HWC uint8 image as a `data:image/png;base64,…` URL. */
export async function pngDataURL(pixels: Uint8Array, width: number, height: number, channels: 1 | 3 = 3): Promise<string> {
  if (pixels.length !== width * height * channels) {
    throw new Error(`pngDataURL: got ${pixels.length} bytes, expected width·height·channels = ${width}·${height}·${channels} = ${width * height * channels}`);
  }
  const mod = require('sharp') as any; // sharp 0.35's types are ESM-only under node10 resolution
  const sharp = (mod.default ?? mod) as (input: Buffer, options: object) => { png(): { toBuffer(): Promise<Buffer> } };
  const png = await sharp(Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength), { raw: { width, height, channels } }).png().toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
}

/** A trainId mask (0..18, 255 = ignore, black) colourised with the Cityscapes palette, as a PNG data URL. */
export function maskDataURL(trainIds: ArrayLike<number>, width: number, height: number): Promise<string> {
  if (trainIds.length !== width * height) {
    throw new Error(`maskDataURL: got ${trainIds.length} labels, expected width·height = ${width}·${height} = ${width * height}`);
  }
  return pngDataURL(colourise(trainIds), width, height, 3);
}

/**
 * Colour maps for `colormap` (control points, interpolated linearly; from matplotlib's viridis / inferno,
 * and ColorBrewer's 11-class RdBu for 'rdbu': red for the low end, near-white in the middle, blue for
 * the high end — diverging, for signed values with a range symmetric around 0).
 */
export const COLORMAPS: Record<'viridis' | 'inferno' | 'greys' | 'rdbu', readonly (readonly [number, number, number])[]> = {
  viridis: [[68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142], [31, 158, 137], [53, 183, 121], [109, 205, 89], [180, 222, 44], [253, 231, 37]],
  inferno: [[0, 0, 4], [27, 12, 65], [74, 12, 107], [120, 28, 109], [165, 44, 96], [207, 68, 70], [237, 105, 37], [251, 155, 6], [247, 209, 61], [252, 255, 164]],
  greys: [[0, 0, 0], [255, 255, 255]],
  rdbu: [[103, 0, 31], [178, 24, 43], [214, 96, 77], [244, 165, 130], [253, 219, 199], [247, 247, 247], [209, 229, 240], [146, 197, 222], [67, 147, 195], [33, 102, 172], [5, 48, 97]],
};

/**
 * Map values to RGB with a colour map, scaled from `min` (first colour) to `max` (last colour);
 * by default min/max of the finite values. Non-finite values become grey (128).
 */
export function colormap(values: ArrayLike<number>, name: keyof typeof COLORMAPS = 'inferno', range?: [number, number]): Uint8Array {
  const cmap = COLORMAPS[name];
  if (!cmap) throw new Error(`colormap: unknown colour map '${String(name)}' (use ${Object.keys(COLORMAPS).join(', ')})`);
  let lo = Infinity; let hi = -Infinity;
  if (range) [lo, hi] = range;
  else for (let i = 0; i < values.length; i++) { const v = values[i]; if (Number.isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; } }
  const span = hi > lo ? hi - lo : 1;
  const out = new Uint8Array(values.length * 3);
  const k = cmap.length - 1;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) { out.fill(128, i * 3, i * 3 + 3); continue; }
    const t = Math.max(0, Math.min(1, (v - lo) / span)) * k;
    const j = Math.min(k - 1, Math.floor(t));
    const f = t - j;
    for (let ch = 0; ch < 3; ch++) out[i * 3 + ch] = Math.round(cmap[j][ch] * (1 - f) + cmap[j + 1][ch] * f);
  }
  return out;
}

/** Nearest-neighbour upscale of an HWC uint8 image by an integer factor (crisp pixels in figures). */
export function upscale(pixels: Uint8Array, width: number, height: number, channels: number, factor: number): Uint8Array {
  if (!Number.isInteger(factor) || factor < 1) throw new Error(`upscale: factor must be a positive integer, got ${factor}`);
  if (factor === 1) return pixels;
  const w2 = width * factor;
  const out = new Uint8Array(w2 * height * factor * channels);
  for (let y = 0; y < height * factor; y++) {
    const sy = Math.floor(y / factor);
    for (let x = 0; x < w2; x++) {
      const s = (sy * width + Math.floor(x / factor)) * channels;
      const d = (y * w2 + x) * channels;
      for (let c = 0; c < channels; c++) out[d + c] = pixels[s + c];
    }
  }
  return out;
}
