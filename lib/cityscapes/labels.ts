/**
 * The Cityscapes label table, exactly as in cityscapesScripts `cityscapesscripts/helpers/labels.py`
 * (mcordts/cityscapesScripts): 34 labelIds (0..33) plus `license plate` (id −1, trainId −1).
 *
 * - Ground-truth `*_gtFine_labelIds.png` stores `id`; training uses `trainId` (0..18, 255 = ignore),
 *   which `createTrainIdLabelImgs.py` writes to `*_gtFine_labelTrainIds.png`.
 * - The 19 train classes (trainId order): road, sidewalk, building, wall, fence, pole, traffic light,
 *   traffic sign, vegetation, terrain, sky, person, rider, car, truck, bus, train, motorcycle, bicycle.
 * - Like most training code (TorchDistiller `evaluate.py`), we map the license plate's trainId −1 to 255.
 *
 * @example
 * import { labelIdToTrainId, labelIdsToTrainIds, colourise } from './labels';
 * labelIdToTrainId(26);                               // 13 (car)
 * const trainIds = labelIdsToTrainIds(new Uint8Array([7, 26, 0])); // Uint8Array [0, 13, 255]
 * const rgb = colourise(trainIds);                     // Uint8Array of length 9
 */

/** The ignore value in trainId space. */
export const IGNORE_INDEX = 255;
/** Number of train classes. */
export const NUM_CLASSES = 19;

export interface CityscapesLabel {
  /** Unique label name, e.g. 'car'. */
  name: string;
  /** labelId as stored in `*_gtFine_labelIds.png` (−1: never stored). */
  id: number;
  /** Train id as in labels.py (255 = ignore; license plate keeps −1 here, see `labelIdToTrainId`). */
  trainId: number;
  category: string;
  categoryId: number;
  hasInstances: boolean;
  ignoreInEval: boolean;
  /** RGB colour of the label in cityscapesScripts. */
  color: [number, number, number];
}

type Row = [string, number, number, string, number, boolean, boolean, [number, number, number]];
// prettier-ignore
const ROWS: Row[] = [
  //  name                     id  trainId category        catId hasInstances ignoreInEval color
  ['unlabeled',                0,  255, 'void',          0, false, true,  [0, 0, 0]],
  ['ego vehicle',              1,  255, 'void',          0, false, true,  [0, 0, 0]],
  ['rectification border',     2,  255, 'void',          0, false, true,  [0, 0, 0]],
  ['out of roi',               3,  255, 'void',          0, false, true,  [0, 0, 0]],
  ['static',                   4,  255, 'void',          0, false, true,  [0, 0, 0]],
  ['dynamic',                  5,  255, 'void',          0, false, true,  [111, 74, 0]],
  ['ground',                   6,  255, 'void',          0, false, true,  [81, 0, 81]],
  ['road',                     7,    0, 'flat',          1, false, false, [128, 64, 128]],
  ['sidewalk',                 8,    1, 'flat',          1, false, false, [244, 35, 232]],
  ['parking',                  9,  255, 'flat',          1, false, true,  [250, 170, 160]],
  ['rail track',              10,  255, 'flat',          1, false, true,  [230, 150, 140]],
  ['building',                11,    2, 'construction',  2, false, false, [70, 70, 70]],
  ['wall',                    12,    3, 'construction',  2, false, false, [102, 102, 156]],
  ['fence',                   13,    4, 'construction',  2, false, false, [190, 153, 153]],
  ['guard rail',              14,  255, 'construction',  2, false, true,  [180, 165, 180]],
  ['bridge',                  15,  255, 'construction',  2, false, true,  [150, 100, 100]],
  ['tunnel',                  16,  255, 'construction',  2, false, true,  [150, 120, 90]],
  ['pole',                    17,    5, 'object',        3, false, false, [153, 153, 153]],
  ['polegroup',               18,  255, 'object',        3, false, true,  [153, 153, 153]],
  ['traffic light',           19,    6, 'object',        3, false, false, [250, 170, 30]],
  ['traffic sign',            20,    7, 'object',        3, false, false, [220, 220, 0]],
  ['vegetation',              21,    8, 'nature',        4, false, false, [107, 142, 35]],
  ['terrain',                 22,    9, 'nature',        4, false, false, [152, 251, 152]],
  ['sky',                     23,   10, 'sky',           5, false, false, [70, 130, 180]],
  ['person',                  24,   11, 'human',         6, true,  false, [220, 20, 60]],
  ['rider',                   25,   12, 'human',         6, true,  false, [255, 0, 0]],
  ['car',                     26,   13, 'vehicle',       7, true,  false, [0, 0, 142]],
  ['truck',                   27,   14, 'vehicle',       7, true,  false, [0, 0, 70]],
  ['bus',                     28,   15, 'vehicle',       7, true,  false, [0, 60, 100]],
  ['caravan',                 29,  255, 'vehicle',       7, true,  true,  [0, 0, 90]],
  ['trailer',                 30,  255, 'vehicle',       7, true,  true,  [0, 0, 110]],
  ['train',                   31,   16, 'vehicle',       7, true,  false, [0, 80, 100]],
  ['motorcycle',              32,   17, 'vehicle',       7, true,  false, [0, 0, 230]],
  ['bicycle',                 33,   18, 'vehicle',       7, true,  false, [119, 11, 32]],
  ['license plate',           -1,   -1, 'vehicle',       7, false, true,  [0, 0, 142]],
];

/** All 35 labels of cityscapesScripts, in its order. */
export const CITYSCAPES_LABELS: readonly CityscapesLabel[] = Object.freeze(
  ROWS.map(([name, id, trainId, category, categoryId, hasInstances, ignoreInEval, color]) =>
    Object.freeze({ name, id, trainId, category, categoryId, hasInstances, ignoreInEval, color }),
  ),
);

/** The 19 train classes, index = trainId. */
export const CITYSCAPES_TRAIN_CLASSES: readonly string[] = Object.freeze(
  CITYSCAPES_LABELS.filter((l) => l.trainId >= 0 && l.trainId !== IGNORE_INDEX)
    .sort((a, b) => a.trainId - b.trainId)
    .map((l) => l.name),
);

/** labelIds of the 19 train classes, index = trainId: [7, 8, 11, …, 33]. */
export const TRAIN_ID_TO_LABEL_ID: readonly number[] = Object.freeze(
  CITYSCAPES_TRAIN_CLASSES.map((n) => CITYSCAPES_LABELS.find((l) => l.name === n)!.id),
);

/** Largest labelId stored in label PNGs (33). */
export const MAX_LABEL_ID = 33;

const byName = new Map(CITYSCAPES_LABELS.map((l) => [l.name, l]));
const byId = new Map(CITYSCAPES_LABELS.map((l) => [l.id, l]));

/** Label by name ('car'); throws for an unknown name. */
export function labelByName(name: string): CityscapesLabel {
  const l = byName.get(name);
  if (!l) throw new Error(`labelByName: unknown Cityscapes label name "${name}"`);
  return l;
}

/** Label by labelId (−1..33); throws for an id not in the table. */
export function labelById(id: number): CityscapesLabel {
  const l = byId.get(id);
  if (!l) throw new Error(`labelById: ${id} is not a Cityscapes labelId (valid: -1..33)`);
  return l;
}

/**
 * labelId → trainId (0..18, 255 = ignore; −1 → 255).
 * @throws for a value that is not a Cityscapes labelId.
 */
export function labelIdToTrainId(id: number): number {
  const l = byId.get(id);
  if (!l) throw new Error(`labelIdToTrainId: ${id} is not a Cityscapes labelId (valid: -1..33)`);
  return l.trainId < 0 ? IGNORE_INDEX : l.trainId;
}

/**
 * trainId → labelId as cityscapesScripts' `trainId2label` (built over the reversed label list, so
 * the first label with a trainId wins): 0..18 → the class's labelId, 255 → 0 ('unlabeled'), and
 * −1 → −1 ('license plate', the only label with trainId −1). A −1 cannot be stored in a labelId
 * PNG: prediction writers map trainIds with `trainIdsToLabelIds`, which never sees −1 (our trainId
 * maps hold 0..18 and 255).
 */
export function trainIdToLabelId(trainId: number): number {
  if (trainId === IGNORE_INDEX) return 0;
  if (trainId === -1) return -1;
  if (!Number.isInteger(trainId) || trainId < 0 || trainId >= NUM_CLASSES) {
    throw new Error(`trainIdToLabelId: ${trainId} is not a trainId (valid: 0..18 or 255)`);
  }
  return TRAIN_ID_TO_LABEL_ID[trainId];
}

/**
 * A 256-entry lookup table labelId → trainId; entries for byte values that are not labelIds
 * (34..255) hold `INVALID_LABEL_ID` so that callers can detect them.
 */
export const INVALID_LABEL_ID = -1;
export const LABEL_ID_TO_TRAIN_ID_LUT: Readonly<Int16Array> = (() => {
  const lut = new Int16Array(256).fill(INVALID_LABEL_ID);
  for (const l of CITYSCAPES_LABELS) if (l.id >= 0) lut[l.id] = l.trainId < 0 ? IGNORE_INDEX : l.trainId;
  return lut;
})();

/**
 * Map a whole labelId image to trainIds with the LUT (O(pixels)).
 * @param ids labelIds (0..33).
 * @param context optional name used in the error (e.g. the file name).
 * @throws naming the first offending value and its index when a value is not a Cityscapes labelId.
 */
export function labelIdsToTrainIds(ids: ArrayLike<number>, out?: Uint8Array, context?: string): Uint8Array {
  const n = ids.length;
  const res = out ?? new Uint8Array(n);
  if (res.length !== n) throw new Error(`labelIdsToTrainIds: out has length ${res.length}, expected ${n}`);
  const lut = LABEL_ID_TO_TRAIN_ID_LUT;
  for (let i = 0; i < n; i++) {
    const v = ids[i];
    const t = v >= 0 && v < 256 ? lut[v | 0] : INVALID_LABEL_ID;
    if (t === INVALID_LABEL_ID || (v | 0) !== v) {
      let count = 0;
      for (let j = i; j < n; j++) {
        const w = ids[j];
        if (!(w >= 0 && w <= MAX_LABEL_ID && (w | 0) === w)) count++;
      }
      throw new Error(
        `${context ? context + ': ' : ''}label value ${v} at pixel ${i} is not a Cityscapes labelId ` +
          `(valid 0..${MAX_LABEL_ID}; ${count} such pixel(s)). Is this a labelIds image?`,
      );
    }
    res[i] = t;
  }
  return res;
}

/** trainIds → labelIds for a whole array (255 → 0). */
export function trainIdsToLabelIds(trainIds: ArrayLike<number>): Uint8Array {
  const lut = new Int16Array(256).fill(-1);
  for (let t = 0; t < NUM_CLASSES; t++) lut[t] = TRAIN_ID_TO_LABEL_ID[t];
  lut[IGNORE_INDEX] = 0;
  const res = new Uint8Array(trainIds.length);
  for (let i = 0; i < trainIds.length; i++) {
    const v = trainIds[i];
    const l = v >= 0 && v < 256 ? lut[v | 0] : -1;
    if (l < 0) throw new Error(`trainIdsToLabelIds: value ${v} at index ${i} is not a trainId (0..18 or 255)`);
    res[i] = l;
  }
  return res;
}

/** RGB palette of the 19 train classes, index = trainId (flat: 19·3 bytes). */
export const CITYSCAPES_PALETTE: Readonly<Uint8Array> = (() => {
  const p = new Uint8Array(NUM_CLASSES * 3);
  CITYSCAPES_TRAIN_CLASSES.forEach((n, t) => p.set(byName.get(n)!.color, t * 3));
  return p;
})();

/** The colour used by `colourise` for ignore (255) and out-of-range values. */
export const IGNORE_COLOUR: readonly [number, number, number] = [0, 0, 0];

/**
 * trainIds (0..18, 255) → RGB HWC uint8 with the Cityscapes palette. 255 and any other value
 * outside 0..18 become `ignoreColour` (black by default, as 'unlabeled').
 */
export function colourise(trainIds: ArrayLike<number>, ignoreColour: readonly [number, number, number] = IGNORE_COLOUR): Uint8Array {
  const n = trainIds.length;
  const out = new Uint8Array(n * 3);
  const pal = CITYSCAPES_PALETTE;
  for (let i = 0; i < n; i++) {
    const t = trainIds[i];
    const o = i * 3;
    if (t >= 0 && t < NUM_CLASSES && (t | 0) === t) {
      out[o] = pal[t * 3];
      out[o + 1] = pal[t * 3 + 1];
      out[o + 2] = pal[t * 3 + 2];
    } else {
      out[o] = ignoreColour[0];
      out[o + 1] = ignoreColour[1];
      out[o + 2] = ignoreColour[2];
    }
  }
  return out;
}

/** British/American alias. */
export const colorize = colourise;
