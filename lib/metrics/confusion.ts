/**
 * Streaming confusion matrix and the Cityscapes IoU metrics (cityscapesScripts
 * `evalPixelLevelSemanticLabeling.py` rules, in trainId space).
 *
 * Rules (those of cityscapesScripts):
 * - Pixels whose ground truth is `ignoreIndex` (255) are skipped entirely: predicting class l there
 *   is not a false positive.
 * - On a valid pixel, a prediction that is `ignoreIndex` or outside 0..numClasses−1 counts as a false
 *   negative of the ground-truth class (and as a false positive of nothing).
 * - IoU_l = TP/(TP+FP+FN); NaN when TP+FP+FN = 0 (class absent from the ground truth and never
 *   predicted on valid pixels). A class absent from the ground truth but predicted gets 0.
 * - mIoU = mean over the non-NaN classes (cityscapesScripts `getScoreAverage`).
 * - pixel accuracy = ΣTP / #valid pixels; class accuracy_l = TP_l / #GT pixels of l (NaN if none);
 *   mean class accuracy = nanmean.
 *
 * Memory and time are O(numClasses²) and O(pixels): one typed-array pass per `update`.
 *
 * @example
 * const cm = new ConfusionMatrix(19);               // ignoreIndex 255
 * cm.update(predTrainIds, gtTrainIds);              // Int32Array/Uint8Array, any shape
 * await cm.updateAsync(tf.argMax(logits, -1), labels); // int tensors, read asynchronously (not disposed)
 * console.log(cm.meanIoU(), cm.perClassIoU(), cm.pixelAccuracy());
 */
import * as tf from '@tensorflow/tfjs';

/** The 7 evaluated Cityscapes categories, in categoryId order (1..7; 'void' = 0 is never evaluated). */
export const CITYSCAPES_TRAIN_CATEGORIES: readonly string[] = ['flat', 'construction', 'object', 'nature', 'sky', 'human', 'vehicle'];
/** Category index (into CITYSCAPES_TRAIN_CATEGORIES) of each of the 19 train classes = categoryId − 1. */
export const CITYSCAPES_CATEGORY_OF_TRAIN_ID: readonly number[] = [0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 4, 5, 5, 6, 6, 6, 6, 6, 6];

export interface ConfusionMatrixConfig {
  /** Ground-truth value that marks pixels to skip (default 255). */
  ignoreIndex: number;
}

export type LabelArray = Int32Array | Uint8Array | Uint16Array | Int16Array | Uint8ClampedArray;
export type LabelInput = LabelArray | tf.Tensor;

function nanmean(xs: ArrayLike<number>): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < xs.length; i++) {
    if (!Number.isNaN(xs[i])) {
      s += xs[i];
      n++;
    }
  }
  return n === 0 ? NaN : s / n;
}

function describe(x: unknown): string {
  if (x instanceof tf.Tensor) return `tensor ${x.dtype} [${x.shape.join(',')}]`;
  if (ArrayBuffer.isView(x)) return `${x.constructor.name}(${(x as unknown as ArrayLike<number>).length})`;
  return Array.isArray(x) ? `Array(${x.length})` : typeof x;
}

interface Labels { data: ArrayLike<number>; shape: number[] | null }

function checkTensor(x: tf.Tensor, what: string): void {
  if (x.dtype !== 'int32' && x.dtype !== 'bool') {
    throw new Error(
      `ConfusionMatrix.update: ${what} is a ${x.dtype} tensor [${x.shape.join(',')}]; expected int32 class ids ` +
        `(use tf.argMax(logits, -1) for predictions, or .toInt()).`,
    );
  }
}

/** Typed arrays as they are; tensors are read asynchronously (no synchronous read: webgpu has none). */
async function readLabels(x: LabelInput, what: string): Promise<Labels> {
  if (x instanceof tf.Tensor) {
    checkTensor(x, what);
    return { data: (await x.data()) as Int32Array, shape: x.shape };
  }
  return toArray(x, what);
}

function toArray(x: LabelInput, what: string): Labels {
  if (x instanceof tf.Tensor) {
    checkTensor(x, what);
    throw new Error(
      `ConfusionMatrix.update: ${what} is a tensor; use \`await cm.updateAsync(pred, gt)\` for tensors ` +
        '(they are read asynchronously: the webgpu backend has no synchronous reads)',
    );
  }
  if (
    x instanceof Int32Array || x instanceof Uint8Array || x instanceof Uint16Array ||
    x instanceof Int16Array || x instanceof Uint8ClampedArray
  ) {
    return { data: x, shape: null };
  }
  throw new Error(
    `ConfusionMatrix.update: ${what} must be an Int32Array/Uint8Array (or other integer typed array) or an int32 tensor, got ${describe(x)}`,
  );
}

export class ConfusionMatrix {
  /** Defaults: `{ignoreIndex: 255}` (the Cityscapes trainId ignore value). */
  static defaultConfig(): ConfusionMatrixConfig {
    return { ignoreIndex: 255 };
  }

  readonly numClasses: number;
  readonly config: ConfusionMatrixConfig;
  /**
   * Counts, row = ground truth (0..numClasses−1), column = prediction (0..numClasses−1), plus one
   * extra last column for predictions that are ignoreIndex / out of range on valid pixels.
   * Row-major, numClasses × (numClasses+1). Float64 so counts stay exact beyond 2³².
   */
  private counts: Float64Array;
  private ignoredPixels = 0;

  constructor(numClasses: number, config: Partial<ConfusionMatrixConfig> = {}) {
    if (!Number.isInteger(numClasses) || numClasses < 1 || numClasses > 65535) {
      throw new Error(`ConfusionMatrix: numClasses must be an integer in 1..65535, got ${numClasses}`);
    }
    this.config = { ...ConfusionMatrix.defaultConfig(), ...config };
    const ig = this.config.ignoreIndex;
    if (!Number.isInteger(ig) || (ig >= 0 && ig < numClasses)) {
      throw new Error(`ConfusionMatrix: ignoreIndex ${ig} must be an integer outside 0..${numClasses - 1}`);
    }
    this.numClasses = numClasses;
    this.counts = new Float64Array(numClasses * (numClasses + 1));
  }

  /**
   * Add one prediction/ground-truth pair of integer typed arrays (same number of elements).
   * For tensors use `updateAsync`.
   * @throws on size mismatch, non-integer arrays, tensors, or ground-truth values that are neither a
   *   class id nor ignoreIndex.
   */
  update(pred: LabelInput, gt: LabelInput): this {
    return this.accumulate(toArray(pred, 'pred'), toArray(gt, 'gt'), pred, gt);
  }

  /**
   * `update` for int32 tensors (any shape, e.g. [N,H,W]; typed arrays are accepted too). Tensors are
   * read with `await t.data()` and NOT disposed (the caller owns them).
   * @throws (rejects) on shape/size mismatch, non-integer dtypes, or invalid ground-truth values.
   */
  async updateAsync(pred: LabelInput, gt: LabelInput): Promise<this> {
    if (pred instanceof tf.Tensor) checkTensor(pred, 'pred');
    if (gt instanceof tf.Tensor) checkTensor(gt, 'gt');
    const [p, g] = await Promise.all([readLabels(pred, 'pred'), readLabels(gt, 'gt')]);
    return this.accumulate(p, g, pred, gt);
  }

  private accumulate(p: Labels, g: Labels, pred: LabelInput, gt: LabelInput): this {
    if (p.shape && g.shape && (p.shape.length !== g.shape.length || p.shape.some((d, i) => d !== g.shape![i]))) {
      throw new Error(
        `ConfusionMatrix.update: pred shape [${p.shape.join(',')}] differs from gt shape [${g.shape.join(',')}]` +
          (p.shape.length === g.shape.length + 1 ? ' (pass tf.argMax(logits, -1), not the logits)' : ''),
      );
    }
    if (p.data.length !== g.data.length) {
      throw new Error(
        `ConfusionMatrix.update: pred has ${p.data.length} elements but gt has ${g.data.length} (${describe(pred)} vs ${describe(gt)})`,
      );
    }
    const C = this.numClasses;
    const W = C + 1;
    const ig = this.config.ignoreIndex;
    const pd = p.data;
    const gd = g.data;
    const n = gd.length;
    // Validate the ground truth first so that a bad call leaves the matrix unchanged.
    for (let i = 0; i < n; i++) {
      const t = gd[i];
      if (t !== ig && (t < 0 || t >= C)) {
        throw new Error(
          `ConfusionMatrix.update: gt value ${t} at index ${i} is neither a class id (0..${C - 1}) nor ignoreIndex ${ig}` +
            (t >= C && t <= 33 ? ' (labelIds instead of trainIds? map them with labelIdsToTrainIds)' : ''),
        );
      }
    }
    const counts = this.counts;
    let ignored = 0;
    for (let i = 0; i < n; i++) {
      const t = gd[i];
      if (t === ig) {
        ignored++;
        continue;
      }
      const q = pd[i];
      const col = q >= 0 && q < C ? q : C;
      counts[t * W + col] += 1;
    }
    this.ignoredPixels += ignored;
    return this;
  }

  /** Add another matrix's counts (same numClasses and ignoreIndex). */
  merge(other: ConfusionMatrix): this {
    if (other.numClasses !== this.numClasses || other.config.ignoreIndex !== this.config.ignoreIndex) {
      throw new Error(
        `ConfusionMatrix.merge: incompatible matrices (${this.numClasses} classes/ignore ${this.config.ignoreIndex} vs ` +
          `${other.numClasses}/${other.config.ignoreIndex})`,
      );
    }
    for (let i = 0; i < this.counts.length; i++) this.counts[i] += other.counts[i];
    this.ignoredPixels += other.ignoredPixels;
    return this;
  }

  /** Clear all counts. */
  reset(): this {
    this.counts.fill(0);
    this.ignoredPixels = 0;
    return this;
  }

  /** A deep copy. */
  clone(): ConfusionMatrix {
    const c = new ConfusionMatrix(this.numClasses, this.config);
    c.merge(this);
    return c;
  }

  /** count(gt = i, pred = j) for 0 ≤ i, j < numClasses; j = numClasses gives invalid predictions. */
  get(gtClass: number, predClass: number): number {
    return this.counts[gtClass * (this.numClasses + 1) + predClass];
  }

  /** The numClasses × numClasses matrix (rows GT, columns prediction) as nested arrays. */
  toArray(): number[][] {
    const C = this.numClasses;
    const out: number[][] = [];
    for (let i = 0; i < C; i++) out.push(Array.from(this.counts.subarray(i * (C + 1), i * (C + 1) + C)));
    return out;
  }

  /** Pixels with valid ground truth counted so far. */
  get validPixels(): number {
    let s = 0;
    for (let i = 0; i < this.counts.length; i++) s += this.counts[i];
    return s;
  }

  /** Pixels skipped because their ground truth is ignoreIndex. */
  get ignoredPixelCount(): number {
    return this.ignoredPixels;
  }

  /** Valid-GT pixels whose prediction was ignoreIndex or out of range (counted as FN). */
  get invalidPredictionCount(): number {
    const C = this.numClasses;
    let s = 0;
    for (let i = 0; i < C; i++) s += this.counts[i * (C + 1) + C];
    return s;
  }

  /** Per class: true positives, false positives (valid GT pixels only), false negatives, GT pixels. */
  stats(): { tp: Float64Array; fp: Float64Array; fn: Float64Array; gtPixels: Float64Array } {
    const C = this.numClasses;
    const W = C + 1;
    const tp = new Float64Array(C);
    const fp = new Float64Array(C);
    const fn = new Float64Array(C);
    const gtPixels = new Float64Array(C);
    for (let i = 0; i < C; i++) {
      for (let j = 0; j <= C; j++) {
        const v = this.counts[i * W + j];
        gtPixels[i] += v;
        if (j === i) tp[i] = v;
        else {
          fn[i] += v;
          if (j < C) fp[j] += v;
        }
      }
    }
    return { tp, fp, fn, gtPixels };
  }

  /** IoU per class, NaN for a class absent from both prediction and GT on valid pixels. */
  perClassIoU(): Float64Array {
    const { tp, fp, fn } = this.stats();
    const out = new Float64Array(this.numClasses);
    for (let c = 0; c < this.numClasses; c++) {
      const d = tp[c] + fp[c] + fn[c];
      out[c] = d === 0 ? NaN : tp[c] / d;
    }
    return out;
  }

  /** Mean IoU over non-NaN classes (cityscapesScripts); NaN if no class has any pixel. */
  meanIoU(): number {
    return nanmean(this.perClassIoU());
  }

  /**
   * Mean IoU over all classes with NaN counted as 0 (TorchDistiller/CIRKD convention; lower on small
   * sets where some class is absent). Reported for comparison only.
   */
  meanIoUAbsentAsZero(): number {
    const iou = this.perClassIoU();
    let s = 0;
    for (let i = 0; i < iou.length; i++) s += Number.isNaN(iou[i]) ? 0 : iou[i];
    return s / iou.length;
  }

  /** Correct pixels / valid-GT pixels (NaN if none). */
  pixelAccuracy(): number {
    const { tp } = this.stats();
    const valid = this.validPixels;
    let s = 0;
    for (let c = 0; c < this.numClasses; c++) s += tp[c];
    return valid === 0 ? NaN : s / valid;
  }

  /** TP / GT pixels per class (NaN for a class with no GT pixel). */
  perClassAccuracy(): Float64Array {
    const { tp, gtPixels } = this.stats();
    const out = new Float64Array(this.numClasses);
    for (let c = 0; c < this.numClasses; c++) out[c] = gtPixels[c] === 0 ? NaN : tp[c] / gtPixels[c];
    return out;
  }

  /** nanmean of perClassAccuracy. */
  meanClassAccuracy(): number {
    return nanmean(this.perClassAccuracy());
  }

  /**
   * IoU per category, cityscapesScripts `getIouScoreForCategory`: TP = GT and prediction both in
   * the category, FN = GT in the category and prediction not, FP = prediction in the category on a
   * valid GT pixel of another category. NaN when the denominator is 0.
   * @param categoryOf category index of every class (default: the Cityscapes categories of the 19
   *   train classes, in the order of `CITYSCAPES_TRAIN_CATEGORIES`).
   */
  perCategoryIoU(categoryOf: ArrayLike<number> = CITYSCAPES_CATEGORY_OF_TRAIN_ID): Float64Array {
    const C = this.numClasses;
    if (categoryOf.length !== C) {
      throw new Error(`ConfusionMatrix.perCategoryIoU: categoryOf has ${categoryOf.length} entries for ${C} classes`);
    }
    let K = 0;
    for (let i = 0; i < C; i++) K = Math.max(K, categoryOf[i] + 1);
    const tp = new Float64Array(K);
    const fp = new Float64Array(K);
    const fn = new Float64Array(K);
    const W = C + 1;
    for (let i = 0; i < C; i++) {
      const ci = categoryOf[i];
      for (let j = 0; j <= C; j++) {
        const v = this.counts[i * W + j];
        if (v === 0) continue;
        if (j < C && categoryOf[j] === ci) tp[ci] += v;
        else {
          fn[ci] += v;
          if (j < C) fp[categoryOf[j]] += v;
        }
      }
    }
    const out = new Float64Array(K);
    for (let k = 0; k < K; k++) {
      const d = tp[k] + fp[k] + fn[k];
      out[k] = d === 0 ? NaN : tp[k] / d;
    }
    return out;
  }

  /** nanmean of perCategoryIoU (cityscapesScripts' category "Score Average"). */
  meanCategoryIoU(categoryOf: ArrayLike<number> = CITYSCAPES_CATEGORY_OF_TRAIN_ID): number {
    return nanmean(this.perCategoryIoU(categoryOf));
  }

  /** All summary numbers at once (arrays as plain number[] with NaN kept). */
  summary(): {
    meanIoU: number; meanIoUAbsentAsZero: number; pixelAccuracy: number; meanClassAccuracy: number;
    perClassIoU: number[]; perClassAccuracy: number[]; validPixels: number; ignoredPixels: number;
  } {
    return {
      meanIoU: this.meanIoU(),
      meanIoUAbsentAsZero: this.meanIoUAbsentAsZero(),
      pixelAccuracy: this.pixelAccuracy(),
      meanClassAccuracy: this.meanClassAccuracy(),
      perClassIoU: Array.from(this.perClassIoU()),
      perClassAccuracy: Array.from(this.perClassAccuracy()),
      validPixels: this.validPixels,
      ignoredPixels: this.ignoredPixels,
    };
  }
}
