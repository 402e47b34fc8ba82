/**
 * Predictions in the format cityscapesScripts' `evalPixelLevelSemanticLabeling.py` (and the benchmark
 * server) reads: one 8-bit single-channel PNG of **labelIds** (not trainIds) per image, at the
 * ground truth's full resolution, named `<city>_<seq>_<frame>*.png` — we use the image's own name,
 * `<city>_<seq>_<frame>_leftImg8bit.png`. The official script walks its results folder recursively
 * and requires exactly one file matching each ground truth, so colour visualisations go to a
 * separate tree:
 *
 *   <out>/labelIds/<city>/<city>_<seq>_<frame>_leftImg8bit.png   labelIds (point CITYSCAPES_RESULTS here)
 *   <out>/color/<city>/<city>_<seq>_<frame>_leftImg8bit.png      RGB, the cityscapesScripts colours
 *
 * `PredictionFolder` finds predictions the way the script's `getPrediction` does (recursive walk,
 * pattern `<city>_<seq>_<frame>*.png`, an error for none or several).
 *
 * @example
 * await writePrediction('out/pred', entry, trainIds, 2048, 1024);
 * const folder = new PredictionFolder('out/pred/labelIds');
 * const { data } = await readPredictionLabelIds(folder.find(entry.id));
 */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { CityscapesDataError } from './dataset';
import { colourise, trainIdsToLabelIds } from './labels';
import { encodePng } from './synthetic';

/** File name suffix of written predictions (the leftImg8bit image name). */
export const PREDICTION_SUFFIX = '_leftImg8bit.png';

/** Where `writePrediction` puts the labelIds and colour PNGs of one frame. */
export function predictionPaths(outDir: string, entry: { id: string; city: string }): { labelIds: string; color: string } {
  const name = entry.id + PREDICTION_SUFFIX;
  return {
    labelIds: path.join(outDir, 'labelIds', entry.city, name),
    color: path.join(outDir, 'color', entry.city, name),
  };
}

/**
 * Write one prediction given as trainIds (0..18; 255 becomes 'unlabeled' 0): the labelIds PNG and
 * the colour visualisation. Returns both paths.
 */
export async function writePrediction(
  outDir: string, entry: { id: string; city: string }, trainIds: ArrayLike<number>, width: number, height: number,
): Promise<{ labelIds: string; color: string }> {
  if (trainIds.length !== width * height) throw new Error(`writePrediction: ${trainIds.length} values for ${width}x${height} (${entry.id})`);
  const p = predictionPaths(outDir, entry);
  fs.mkdirSync(path.dirname(p.labelIds), { recursive: true });
  fs.mkdirSync(path.dirname(p.color), { recursive: true });
  const ids = trainIdsToLabelIds(trainIds);
  const rgb = colourise(trainIds);
  const [a, b] = await Promise.all([encodePng(ids, width, height, 1), encodePng(rgb, width, height, 3)]);
  // write to a temporary name and rename, so that a killed run leaves no truncated PNG
  for (const [file, buf] of [[p.labelIds, a], [p.color, b]] as const) {
    fs.writeFileSync(file + '.tmp', buf);
    fs.renameSync(file + '.tmp', file);
  }
  return p;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A folder of predictions, walked once (recursively) like cityscapesScripts' getPrediction. */
export class PredictionFolder {
  readonly dir: string;
  private files: string[] = [];

  constructor(dir: string) {
    this.dir = path.resolve(dir);
    if (!fs.existsSync(this.dir) || !fs.statSync(this.dir).isDirectory()) {
      throw new CityscapesDataError(`predictions folder not found: ${this.dir}`, this.dir);
    }
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.png')) this.files.push(p);
      }
    };
    walk(this.dir);
    this.files.sort();
  }

  /** Number of PNG files found. */
  get count(): number {
    return this.files.length;
  }

  /**
   * The one prediction of frame `id` (`<city>_<seq>_<frame>`): a file named `<id>*.png` anywhere below
   * the folder. Throws CityscapesDataError when there is none or more than one.
   */
  find(id: string): string {
    const re = new RegExp(`^${escapeRegExp(id)}.*\\.png$`);
    const hits = this.files.filter((f) => re.test(path.basename(f)));
    if (hits.length === 0) {
      throw new CityscapesDataError(`no prediction for ${id}: no ${id}*.png below ${this.dir} (${this.files.length} PNG file(s) there)`, this.dir);
    }
    if (hits.length > 1) {
      throw new CityscapesDataError(
        `several predictions for ${id} below ${this.dir}: ${hits.map((h) => path.relative(this.dir, h)).join(', ')}` +
          ' (cityscapesScripts needs exactly one; point it at the labelIds/ folder, not the one holding color/ too)',
        this.dir,
      );
    }
    return hits[0];
  }
}

/**
 * Decode a prediction PNG: it must be single-channel 8-bit (labelIds), as the official script
 * requires ("Predicted image has multiple channels" otherwise).
 */
export async function readPredictionLabelIds(file: string): Promise<{ data: Uint8Array; width: number; height: number }> {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new CityscapesDataError(`cannot read prediction ${file}: ${(e as Error).message}`, file);
  }
  try {
    const meta = await sharp(buf).metadata();
    if (meta.channels !== 1 || meta.depth !== 'uchar') {
      throw new CityscapesDataError(
        `prediction ${file} is ${meta.channels}-channel ${meta.depth}; expected an 8-bit single-channel PNG of labelIds (a colour visualisation cannot be scored)`,
        file,
      );
    }
    const { data, info } = await sharp(buf).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    return { data: new Uint8Array(data.buffer, data.byteOffset, info.width * info.height), width: info.width, height: info.height };
  } catch (e) {
    if (e instanceof CityscapesDataError) throw e;
    throw new CityscapesDataError(`corrupt or truncated prediction PNG ${file}: ${String((e as Error).message).split('\n')[0]}`, file);
  }
}
