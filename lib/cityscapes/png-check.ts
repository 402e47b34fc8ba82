/**
 * Up-front checks of a split's PNG files without decoding them, so that bad data fails before the
 * first training step rather than at the final evaluation: each file's signature and header (size,
 * bit depth, colour type: label images must be 8-bit grey, an image and its label the same size) and,
 * with `full`, its whole chunk structure (every chunk complete, CRCs correct, IEND present), which
 * reads every byte: used for the val split, which is otherwise decoded only after training (the train
 * split is decoded in full before the first step anyway).
 */
import * as fs from 'fs';
import * as zlib from 'zlib';
import { CityscapesDataError, listCityscapes } from './dataset';

export interface PngInfo {
  width: number;
  height: number;
  bitDepth: number;
  /** 0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA. */
  colorType: number;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const crc32 = (zlib as unknown as { crc32?: (b: Uint8Array) => number }).crc32;

/**
 * Read and check a PNG file's header (and with `full`, its whole chunk structure and CRCs); throws a
 * CityscapesDataError naming the file and the fault.
 */
export function readPngInfo(file: string, kind = 'PNG', full = true): PngInfo {
  let buf: Buffer;
  try {
    if (full) buf = fs.readFileSync(file);
    else {
      const fd = fs.openSync(file, 'r');
      try {
        buf = Buffer.alloc(33);
        buf = buf.subarray(0, fs.readSync(fd, buf, 0, 33, 0));
      } finally {
        fs.closeSync(fd);
      }
    }
  } catch (e) {
    throw new CityscapesDataError(`${kind} ${file} cannot be read: ${(e as Error).message}`, file);
  }
  const bad = (why: string) => new CityscapesDataError(`${kind} ${file} is not a valid PNG: ${why}`, file);
  if (buf.length < 33 || !buf.subarray(0, 8).equals(SIGNATURE)) throw bad(buf.length < 8 ? `only ${buf.length} bytes` : 'wrong signature (not a PNG file)');
  if (buf.toString('latin1', 12, 16) !== 'IHDR') throw bad('the first chunk is not IHDR');
  const info: PngInfo = { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20), bitDepth: buf[24], colorType: buf[25] };
  if (info.width === 0 || info.height === 0) throw bad(`size ${info.width}x${info.height}`);
  if (!full) return info;
  let o = 8;
  let sawEnd = false;
  while (o < buf.length) {
    if (o + 12 > buf.length) throw bad(`truncated: a chunk header at byte ${o} of ${buf.length}`);
    const len = buf.readUInt32BE(o);
    const type = buf.toString('latin1', o + 4, o + 8);
    if (o + 12 + len > buf.length) throw bad(`truncated: chunk ${type} at byte ${o} needs ${len} bytes, the file has ${buf.length - o - 12} left`);
    if (crc32 && crc32(buf.subarray(o + 4, o + 8 + len)) >>> 0 !== buf.readUInt32BE(o + 8 + len)) throw bad(`chunk ${type} at byte ${o} fails its CRC (corrupted bytes)`);
    o += 12 + len;
    if (type === 'IEND') { sawEnd = true; break; }
  }
  if (!sawEnd) throw bad('truncated: no IEND chunk');
  return info;
}

export interface SplitCheck {
  frames: number;
  /** Distinct frame sizes [width, height] in the split. */
  sizes: [number, number][];
}

const cache = new Map<string, SplitCheck>();

/**
 * Check every image/label pair of a split (see the file comment; `full` reads every byte). Results are
 * cached per process by root, split, mode and the files' sizes and modification times.
 * @example checkSplitFiles('data/synthetic-cityscapes', 'val', true)  // {frames: 60, sizes: [[512, 256]]}
 */
export function checkSplitFiles(root: string, split: string, full = true): SplitCheck {
  const entries = listCityscapes(root, split);
  const key = `${root}|${split}|${full}|${entries.map((e) => {
    const a = fs.statSync(e.imagePath);
    const b = fs.statSync(e.labelPath);
    return `${a.size}.${a.mtimeMs}.${b.size}.${b.mtimeMs}`;
  }).join(',')}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const sizes = new Map<string, [number, number]>();
  for (const e of entries) {
    const img = readPngInfo(e.imagePath, 'image', full);
    const lab = readPngInfo(e.labelPath, 'label', full);
    if (img.bitDepth !== 8) throw new CityscapesDataError(`image ${e.imagePath} has ${img.bitDepth}-bit samples; expected 8-bit`, e.imagePath);
    if (lab.bitDepth !== 8 || !(lab.colorType === 0 || lab.colorType === 4)) {
      throw new CityscapesDataError(`label ${e.labelPath} is a ${lab.bitDepth}-bit ${['grey', '?', 'RGB', 'palette', 'grey+alpha', '?', 'RGBA'][lab.colorType] ?? `type-${lab.colorType}`} PNG; expected an 8-bit single-channel (grey) label image`
        + (lab.colorType >= 2 ? ' (a _gtFine_color.png cannot be used as labels)' : ''), e.labelPath);
    }
    if (img.width !== lab.width || img.height !== lab.height) {
      throw new CityscapesDataError(`size mismatch: image ${e.imagePath} is ${img.width}x${img.height}, its label ${e.labelPath} is ${lab.width}x${lab.height}`, e.labelPath);
    }
    sizes.set(`${img.width}x${img.height}`, [img.width, img.height]);
  }
  const r: SplitCheck = { frames: entries.length, sizes: [...sizes.values()] };
  cache.set(key, r);
  return r;
}
