/**
 * Synthetic Cityscapes: writes procedurally rendered street scenes (lib/cityscapes/scene.ts) in
 * exactly the Cityscapes folder layout, so that every test, notebook and CI run exercises the same
 * reader a real user's data goes through.
 *
 * Layout written under `out` (default `data/synthetic-cityscapes/`, git-ignored):
 *   leftImg8bit/{split}/{city}/{city}_{seq:06}_000019_leftImg8bit.png   RGB 8-bit
 *   gtFine/{split}/{city}/{city}_{seq:06}_000019_gtFine_labelIds.png    8-bit grey, Cityscapes labelIds 0..33
 *   gtFine/{split}/{city}/{city}_{seq:06}_000019_gtFine_instanceIds.png 16-bit grey, labelId*1000+k for each
 *       person, rider, car, truck, bus, caravan, train, motorcycle, bicycle object; labelId elsewhere
 *   (optional) ..._gtFine_labelTrainIds.png   trainIds, as cityscapesScripts' createTrainIdLabelImgs writes
 *   (optional) ..._gtFine_color.png           the cityscapesScripts colours
 *   synthetic-cityscapes.json                 options, counts, class frequencies (a manifest)
 *
 * Decision: by default only `labelIds` are written (as in the official gtFine download, before
 * `createTrainIdLabelImgs.py`), so the reader's labelId → trainId mapping path is what runs;
 * `writeTrainIds: true` exercises the other path. Instance ids are written (`writeInstanceIds`, default
 * true) for the instance-level scores (iIoU); polygons are not. Adding the instance file changed no
 * byte of the image and labelIds files (test/cityscapes/synthetic.test.ts pins their hashes).
 *
 * Rare classes: frames are assigned guaranteed objects by index (every 3rd a cyclist, every 4th a
 * motorcyclist, every 6th a bus / truck, every 8th a tram), so with ≥ 8 frames per split all 19
 * train classes occur in every split; the rest is random.
 *
 * @example
 * import { generateSyntheticCityscapes } from './synthetic';
 * const r = await generateSyntheticCityscapes({ train: 20, val: 8, seed: 1 });
 * console.log(r.root, r.seconds, r.classFrequency.train);
 */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { renderStreetScene, CityStyle, DEFAULT_STYLE, SceneRequirements } from './scene';
import { hashSeed, Rng } from '../rng';
import { CITYSCAPES_TRAIN_CLASSES, LABEL_ID_TO_TRAIN_ID_LUT, NUM_CLASSES, colourise, labelIdsToTrainIds } from './labels';

/** Project root (lib/cityscapes → ../..). */
export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');
/** Where `npm run data` writes by default. */
export const DEFAULT_SYNTHETIC_ROOT = path.join(PROJECT_ROOT, 'data', 'synthetic-cityscapes');
export const SYNTHETIC_MANIFEST = 'synthetic-cityscapes.json';
/** Bump when the renderer changes output, so that cached datasets are regenerated. */
export const SYNTHETIC_VERSION = 2;

export interface SyntheticCityscapesOptions {
  /** Output root (default data/synthetic-cityscapes under the project). */
  out: string;
  /** Master seed; every frame is a pure function of (seed, split, index, size). */
  seed: number;
  /** Number of train frames. */
  train: number;
  /** Number of val frames. */
  val: number;
  /** Number of test frames (the real test split has labels of all-void; we write real labels). */
  test: number;
  width: number;
  height: number;
  /** Cities per split (train and val use different cities, as in Cityscapes). */
  cities: number;
  /** Also write `_gtFine_labelTrainIds.png`. */
  writeTrainIds: boolean;
  /** Also write `_gtFine_color.png`. */
  writeColor: boolean;
  /** Write `_gtFine_instanceIds.png` (16-bit, Cityscapes encoding), needed for iIoU. Default true. */
  writeInstanceIds: boolean;
  /** PNG zlib level 0..9 (sharp); 6 is a good size/speed balance. */
  compressionLevel: number;
  /** PNG encodes in flight. */
  concurrency: number;
  /** Called after each frame. */
  onProgress?: (done: number, total: number) => void;
}

export interface SyntheticCityscapesResult {
  root: string;
  frames: { train: number; val: number; test: number };
  /** Fraction of valid (non-255) pixels per train class, per split; index = trainId. */
  classFrequency: Record<string, number[]>;
  /** Fraction of all pixels that map to 255, per split. */
  ignoredFraction: Record<string, number>;
  seconds: number;
  options: Omit<SyntheticCityscapesOptions, 'onProgress'>;
}

const CITY_NAMES: Record<string, string[]> = {
  train: ['ashford', 'brightwell', 'coldharbour', 'dunmore', 'eastwick', 'fairhaven', 'glenrock', 'highbury'],
  val: ['lakemont', 'millbrook', 'northgate', 'oakridge'],
  test: ['queensbury', 'riverton', 'stonebridge', 'thornfield'],
};

/** Defaults: 300 train + 60 val at 512×256, 3 cities per split, seed 1, labelIds only. */
export function defaultSyntheticOptions(): SyntheticCityscapesOptions {
  return {
    out: DEFAULT_SYNTHETIC_ROOT, seed: 1, train: 300, val: 60, test: 0, width: 512, height: 256, cities: 3,
    writeTrainIds: false, writeColor: false, writeInstanceIds: true, compressionLevel: 6, concurrency: 4,
  };
}

/** A per-city look derived from the seed (facade palette, paving, greenery, density). */
export function cityStyle(seed: number, city: string): CityStyle {
  const rng = Rng.fromState(hashSeed(seed, 'style', city));
  const facades: Array<[number, number, number]> = [];
  const n = rng.intIn(4, 7);
  for (let k = 0; k < n; k++) {
    const base = DEFAULT_STYLE.facades[rng.intIn(0, DEFAULT_STYLE.facades.length - 1)];
    facades.push([base[0] * rng.uniform(0.85, 1.15), base[1] * rng.uniform(0.85, 1.15), base[2] * rng.uniform(0.85, 1.15)]);
  }
  const pave = rng.pick<[number, number, number]>([[165, 160, 155], [150, 150, 150], [175, 150, 145], [130, 128, 125]]);
  return {
    facades,
    sidewalk: pave,
    greenery: rng.uniform(0.2, 0.45),
    heights: [rng.uniform(7, 11), rng.uniform(16, 26)],
    pedestrians: rng.uniform(2, 8),
    cars: rng.uniform(4, 9),
  };
}

/** Guaranteed rare objects for frame `index` of a split (see the module comment). */
export function requirementsFor(index: number): SceneRequirements {
  return {
    cyclist: index % 3 === 0,
    bus: index % 6 === 1,
    motorcyclist: index % 4 === 2,
    train: index % 8 === 3,
    truck: index % 6 === 4,
  };
}

/** Cityscapes file stem `{city}_{seq:06}_{frame:06}`. */
export function frameStem(city: string, seq: number, frame = 19): string {
  return `${city}_${String(seq).padStart(6, '0')}_${String(frame).padStart(6, '0')}`;
}

/** Render one synthetic frame of a split in memory: RGB, labelIds and instanceIds (no files). */
export function renderSyntheticFrame(
  seed: number, split: string, index: number, width: number, height: number, cities = 3,
): { id: string; city: string; image: Uint8Array; labelIds: Uint8Array; instanceIds: Uint16Array } {
  const names = CITY_NAMES[split] ?? CITY_NAMES.train;
  const nCities = Math.max(1, Math.min(cities, names.length));
  const city = names[index % nCities];
  const seq = Math.floor(index / nCities);
  const { image, labelIds, instanceIds } = renderStreetScene({
    width, height, seed: hashSeed(seed, split, index), style: cityStyle(seed, city), require: requirementsFor(index),
  });
  return { id: frameStem(city, seq), city, image, labelIds, instanceIds };
}

function validate(o: SyntheticCityscapesOptions): void {
  const intIn = (name: keyof SyntheticCityscapesOptions, lo: number, hi: number) => {
    const v = o[name] as number;
    if (!Number.isInteger(v) || v < lo || v > hi) {
      throw new Error(`generateSyntheticCityscapes: option ${String(name)}=${v} must be an integer in ${lo}..${hi}`);
    }
  };
  intIn('train', 0, 100000);
  intIn('val', 0, 100000);
  intIn('test', 0, 100000);
  intIn('width', 32, 8192);
  intIn('height', 16, 8192);
  intIn('cities', 1, 4);
  intIn('seed', -2147483648, 4294967295);
  intIn('compressionLevel', 0, 9);
  intIn('concurrency', 1, 64);
  if (o.train + o.val + o.test === 0) throw new Error('generateSyntheticCityscapes: train + val + test is 0, nothing to write');
  if (!o.out) throw new Error('generateSyntheticCityscapes: option out is empty');
}

/**
 * Write a synthetic Cityscapes dataset. Existing files with the same names are overwritten; other
 * files under `out` are left alone. Returns counts and class frequencies (also in the manifest).
 */
export async function generateSyntheticCityscapes(
  options: Partial<SyntheticCityscapesOptions> = {},
): Promise<SyntheticCityscapesResult> {
  const o: SyntheticCityscapesOptions = { ...defaultSyntheticOptions(), ...options };
  validate(o);
  const root = path.resolve(o.out);
  const t0 = performance.now();
  const splits: Array<[string, number]> = [['train', o.train], ['val', o.val], ['test', o.test]];
  const total = o.train + o.val + o.test;
  let done = 0;
  const pending = new Set<Promise<void>>();
  const classFrequency: Record<string, number[]> = {};
  const ignoredFraction: Record<string, number> = {};
  const encode = (data: Uint8Array, channels: 1 | 3, file: string) =>
    encodePng(data, o.width, o.height, channels, o.compressionLevel).then((png) => fs.promises.writeFile(file, png));

  for (const [split, count] of splits) {
    if (count === 0) continue;
    const counts = new Float64Array(256);
    for (let k = 0; k < count; k++) {
      const fr = renderSyntheticFrame(o.seed, split, k, o.width, o.height, o.cities);
      const imgDir = path.join(root, 'leftImg8bit', split, fr.city);
      const gtDir = path.join(root, 'gtFine', split, fr.city);
      fs.mkdirSync(imgDir, { recursive: true });
      fs.mkdirSync(gtDir, { recursive: true });
      const lut = LABEL_ID_TO_TRAIN_ID_LUT;
      const ids = fr.labelIds;
      for (let i = 0; i < ids.length; i++) counts[lut[ids[i]]]++;
      const jobs = [
        encode(fr.image, 3, path.join(imgDir, `${fr.id}_leftImg8bit.png`)),
        encode(ids, 1, path.join(gtDir, `${fr.id}_gtFine_labelIds.png`)),
      ];
      if (o.writeInstanceIds) {
        jobs.push(encodePng16(fr.instanceIds, o.width, o.height, o.compressionLevel).then((png) =>
          fs.promises.writeFile(path.join(gtDir, `${fr.id}_gtFine_instanceIds.png`), png)));
      }
      if (o.writeTrainIds || o.writeColor) {
        const trainIds = labelIdsToTrainIds(ids);
        if (o.writeTrainIds) jobs.push(encode(trainIds, 1, path.join(gtDir, `${fr.id}_gtFine_labelTrainIds.png`)));
        if (o.writeColor) jobs.push(encode(colourise(trainIds), 3, path.join(gtDir, `${fr.id}_gtFine_color.png`)));
      }
      const p: Promise<void> = Promise.all(jobs).then(() => {
        pending.delete(p);
        done++;
        o.onProgress?.(done, total);
      });
      pending.add(p);
      if (pending.size >= o.concurrency) await Promise.race(pending);
    }
    let valid = 0;
    for (let t = 0; t < NUM_CLASSES; t++) valid += counts[t];
    classFrequency[split] = Array.from({ length: NUM_CLASSES }, (_, t) => (valid ? counts[t] / valid : 0));
    ignoredFraction[split] = counts[255] / (count * o.width * o.height);
  }
  await Promise.all(pending);
  const seconds = (performance.now() - t0) / 1000;
  const { onProgress: _omit, ...plain } = o;
  const result: SyntheticCityscapesResult = {
    root, frames: { train: o.train, val: o.val, test: o.test }, classFrequency, ignoredFraction, seconds,
    options: { ...plain, out: root },
  };
  fs.writeFileSync(
    path.join(root, SYNTHETIC_MANIFEST),
    JSON.stringify({ version: SYNTHETIC_VERSION, classes: CITYSCAPES_TRAIN_CLASSES, ...result }, null, 1),
  );
  return result;
}

/**
 * Encode raw 8-bit pixels as PNG: 1 channel → 8-bit greyscale PNG (as Cityscapes label images;
 * sharp would otherwise write 1-channel input as RGB), 3 → RGB.
 */
export function encodePng(data: Uint8Array, width: number, height: number, channels: 1 | 3, compressionLevel = 6): Promise<Buffer> {
  if (data.length !== width * height * channels) {
    throw new Error(`encodePng: ${data.length} bytes for ${width}x${height}x${channels}`);
  }
  let img = sharp(Buffer.from(data.buffer, data.byteOffset, data.byteLength), { raw: { width, height, channels } });
  if (channels === 1) img = img.toColourspace('b-w');
  return img.png({ compressionLevel, adaptiveFiltering: false }).toBuffer();
}

/** Encode a 16-bit single-channel map (e.g. Cityscapes instanceIds) as a 16-bit greyscale PNG. */
export function encodePng16(data: Uint16Array, width: number, height: number, compressionLevel = 6): Promise<Buffer> {
  if (data.length !== width * height) throw new Error(`encodePng16: ${data.length} values for ${width}x${height}`);
  // sharp takes the sample depth from the typed array (Uint16Array: 16 bit)
  return sharp(data, { raw: { width, height, channels: 1 } }).toColourspace('grey16').png({ compressionLevel, adaptiveFiltering: false }).toBuffer();
}

/** A printable table of class frequencies (percent of valid pixels) per split. */
export function formatClassFrequencies(freq: Record<string, number[]>): string {
  const splits = Object.keys(freq);
  const lines = [`${'class'.padEnd(14)}${splits.map((s) => s.padStart(9)).join('')}`];
  CITYSCAPES_TRAIN_CLASSES.forEach((name, t) => {
    lines.push(`${name.padEnd(14)}${splits.map((s) => (100 * freq[s][t]).toFixed(2).padStart(8) + '%').join('')}`);
  });
  return lines.join('\n');
}
