/**
 * Reader for the real Cityscapes layout (and the synthetic set, which uses the same layout).
 *
 *   {root}/leftImg8bit/{split}/{city}/{city}_{seq}_{frame}_leftImg8bit.png     RGB 8-bit
 *   {root}/gtFine/{split}/{city}/{city}_{seq}_{frame}_gtFine_labelTrainIds.png  trainIds (preferred, if present)
 *   {root}/gtFine/{split}/{city}/{city}_{seq}_{frame}_gtFine_labelIds.png       labelIds (mapped via the label table)
 *
 * PNG decoding uses `sharp` (libvips, prebuilt from the registry). Labels are resized with nearest
 * neighbour in JS (pixel-centre aligned), images with sharp's linear kernel.
 *
 * Every bad input is a clear error naming the file: image without label (or the reverse), corrupt
 * or truncated PNG, image/label size mismatch, label values that are not Cityscapes ids, an empty
 * split, a missing root.
 *
 * @example
 * const ds = await openCityscapes({ split: 'train', scale: 0.5 }); // CITYSCAPES_ROOT, else synthetic
 * const frame = await ds.get(0);   // { id, width, height, image: RGB Uint8Array, label: trainIds }
 */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { IGNORE_INDEX, MAX_LABEL_ID, NUM_CLASSES, labelIdsToTrainIds, trainIdsToLabelIds } from './labels';
import {
  DEFAULT_SYNTHETIC_ROOT, SYNTHETIC_MANIFEST, SYNTHETIC_VERSION, generateSyntheticCityscapes, SyntheticCityscapesOptions,
} from './synthetic';

/** One decoded Cityscapes frame on the host: RGB uint8 HWC and trainIds (255 = ignore). */
export interface Frame {
  /** Stable id, e.g. `aachen_000000_000019`. */
  id: string;
  width: number;
  height: number;
  /** RGB, row-major HWC, length height·width·3. */
  image: Uint8Array;
  /** trainIds 0..18, 255 = ignore, length height·width. */
  label: Uint8Array;
}

/** Which ground-truth file to read: prefer labelTrainIds when present ('auto'), or force one. */
export type LabelSource = 'auto' | 'labelIds' | 'labelTrainIds';

export interface CityscapesEntry {
  /** `{city}_{seq}_{frame}` */
  id: string;
  city: string;
  split: string;
  imagePath: string;
  labelPath: string;
  labelKind: 'labelIds' | 'labelTrainIds';
  /** `_gtFine_labelIds.png` when present (what cityscapesScripts scores against). */
  labelIdsPath?: string;
  /** `_gtFine_instanceIds.png` when present (16-bit; needed for iIoU). */
  instanceIdsPath?: string;
}

export interface CityscapesDatasetConfig {
  /** Resize factor applied after decoding (e.g. 0.25: 2048×1024 → 512×256). 1 = none. */
  scale: number;
  labelSource: LabelSource;
  /** Keep decoded (and scaled) frames in memory (for small datasets; ~W·H·4 bytes per frame). */
  cache: boolean;
}

const IMG_SUFFIX = '_leftImg8bit.png';
const LABEL_IDS_SUFFIX = '_gtFine_labelIds.png';
const TRAIN_IDS_SUFFIX = '_gtFine_labelTrainIds.png';
const INSTANCE_IDS_SUFFIX = '_gtFine_instanceIds.png';

/** Error type for every data problem, so callers can tell them from bugs. */
export class CityscapesDataError extends Error {
  constructor(message: string, readonly file?: string) {
    super(message);
    this.name = 'CityscapesDataError';
  }
}

function listDirs(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
}

/**
 * List and pair the files of one split. Throws CityscapesDataError for a missing root/split folder,
 * an image without its label, a label without its image, or an empty split.
 */
export function listCityscapes(root: string, split: string, labelSource: LabelSource = 'auto'): CityscapesEntry[] {
  const absRoot = path.resolve(root);
  if (!fs.existsSync(absRoot) || !fs.statSync(absRoot).isDirectory()) {
    throw new CityscapesDataError(
      `Cityscapes root not found: ${absRoot} (set CITYSCAPES_ROOT to the folder holding leftImg8bit/ and gtFine/, or run \`npm run data\` for the synthetic set)`,
      absRoot,
    );
  }
  const imgSplit = path.join(absRoot, 'leftImg8bit', split);
  const gtSplit = path.join(absRoot, 'gtFine', split);
  for (const d of [imgSplit, gtSplit]) {
    if (!fs.existsSync(d)) {
      const have = fs.existsSync(path.dirname(d)) ? listDirs(path.dirname(d)) : [];
      throw new CityscapesDataError(
        `Cityscapes split "${split}" not found: ${d} is missing` +
          (have.length ? ` (found splits: ${have.join(', ')})` : ` (is ${absRoot} a Cityscapes root with leftImg8bit/ and gtFine/?)`),
        d,
      );
    }
  }
  const entries: CityscapesEntry[] = [];
  const cities = Array.from(new Set([...listDirs(imgSplit), ...listDirs(gtSplit)])).sort();
  for (const city of cities) {
    const imgDir = path.join(imgSplit, city);
    const gtDir = path.join(gtSplit, city);
    const imgs = fs.existsSync(imgDir) ? fs.readdirSync(imgDir).filter((f) => f.endsWith(IMG_SUFFIX)).sort() : [];
    const gts = fs.existsSync(gtDir) ? fs.readdirSync(gtDir) : [];
    const gtSet = new Set(gts);
    const imgIds = new Set(imgs.map((f) => f.slice(0, -IMG_SUFFIX.length)));
    for (const f of imgs) {
      const id = f.slice(0, -IMG_SUFFIX.length);
      const hasTrain = gtSet.has(id + TRAIN_IDS_SUFFIX);
      const hasIds = gtSet.has(id + LABEL_IDS_SUFFIX);
      let kind: CityscapesEntry['labelKind'];
      if (labelSource === 'labelTrainIds') kind = 'labelTrainIds';
      else if (labelSource === 'labelIds') kind = 'labelIds';
      else kind = hasTrain ? 'labelTrainIds' : 'labelIds';
      const labelFile = id + (kind === 'labelTrainIds' ? TRAIN_IDS_SUFFIX : LABEL_IDS_SUFFIX);
      if (!gtSet.has(labelFile)) {
        throw new CityscapesDataError(
          `image without label: ${path.join(imgDir, f)} has no ${path.join(gtDir, labelFile)}` +
            (labelSource === 'auto' ? ` (nor ${id + TRAIN_IDS_SUFFIX})` : ` (labelSource '${labelSource}')`),
          path.join(imgDir, f),
        );
      }
      const entry: CityscapesEntry = { id, city, split, imagePath: path.join(imgDir, f), labelPath: path.join(gtDir, labelFile), labelKind: kind };
      if (hasIds) entry.labelIdsPath = path.join(gtDir, id + LABEL_IDS_SUFFIX);
      if (gtSet.has(id + INSTANCE_IDS_SUFFIX)) entry.instanceIdsPath = path.join(gtDir, id + INSTANCE_IDS_SUFFIX);
      entries.push(entry);
    }
    for (const g of gts) {
      const suffix = g.endsWith(LABEL_IDS_SUFFIX) ? LABEL_IDS_SUFFIX : g.endsWith(TRAIN_IDS_SUFFIX) ? TRAIN_IDS_SUFFIX : null;
      if (!suffix) continue;
      const id = g.slice(0, -suffix.length);
      if (!imgIds.has(id)) {
        throw new CityscapesDataError(
          `label without image: ${path.join(gtDir, g)} has no ${path.join(imgDir, id + IMG_SUFFIX)}`,
          path.join(gtDir, g),
        );
      }
    }
  }
  if (entries.length === 0) {
    throw new CityscapesDataError(`empty split: no *${IMG_SUFFIX} files under ${imgSplit}`, imgSplit);
  }
  return entries;
}

async function readPng(file: string, what: string): Promise<Buffer> {
  try {
    return await fs.promises.readFile(file);
  } catch (e) {
    throw new CityscapesDataError(`cannot read ${what} ${file}: ${(e as Error).message}`, file);
  }
}

function corrupt(file: string, what: string, e: unknown): CityscapesDataError {
  if (e instanceof CityscapesDataError) return e;
  return new CityscapesDataError(`corrupt or truncated PNG (${what}): ${file}: ${String((e as Error).message ?? e).split('\n')[0]}`, file);
}

/** Decode an RGB image (grey and alpha are converted to RGB). */
async function decodeImage(file: string): Promise<{ data: Buffer; width: number; height: number }> {
  const buf = await readPng(file, 'image');
  try {
    const { data, info } = await sharp(buf).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new CityscapesDataError(`image ${file} decodes to ${info.channels} channels; expected RGB`, file);
    return { data, width: info.width, height: info.height };
  } catch (e) {
    throw corrupt(file, 'image', e);
  }
}

/** Decode an 8-bit single-channel label image; anything else is an error naming the file. */
async function decodeLabel(file: string): Promise<{ data: Uint8Array; width: number; height: number }> {
  const buf = await readPng(file, 'label');
  let meta: Awaited<ReturnType<ReturnType<typeof sharp>["metadata"]>>;
  try {
    meta = await sharp(buf).metadata();
  } catch (e) {
    throw corrupt(file, 'label', e);
  }
  if (meta.depth !== 'uchar' || !(meta.channels === 1 || meta.channels === 2)) {
    throw new CityscapesDataError(
      `label ${file} is ${meta.channels}-channel ${meta.depth} (${meta.space}); expected an 8-bit single-channel (grey) label image` +
        (meta.channels && meta.channels >= 3 ? ' (a _gtFine_color.png cannot be used as labels)' : ''),
      file,
    );
  }
  try {
    const { data, info } = await sharp(buf).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    return { data: new Uint8Array(data.buffer, data.byteOffset, info.width * info.height), width: info.width, height: info.height };
  } catch (e) {
    throw corrupt(file, 'label', e);
  }
}

/** Decode a 16-bit (or 8-bit) single-channel PNG such as `_gtFine_instanceIds.png` into uint16 values. */
async function decodeInstanceIds(file: string): Promise<{ data: Uint16Array; width: number; height: number }> {
  const buf = await readPng(file, 'instanceIds');
  let meta: Awaited<ReturnType<ReturnType<typeof sharp>["metadata"]>>;
  try {
    meta = await sharp(buf).metadata();
  } catch (e) {
    throw corrupt(file, 'instanceIds', e);
  }
  if (!(meta.channels === 1 || meta.channels === 2) || !(meta.depth === 'ushort' || meta.depth === 'uchar')) {
    throw new CityscapesDataError(
      `instanceIds ${file} is ${meta.channels}-channel ${meta.depth}; expected a 16-bit single-channel (grey) image (labelId*1000+instance)`, file,
    );
  }
  try {
    if (meta.depth === 'uchar') {
      const { data, info } = await sharp(buf).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
      return { data: Uint16Array.from(data.subarray(0, info.width * info.height)), width: info.width, height: info.height };
    }
    const { data, info } = await sharp(buf).toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
    const n = info.width * info.height;
    const out = new Uint16Array(n);
    out.set(new Uint16Array(data.buffer.slice(data.byteOffset, data.byteOffset + 2 * n)));
    return { data: out, width: info.width, height: info.height };
  } catch (e) {
    throw corrupt(file, 'instanceIds', e);
  }
}

/** Full-resolution ground truth as cityscapesScripts reads it. */
export interface CityscapesGroundTruth {
  width: number;
  height: number;
  /** labelIds 0..33 (from `_gtFine_labelIds.png`, or mapped back from trainIds: 255 → 0 'unlabeled'). */
  labelIds: Uint8Array;
  /** `_gtFine_instanceIds.png` values (labelId*1000+k for instances, labelId elsewhere); null when absent. */
  instanceIds: Uint16Array | null;
}

/**
 * Read one frame's ground truth at full resolution, as the official evaluator scores it:
 * labelIds (and instanceIds when present). Errors name the file: a corrupt PNG, a label value that
 * is not a labelId, instanceIds of another size or whose classes disagree with the labelIds.
 */
export async function loadCityscapesGroundTruth(entry: CityscapesEntry): Promise<CityscapesGroundTruth> {
  let labelIds: Uint8Array;
  let width: number;
  let height: number;
  if (entry.labelIdsPath || entry.labelKind === 'labelIds') {
    const file = entry.labelIdsPath ?? entry.labelPath;
    const lab = await decodeLabel(file);
    for (let i = 0; i < lab.data.length; i++) {
      if (lab.data[i] > MAX_LABEL_ID) {
        throw new CityscapesDataError(`label ${file}: value ${lab.data[i]} at pixel ${i} is not a Cityscapes labelId (0..${MAX_LABEL_ID})`, file);
      }
    }
    ({ data: labelIds, width, height } = lab);
  } else {
    const frame = await loadCityscapesFrame(entry, 1);
    labelIds = trainIdsToLabelIds(frame.label);
    ({ width, height } = frame);
  }
  let instanceIds: Uint16Array | null = null;
  if (entry.instanceIdsPath) {
    const inst = await decodeInstanceIds(entry.instanceIdsPath);
    if (inst.width !== width || inst.height !== height) {
      throw new CityscapesDataError(
        `size mismatch: instanceIds ${entry.instanceIdsPath} is ${inst.width}x${inst.height} but the labels are ${width}x${height}`, entry.instanceIdsPath,
      );
    }
    if (entry.labelIdsPath) {
      const d = inst.data;
      for (let i = 0; i < d.length; i++) {
        const l = d[i] >= 1000 ? Math.floor(d[i] / 1000) : d[i];
        if (l !== labelIds[i]) {
          throw new CityscapesDataError(
            `instanceIds ${entry.instanceIdsPath}: value ${d[i]} at pixel ${i} (x=${i % width}, y=${Math.floor(i / width)}) is labelId ${l}, ` +
              `but ${entry.labelIdsPath} has ${labelIds[i]} there`, entry.instanceIdsPath,
          );
        }
      }
    }
    instanceIds = inst.data;
  }
  return { width, height, labelIds, instanceIds };
}

/** Nearest-neighbour resize of a single-channel map, pixel-centre aligned. */
export function resizeNearest(src: Uint8Array, w: number, h: number, w2: number, h2: number): Uint8Array {
  const out = new Uint8Array(w2 * h2);
  const xs = new Int32Array(w2);
  for (let x = 0; x < w2; x++) xs[x] = Math.min(w - 1, Math.floor(((x + 0.5) * w) / w2));
  for (let y = 0; y < h2; y++) {
    const sy = Math.min(h - 1, Math.floor(((y + 0.5) * h) / h2));
    const row = sy * w;
    const o = y * w2;
    for (let x = 0; x < w2; x++) out[o + x] = src[row + xs[x]];
  }
  return out;
}

/** Output size for a scale factor (rounded, at least 1). */
export function scaledSize(width: number, height: number, scale: number): [number, number] {
  return [Math.max(1, Math.round(width * scale)), Math.max(1, Math.round(height * scale))];
}

/**
 * Decode one image/label pair into a Frame (RGB uint8, trainIds with 255 = ignore).
 * @param scale resize factor (1 = none): image with a linear filter, label with nearest neighbour.
 */
export async function loadCityscapesFrame(entry: CityscapesEntry, scale = 1): Promise<Frame> {
  if (!(scale > 0 && scale <= 4)) throw new CityscapesDataError(`loadCityscapesFrame: scale must be in (0, 4], got ${scale}`);
  const [img, lab] = await Promise.all([decodeImage(entry.imagePath), decodeLabel(entry.labelPath)]);
  if (img.width !== lab.width || img.height !== lab.height) {
    throw new CityscapesDataError(
      `size mismatch: image ${entry.imagePath} is ${img.width}x${img.height} but label ${entry.labelPath} is ${lab.width}x${lab.height}`,
      entry.labelPath,
    );
  }
  const { width, height } = img;
  const grey = lab.data;
  let trainIds: Uint8Array;
  if (entry.labelKind === 'labelIds') {
    try {
      trainIds = labelIdsToTrainIds(grey, undefined, `label ${entry.labelPath}`);
    } catch (e) {
      throw new CityscapesDataError((e as Error).message, entry.labelPath);
    }
  }
  else {
    for (let i = 0; i < grey.length; i++) {
      const v = grey[i];
      if (v >= NUM_CLASSES && v !== IGNORE_INDEX) {
        throw new CityscapesDataError(
          `label ${entry.labelPath}: value ${v} at pixel ${i} (x=${i % width}, y=${Math.floor(i / width)}) is not a trainId (0..18 or 255)`,
          entry.labelPath,
        );
      }
    }
    trainIds = Uint8Array.from(grey);
  }
  const rgb = new Uint8Array(img.data.buffer, img.data.byteOffset, width * height * 3);
  if (scale === 1) return { id: entry.id, width, height, image: rgb, label: trainIds };
  const [w2, h2] = scaledSize(width, height, scale);
  const { data } = await sharp(Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength), { raw: { width, height, channels: 3 } })
    .resize(w2, h2, { kernel: 'linear', fit: 'fill' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return {
    id: entry.id, width: w2, height: h2,
    image: new Uint8Array(data.buffer, data.byteOffset, w2 * h2 * 3),
    label: resizeNearest(trainIds, width, height, w2, h2),
  };
}

/**
 * One split of a Cityscapes-layout folder. `get(i)` decodes on demand (optionally cached).
 */
export class CityscapesDataset {
  static defaultConfig(): CityscapesDatasetConfig {
    return { scale: 1, labelSource: 'auto', cache: false };
  }
  readonly root: string;
  readonly split: string;
  readonly config: CityscapesDatasetConfig;
  readonly entries: CityscapesEntry[];
  private cache = new Map<number, Promise<Frame>>();

  constructor(root: string, split: string, config: Partial<CityscapesDatasetConfig> = {}) {
    this.root = path.resolve(root);
    this.split = split;
    this.config = { ...CityscapesDataset.defaultConfig(), ...config };
    if (!(this.config.scale > 0 && this.config.scale <= 4)) {
      throw new CityscapesDataError(`CityscapesDataset: scale must be in (0, 4], got ${this.config.scale}`);
    }
    this.entries = listCityscapes(this.root, split, this.config.labelSource);
  }

  get length(): number {
    return this.entries.length;
  }

  get ids(): string[] {
    return this.entries.map((e) => e.id);
  }

  /** Decode frame i (0 ≤ i < length). */
  get(i: number): Promise<Frame> {
    if (!Number.isInteger(i) || i < 0 || i >= this.entries.length) {
      throw new RangeError(`CityscapesDataset.get: index ${i} out of range 0..${this.entries.length - 1}`);
    }
    if (!this.config.cache) return loadCityscapesFrame(this.entries[i], this.config.scale);
    let p = this.cache.get(i);
    if (!p) {
      p = loadCityscapesFrame(this.entries[i], this.config.scale);
      p.catch(() => this.cache.delete(i));
      this.cache.set(i, p);
    }
    return p;
  }

  /** Drop cached frames. */
  clearCache(): void {
    this.cache.clear();
  }
}

export interface OpenCityscapesOptions extends Partial<CityscapesDatasetConfig> {
  /**
   * Dataset root. Default: the CITYSCAPES_ROOT environment variable, else the synthetic set at
   * data/synthetic-cityscapes (generated with default options if absent).
   */
  root?: string;
  split: string;
  /** Options for generating the synthetic set when it is absent (only used for the default root). */
  synthetic?: Partial<SyntheticCityscapesOptions>;
  /** Where the synthetic set lives when neither root nor CITYSCAPES_ROOT is given (default data/synthetic-cityscapes). */
  syntheticRoot?: string;
  /** Print which source is used (default true). */
  verbose?: boolean;
}

/** How a dataset root was chosen: the option, the CITYSCAPES_ROOT variable, or the synthetic default. */
export type DataRootSource = 'option' | 'CITYSCAPES_ROOT' | 'synthetic';

/** A resolved dataset root and how it was chosen (for messages and run records). */
export interface DataRoot {
  root: string;
  source: DataRootSource;
  /** e.g. "--data /x", "CITYSCAPES_ROOT=/x", "the synthetic set (default)". */
  how: string;
}

/**
 * Which root would be used, and why: the option, else CITYSCAPES_ROOT, else the synthetic set.
 * Pure (touches no file); `resolveDataRoot` is the one that checks and generates.
 */
export function resolveCityscapesRoot(root?: string, syntheticRoot: string = DEFAULT_SYNTHETIC_ROOT): DataRoot {
  if (root !== undefined && root !== '') return { root: path.resolve(root), source: 'option', how: `the root option (${root})` };
  const env = process.env.CITYSCAPES_ROOT;
  if (env && env.trim()) return { root: path.resolve(env.trim()), source: 'CITYSCAPES_ROOT', how: `CITYSCAPES_ROOT=${env.trim()}` };
  return { root: path.resolve(syntheticRoot), source: 'synthetic', how: `the synthetic set (default; neither a root option nor CITYSCAPES_ROOT given)` };
}

/**
 * The one check that a synthetic set is current: its manifest exists, parses, and was written by this
 * generator version. Returns null when current, else why not.
 */
export function syntheticSetStaleness(root: string): string | null {
  const manifest = path.join(root, SYNTHETIC_MANIFEST);
  if (!fs.existsSync(manifest)) return `${manifest} is missing`;
  try {
    const m = JSON.parse(fs.readFileSync(manifest, 'utf8')) as { version?: unknown; options?: { writeInstanceIds?: unknown } };
    if (m.version !== SYNTHETIC_VERSION) return `${manifest} has generator version ${String(m.version)}, this generator writes ${SYNTHETIC_VERSION}`;
    // same pixels, but written before the generator wrote gtFine_instanceIds.png (needed for iIoU)
    if (m.options?.writeInstanceIds === undefined) return `${manifest} predates the instanceIds files (iIoU needs them)`;
    return null;
  } catch (e) {
    return `${manifest} is not valid JSON (${(e as Error).message})`;
  }
}

/**
 * The one data-root resolver of the project (CLI, notebooks, demo, bench): `option` → CITYSCAPES_ROOT →
 * the synthetic set, generated (or regenerated when its generator version is outdated) when absent.
 * A root given by option or CITYSCAPES_ROOT must exist and hold leftImg8bit/ and gtFine/; the error
 * names the root and how it was chosen (never a silent fallback to synthetic data). An option that
 * names the default synthetic folder itself counts as the synthetic set.
 * @example const { root, how } = await resolveDataRoot(opts.data); // CITYSCAPES_ROOT, else synthetic
 */
export async function resolveDataRoot(
  option?: string,
  o: { syntheticRoot?: string; synthetic?: Partial<SyntheticCityscapesOptions>; log?: (msg: string) => void } = {},
): Promise<DataRoot> {
  const syntheticRoot = path.resolve(o.syntheticRoot ?? DEFAULT_SYNTHETIC_ROOT);
  const r = resolveCityscapesRoot(option, syntheticRoot);
  if (r.source === 'synthetic' || r.root === syntheticRoot) {
    const stale = syntheticSetStaleness(r.root);
    if (stale !== null) {
      o.log?.(`synthetic Cityscapes at ${r.root} is absent or outdated (${stale}): generating it (same as npm run data)…`);
      const g = await generateSyntheticCityscapes({ ...o.synthetic, out: r.root });
      o.log?.(`  wrote ${g.frames.train + g.frames.val + g.frames.test} frames in ${g.seconds.toFixed(1)} s`);
    }
    return r;
  }
  const missing = ['leftImg8bit', 'gtFine'].filter((d) => !fs.existsSync(path.join(r.root, d)));
  if (!fs.existsSync(r.root) || missing.length > 0) {
    throw new CityscapesDataError(
      `dataset root ${r.root} (chosen by ${r.how}) ${fs.existsSync(r.root) ? `has no ${missing.join('/ or ')}/ folder` : 'does not exist'}: ` +
      'it must hold leftImg8bit/ and gtFine/ as unzipped from cityscapes-dataset.com (or drop the option and unset CITYSCAPES_ROOT for the synthetic set)',
      r.root,
    );
  }
  return r;
}

/**
 * Open one split of either the real Cityscapes (root option or CITYSCAPES_ROOT) or the synthetic
 * set (default; generated on first use). The one switch between real and synthetic data.
 *
 * A root given explicitly or by CITYSCAPES_ROOT that does not exist is an error (no silent
 * fallback to synthetic data).
 */
export async function openCityscapes(options: OpenCityscapesOptions): Promise<CityscapesDataset> {
  const { root: given, split, synthetic, syntheticRoot, verbose = true, ...config } = options;
  const { root, source } = await resolveDataRoot(given, { syntheticRoot, synthetic, log: verbose ? (m) => console.log(m) : undefined });
  const ds = new CityscapesDataset(root, split, config);
  if (verbose) {
    console.log(`Cityscapes ${split}: ${ds.length} frames from ${root} (${source === 'synthetic' ? 'synthetic' : source === 'CITYSCAPES_ROOT' ? 'CITYSCAPES_ROOT' : 'root option'}), scale ${ds.config.scale}`);
  }
  return ds;
}
