/**
 * The Cityscapes pixel-level benchmark scores, computed the way cityscapesScripts'
 * `evaluation/evalPixelLevelSemanticLabeling.py` computes them: class IoU, instance-weighted class
 * iIoU, category IoU and category iIoU, and their averages.
 *
 * Everything happens in labelId space, on full-resolution images, exactly as the official script:
 * - a 34×34 confusion matrix over every pixel (rows: ground-truth labelId, columns: predicted labelId;
 *   ignored labels included). A predicted value that is not a labelId (0..33) is an error, as there.
 * - class IoU_l = TP/(TP+FP+FN) with FN = the whole GT row minus TP (a prediction of 'unlabeled' or of
 *   an ignored class on a road pixel is a road FN) and FP counted only on rows of non-ignored labels.
 *   NaN for ignored labels and for an empty denominator. Average = mean over the non-NaN classes.
 * - category IoU: the same with the category's non-ignored labelIds merged (TP = GT and prediction both
 *   in those labels; FP only from non-ignored GT labels of other categories).
 * - iIoU (from `_gtFine_instanceIds.png`, values labelId·1000+k): every GT instance (value > 1000) of a
 *   non-ignored class adds its TP and FN pixels weighted by avgClassSize[class] / instance size;
 *   FP stays the unweighted pixel count from the confusion matrix. So a class with no GT instance but
 *   with false positives scores 0 (0 / (0 + FP + 0)), one with neither scores NaN. Category iIoU: the
 *   instance categories whose labels all have instances (human: person, rider; vehicle: car, truck,
 *   bus, caravan, trailer, train, motorcycle, bicycle); an instance's category TP counts pixels
 *   predicted as any labelId of its category (caravan and trailer included, as in the script).
 * - The avgClassSize table is the script's (mean instance size in pixels on 2048×1024 Cityscapes); it
 *   is used unchanged whatever the resolution, as the script does.
 *
 * Golden values: test/fixtures/metrics/make_iiou_golden.py (numpy, an independent re-implementation).
 *
 * @example
 * const ev = new CityscapesEvaluator();
 * ev.addImage(predLabelIds, gtLabelIds, gtInstanceIds);   // full-resolution arrays, any number of images
 * const s = ev.scores(); console.log(s.meanClassIoU, s.meanClassIIoU, s.meanCategoryIoU, s.meanCategoryIIoU);
 */
import { CITYSCAPES_LABELS, CITYSCAPES_TRAIN_CLASSES, MAX_LABEL_ID } from '../cityscapes/labels';
import { CITYSCAPES_TRAIN_CATEGORIES } from './confusion';

/** cityscapesScripts' `args.avgClassSize`: mean instance size (pixels, 2048×1024) per instance class. */
export const CITYSCAPES_AVG_CLASS_SIZE: Readonly<Record<string, number>> = Object.freeze({
  bicycle: 4672.3249222261,
  caravan: 36771.8241758242,
  motorcycle: 6298.7200839748,
  rider: 3930.4788056518,
  bus: 35732.1511111111,
  train: 67583.7075812274,
  car: 12794.0202738185,
  person: 3462.4756337644,
  truck: 27855.1264367816,
  trailer: 16926.9763313609,
});

const N_IDS = MAX_LABEL_ID + 1;
const LABELS = CITYSCAPES_LABELS.filter((l) => l.id >= 0);
const byId = new Map(LABELS.map((l) => [l.id, l]));
const NOT_IGNORED = LABELS.filter((l) => !l.ignoreInEval).map((l) => l.id);
/** The 7 evaluated categories in Cityscapes order (void has no evaluated label: always NaN there). */
const CATEGORIES = CITYSCAPES_TRAIN_CATEGORIES;
/** Categories with instance-level scores: every (id ≥ 0) label of the category has instances. */
const INSTANCE_CATEGORIES: ReadonlyMap<string, number[]> = (() => {
  const m = new Map<string, number[]>();
  const cats = Array.from(new Set(LABELS.map((l) => l.category)));
  for (const c of cats) {
    const ls = LABELS.filter((l) => l.category === c);
    if (ls.every((l) => l.hasInstances)) m.set(c, ls.map((l) => l.id));
  }
  return m;
})();
/** Classes with instance-level scores (hasInstances and not ignoreInEval). */
const INSTANCE_CLASSES = LABELS.filter((l) => l.hasInstances && !l.ignoreInEval).map((l) => l.name);

export interface CityscapesScores {
  /** IoU of the 19 evaluated classes, keyed by name, in trainId order (NaN: absent from GT and prediction). */
  classIoU: Record<string, number>;
  /** iIoU of the 19 classes (NaN for classes without instances, or when instance scores are off). */
  classIIoU: Record<string, number>;
  /** IoU of the 7 categories (flat … vehicle). */
  categoryIoU: Record<string, number>;
  /** iIoU of the categories (only human and vehicle are defined). */
  categoryIIoU: Record<string, number>;
  /** The benchmark's "Score Average" of each list: mean over the non-NaN entries. */
  meanClassIoU: number;
  meanClassIIoU: number;
  meanCategoryIoU: number;
  meanCategoryIIoU: number;
  /** Arrays in trainId / category order, for tables. */
  perClassIoU: number[];
  perClassIIoU: number[];
  perCategoryIoU: number[];
  perCategoryIIoU: number[];
  images: number;
  pixels: number;
  /** GT instances counted per instance class. */
  instances: Record<string, number>;
  /** Whether instance-level scores were computed (instanceIds for every image). */
  instanceLevel: boolean;
}

interface InstAcc {
  tp: number;
  fn: number;
  tpWeighted: number;
  fnWeighted: number;
}

function nanmean(xs: number[]): number {
  const v = xs.filter((x) => !Number.isNaN(x));
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
}

export class CityscapesEvaluator {
  /** Row = GT labelId, column = predicted labelId (34×34), Float64 for exact counts. */
  readonly conf = new Float64Array(N_IDS * N_IDS);
  readonly instanceLevel: boolean;
  readonly avgClassSize: Readonly<Record<string, number>>;
  private classStats = new Map<string, InstAcc>();
  private categoryStats = new Map<string, InstAcc>();
  private instanceCounts = new Map<string, number>();
  images = 0;
  pixels = 0;

  /**
   * @param options.instanceLevel compute iIoU (every `addImage` must then pass instanceIds); default true.
   * @param options.avgClassSize weights (default: the script's table).
   */
  constructor(options: { instanceLevel?: boolean; avgClassSize?: Record<string, number> } = {}) {
    this.instanceLevel = options.instanceLevel ?? true;
    this.avgClassSize = options.avgClassSize ?? CITYSCAPES_AVG_CLASS_SIZE;
    for (const n of INSTANCE_CLASSES) {
      if (!(this.avgClassSize[n] > 0)) throw new Error(`CityscapesEvaluator: avgClassSize has no positive entry for '${n}'`);
      this.classStats.set(n, { tp: 0, fn: 0, tpWeighted: 0, fnWeighted: 0 });
      this.instanceCounts.set(n, 0);
    }
    for (const c of INSTANCE_CATEGORIES.keys()) this.categoryStats.set(c, { tp: 0, fn: 0, tpWeighted: 0, fnWeighted: 0 });
  }

  /**
   * Add one image: predicted labelIds, GT labelIds and (for iIoU) GT instanceIds, all full-resolution
   * and the same length. `name` (e.g. the prediction file) goes into error messages.
   * @throws naming the image and pixel for a size mismatch, a prediction or GT value that is not a
   *   labelId, or missing instanceIds when instance scores are on.
   */
  addImage(pred: ArrayLike<number>, gt: ArrayLike<number>, instanceIds?: ArrayLike<number> | null, name = `image ${this.images}`): this {
    const n = gt.length;
    if (pred.length !== n) throw new Error(`CityscapesEvaluator: ${name}: prediction has ${pred.length} pixels, ground truth ${n} (sizes must be equal)`);
    if (this.instanceLevel) {
      if (!instanceIds) throw new Error(`CityscapesEvaluator: ${name}: no instanceIds (needed for iIoU; pass instanceLevel: false to skip instance scores)`);
      if (instanceIds.length !== n) throw new Error(`CityscapesEvaluator: ${name}: instanceIds have ${instanceIds.length} pixels, labels ${n}`);
    }
    for (let i = 0; i < n; i++) {
      const p = pred[i];
      const g = gt[i];
      if (!(p >= 0 && p <= MAX_LABEL_ID && (p | 0) === p)) {
        throw new Error(`CityscapesEvaluator: ${name}: predicted value ${p} at pixel ${i} is not a Cityscapes labelId (0..${MAX_LABEL_ID}); predictions are labelIds, not trainIds`);
      }
      if (!(g >= 0 && g <= MAX_LABEL_ID && (g | 0) === g)) throw new Error(`CityscapesEvaluator: ${name}: ground-truth value ${g} at pixel ${i} is not a labelId`);
    }
    const conf = this.conf;
    for (let i = 0; i < n; i++) conf[gt[i] * N_IDS + pred[i]] += 1;
    this.images++;
    this.pixels += n;
    if (!this.instanceLevel) return this;

    // category of each predicted labelId (only instance categories matter)
    const predCat = new Array<string | null>(N_IDS).fill(null);
    for (const [c, ids] of INSTANCE_CATEGORIES) for (const id of ids) predCat[id] = c;
    // one pass: size, TP (prediction = its labelId), category TP per GT instance
    const acc = new Map<number, [number, number, number]>();
    const inst = instanceIds!;
    for (let i = 0; i < n; i++) {
      const v = inst[i];
      if (!(v > 1000)) continue;
      const labelId = Math.floor(v / 1000);
      let a = acc.get(v);
      if (!a) {
        if (!byId.has(labelId)) throw new Error(`CityscapesEvaluator: ${name}: instanceId ${v} at pixel ${i} has no labelId ${labelId}`);
        a = [0, 0, 0];
        acc.set(v, a);
      }
      a[0]++;
      if (pred[i] === labelId) a[1]++;
      const cat = byId.get(labelId)!.category;
      if (predCat[pred[i]] === cat) a[2]++;
    }
    for (const v of Array.from(acc.keys()).sort((a, b) => a - b)) {
      const label = byId.get(Math.floor(v / 1000))!;
      if (label.ignoreInEval) continue;
      const [size, tp, catTp] = acc.get(v)!;
      const weight = this.avgClassSize[label.name] / size;
      const s = this.classStats.get(label.name)!;
      s.tp += tp;
      s.fn += size - tp;
      s.tpWeighted += tp * weight;
      s.fnWeighted += (size - tp) * weight;
      this.instanceCounts.set(label.name, this.instanceCounts.get(label.name)! + 1);
      const cs = this.categoryStats.get(label.category);
      if (cs) {
        cs.tp += catTp;
        cs.fn += size - catTp;
        cs.tpWeighted += catTp * weight;
        cs.fnWeighted += (size - catTp) * weight;
      }
    }
    return this;
  }

  /** Add another evaluator's counts (same options). */
  merge(other: CityscapesEvaluator): this {
    if (other.instanceLevel !== this.instanceLevel) throw new Error('CityscapesEvaluator.merge: one has instance scores, the other not');
    for (let i = 0; i < this.conf.length; i++) this.conf[i] += other.conf[i];
    for (const [k, s] of other.classStats) addAcc(this.classStats.get(k)!, s);
    for (const [k, s] of other.categoryStats) addAcc(this.categoryStats.get(k)!, s);
    for (const [k, c] of other.instanceCounts) this.instanceCounts.set(k, this.instanceCounts.get(k)! + c);
    this.images += other.images;
    this.pixels += other.pixels;
    return this;
  }

  private cell(g: number, p: number): number {
    return this.conf[g * N_IDS + p];
  }

  /** FP of a set of predicted labelIds: columns `cols`, rows of non-ignored labels not in `excludeRows`. */
  private fp(cols: number[], excludeRows: (id: number) => boolean): number {
    let s = 0;
    for (const g of NOT_IGNORED) {
      if (excludeRows(g)) continue;
      for (const p of cols) s += this.cell(g, p);
    }
    return s;
  }

  private rowSum(ids: number[]): number {
    let s = 0;
    for (const g of ids) for (let p = 0; p < N_IDS; p++) s += this.cell(g, p);
    return s;
  }

  /** Class IoU of one labelId (getIouScoreForLabel). */
  classIoU(labelId: number): number {
    const l = byId.get(labelId);
    if (!l || l.ignoreInEval) return NaN;
    const tp = this.cell(labelId, labelId);
    const fn = this.rowSum([labelId]) - tp;
    const fp = this.fp([labelId], (g) => g === labelId);
    const d = tp + fp + fn;
    return d === 0 ? NaN : tp / d;
  }

  /** Class iIoU of one labelId (getInstanceIouScoreForLabel). */
  classIIoU(labelId: number): number {
    const l = byId.get(labelId);
    if (!this.instanceLevel || !l || l.ignoreInEval || !this.classStats.has(l.name)) return NaN;
    const s = this.classStats.get(l.name)!;
    const fp = this.fp([labelId], (g) => g === labelId);
    const d = s.tpWeighted + fp + s.fnWeighted;
    return d === 0 ? NaN : s.tpWeighted / d;
  }

  /** Category IoU (getIouScoreForCategory). */
  categoryIoU(category: string): number {
    const ids = LABELS.filter((l) => l.category === category && !l.ignoreInEval).map((l) => l.id);
    if (ids.length === 0) return NaN;
    let tp = 0;
    for (const g of ids) for (const p of ids) tp += this.cell(g, p);
    const fn = this.rowSum(ids) - tp;
    const fp = this.fp(ids, (g) => byId.get(g)!.category === category);
    const d = tp + fp + fn;
    return d === 0 ? NaN : tp / d;
  }

  /** Category iIoU (getInstanceIouScoreForCategory). */
  categoryIIoU(category: string): number {
    const ids = INSTANCE_CATEGORIES.get(category);
    if (!this.instanceLevel || !ids) return NaN;
    const s = this.categoryStats.get(category)!;
    const fp = this.fp(ids, (g) => byId.get(g)!.category === category);
    const d = s.tpWeighted + fp + s.fnWeighted;
    return d === 0 ? NaN : s.tpWeighted / d;
  }

  /** Unweighted and weighted TP/FN sums of an instance class or category (for inspection and tests). */
  instanceStats(): { classes: Record<string, InstAcc>; categories: Record<string, InstAcc> } {
    return {
      classes: Object.fromEntries(Array.from(this.classStats, ([k, v]) => [k, { ...v }])),
      categories: Object.fromEntries(Array.from(this.categoryStats, ([k, v]) => [k, { ...v }])),
    };
  }

  /** All scores (see `CityscapesScores`). */
  scores(): CityscapesScores {
    if (this.images === 0) throw new Error('CityscapesEvaluator.scores: no image was added');
    const trainLabelIds = CITYSCAPES_TRAIN_CLASSES.map((n) => LABELS.find((l) => l.name === n)!.id);
    const perClassIoU = trainLabelIds.map((id) => this.classIoU(id));
    const perClassIIoU = trainLabelIds.map((id) => this.classIIoU(id));
    const perCategoryIoU = CATEGORIES.map((c) => this.categoryIoU(c));
    const perCategoryIIoU = CATEGORIES.map((c) => this.categoryIIoU(c));
    const rec = (names: readonly string[], xs: number[]) => Object.fromEntries(names.map((n, i) => [n, xs[i]]));
    return {
      classIoU: rec(CITYSCAPES_TRAIN_CLASSES, perClassIoU),
      classIIoU: rec(CITYSCAPES_TRAIN_CLASSES, perClassIIoU),
      categoryIoU: rec(CATEGORIES, perCategoryIoU),
      categoryIIoU: rec(CATEGORIES, perCategoryIIoU),
      meanClassIoU: nanmean(perClassIoU),
      meanClassIIoU: nanmean(perClassIIoU),
      meanCategoryIoU: nanmean(perCategoryIoU),
      meanCategoryIIoU: nanmean(perCategoryIIoU),
      perClassIoU, perClassIIoU, perCategoryIoU, perCategoryIIoU,
      images: this.images,
      pixels: this.pixels,
      instances: Object.fromEntries(this.instanceCounts),
      instanceLevel: this.instanceLevel,
    };
  }
}

function addAcc(a: InstAcc, b: InstAcc): void {
  a.tp += b.tp;
  a.fn += b.fn;
  a.tpWeighted += b.tpWeighted;
  a.fnWeighted += b.fnWeighted;
}
