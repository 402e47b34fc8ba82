/**
 * Images for figures: raw RGB / trainId masks → PNG data URLs (sharp), ready for `imageGridSpec`.
 */
import { colourise } from '../cityscapes/labels';

/** Encode an RGB (3) or grey (1) HWC uint8 image as a `data:image/png;base64,…` URL. */
export async function pngDataURL(pixels: Uint8Array, width: number, height: number, channels: 1 | 3 = 3): Promise<string> {
  if (pixels.length !== width * height * channels) {
    throw new Error(`pngDataURL: got ${pixels.length} bytes, expected width·height·channels = ${width}·${height}·${channels} = ${width * height * channels}`);
  }
  // eslint-disable-next-line @typescript-eslint/no-var-requires
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
 * An image normalised with ImageNet mean/std (as `Batch.images` holds it), back to RGB uint8.
 * `values`: HWC float32 of one image.
 */
export function denormalizeImage(values: ArrayLike<number>, mean = [0.485, 0.456, 0.406], std = [0.229, 0.224, 0.225]): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const c = i % 3;
    out[i] = Math.max(0, Math.min(255, Math.round((values[i] * std[c] + mean[c]) * 255)));
  }
  return out;
}
