/**
 * Evaluation on a split.
 *
 * - `evaluate(net, batches)`: the quick in-training score: whole-image inference on the (downsampled)
 *   batches, logits upsampled to the batch's label size by lib/models `predictLabels`, class IoU
 *   in trainId space (`ConfusionMatrix`, cityscapesScripts rules).
 * - `evaluateFullResolution(net, {root, split, downsample})`: the benchmark's protocol: logits upsampled
 *   to the ground truth's full resolution (whole image or sliding window, optional flip and
 *   multi-scale), scored in labelId space with class IoU, category IoU and iIoU
 *   (lib/metrics `CityscapesEvaluator`); optionally writes official-format predictions.
 * - `evaluatePredictions(dir, {root, split})`: the same scores for a folder of labelId PNGs.
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { ConfusionMatrix, CityscapesEvaluator, CITYSCAPES_TRAIN_CATEGORIES } from '../metrics';
import type { Batch } from '../data/types';
import type { SegmentationNet } from '../models/types';
import { predictLabels } from '../models';
import { inferLabels, validateInferenceOptions, type InferenceOptions } from '../models/inference';
import { listCityscapes, loadCityscapesFrame, loadCityscapesGroundTruth, type CityscapesEntry } from '../cityscapes/dataset';
import { CITYSCAPES_TRAIN_CLASSES, NUM_CLASSES, labelIdsToTrainIds, trainIdsToLabelIds } from '../cityscapes/labels';
import { PredictionFolder, readPredictionLabelIds, writePrediction } from '../cityscapes/predictions';
import { downsampleFrame, framesToBatch } from './frames';

export interface EvalResult {
  perClassIoU: number[];
  /** Class names in trainId order when known. */
  classNames?: string[];
  mIoU: number;
  pixelAccuracy: number;
  images: number;
  seconds: number;
}

/**
 * Evaluate `net` on batches (the consumer — this function — disposes each batch).
 * @example
 *   const r = await evaluate(net, valBatches(), {numClasses: 19});
 *   console.log(r.mIoU, r.perClassIoU);
 */
export async function evaluate(
  net: SegmentationNet,
  batches: Iterable<Batch> | AsyncIterable<Batch>,
  options: { numClasses?: number; classNames?: string[]; ignoreIndex?: number } = {},
): Promise<EvalResult> {
  const numClasses = options.numClasses ?? net.config.numClasses;
  const cm = new ConfusionMatrix(numClasses, { ignoreIndex: options.ignoreIndex ?? 255 });
  const t0 = Date.now();
  let images = 0;
  for await (const batch of batches as AsyncIterable<Batch>) {
    try {
      const pred = predictLabels(net, batch.images);
      try {
        await cm.updateAsync(pred, batch.labels);
      } finally {
        pred.dispose();
      }
      images += batch.images.shape[0];
    } finally {
      batch.images.dispose();
      batch.labels.dispose();
    }
  }
  if (images === 0) throw new Error('evaluate: the split has no images');
  return {
    perClassIoU: Array.from(cm.perClassIoU()),
    classNames: options.classNames,
    mIoU: cm.meanIoU(),
    pixelAccuracy: cm.pixelAccuracy(),
    images,
    seconds: (Date.now() - t0) / 1000,
  };
}

// ---------------------------------------------------------------------------------------------
// Evaluation as cityscapesScripts does it: full label resolution, labelId space, iIoU.
// ---------------------------------------------------------------------------------------------

export interface FullResolutionEvalResult extends EvalResult {
  /** 'full': scored at the ground truth's own resolution (2048x1024 on real Cityscapes). */
  resolution: 'full';
  /** Size of the first ground truth (all are checked against their own prediction). */
  labelSize: [number, number];
  /** The network input was the image shrunk by this integer factor (as in training). */
  downsample: number;
  inference: InferenceOptions | null;
  categoryNames: string[];
  perCategoryIoU: number[];
  /** Mean category IoU (the benchmark's category "Score Average"). */
  mCategoryIoU: number;
  perClassIIoU: number[];
  /** Mean class iIoU (NaN when instanceIds are missing). */
  mIIoU: number;
  perCategoryIIoU: number[];
  mCategoryIIoU: number;
  instanceLevel: boolean;
  /** GT instances per instance class. */
  instances: Record<string, number>;
  /** Why iIoU is not computed, when it is not. */
  instanceNote?: string;
}

export interface FullResolutionEvalOptions {
  /** Dataset root in the Cityscapes layout. */
  root: string;
  split: string;
  /** The network sees the image shrunk by this integer factor (box filter, as the training frames). */
  downsample: number;
  /** First N frames (sorted by id). */
  limit?: number;
  inference?: Partial<InferenceOptions>;
  /** Also write each prediction (labelIds + colour PNGs, lib/cityscapes/predictions.ts) under this folder. */
  predictionsOut?: string;
  /** Called after each frame. */
  onImage?: (done: number, total: number, id: string) => void;
}

function entriesOf(root: string, split: string, limit?: number): CityscapesEntry[] {
  const entries = listCityscapes(root, split).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return entries.slice(0, limit ?? entries.length);
}

function instanceNoteOf(entries: CityscapesEntry[]): string | undefined {
  const missing = entries.filter((e) => !e.instanceIdsPath);
  if (missing.length === 0) return undefined;
  return `iIoU not computed: ${missing.length} of ${entries.length} frame(s) have no _gtFine_instanceIds.png ` +
    `(first: ${missing[0].id} in ${path.dirname(missing[0].labelPath)}; regenerate a synthetic set with \`npx channel-distill data --force\`)`;
}

function fullResult(
  ev: CityscapesEvaluator, cm: ConfusionMatrix, t0: number, labelSize: [number, number], downsample: number,
  inference: InferenceOptions | null, instanceNote?: string,
): FullResolutionEvalResult {
  const s = ev.scores();
  return {
    perClassIoU: s.perClassIoU, classNames: [...CITYSCAPES_TRAIN_CLASSES], mIoU: s.meanClassIoU,
    pixelAccuracy: cm.pixelAccuracy(), images: s.images, seconds: (Date.now() - t0) / 1000,
    resolution: 'full', labelSize, downsample, inference,
    categoryNames: [...CITYSCAPES_TRAIN_CATEGORIES], perCategoryIoU: s.perCategoryIoU, mCategoryIoU: s.meanCategoryIoU,
    perClassIIoU: s.perClassIIoU, mIIoU: s.meanClassIIoU, perCategoryIIoU: s.perCategoryIIoU, mCategoryIIoU: s.meanCategoryIIoU,
    instanceLevel: s.instanceLevel, instances: s.instances, ...(instanceNote ? { instanceNote } : {}),
  };
}

/**
 * Evaluate `net` on a split the way the official evaluator scores it: each image is shrunk by
 * `downsample` for the network (as in training), the logits are upsampled to the ground truth's
 * full resolution (whole image or sliding window, optional flip and scales: lib/models
 * `inferLabels`), mapped to labelIds and scored in labelId space (class IoU, category IoU, and iIoU
 * from `_gtFine_instanceIds.png` when every frame has one).
 * @example
 *   const r = await evaluateFullResolution(net, { root: 'data/synthetic-cityscapes', split: 'val', downsample: 2 });
 *   console.log(r.mIoU, r.mIIoU, r.mCategoryIoU);
 */
export async function evaluateFullResolution(net: SegmentationNet, o: FullResolutionEvalOptions): Promise<FullResolutionEvalResult> {
  if (!Number.isInteger(o.downsample) || o.downsample < 1) throw new Error(`evaluateFullResolution: downsample must be an integer >= 1, got ${o.downsample}`);
  const inference = validateInferenceOptions(o.inference);
  if (net.config.numClasses !== NUM_CLASSES) {
    throw new Error(`evaluateFullResolution: the model predicts ${net.config.numClasses} classes; Cityscapes evaluation needs ${NUM_CLASSES} (trainIds)`);
  }
  const entries = entriesOf(o.root, o.split, o.limit);
  const instanceNote = instanceNoteOf(entries);
  const ev = new CityscapesEvaluator({ instanceLevel: !instanceNote });
  const cm = new ConfusionMatrix(NUM_CLASSES);
  const t0 = Date.now();
  let labelSize: [number, number] | null = null;
  for (let k = 0; k < entries.length; k++) {
    const e = entries[k];
    const [frame, gt] = await Promise.all([loadCityscapesFrame(e, 1), loadCityscapesGroundTruth(e)]);
    labelSize ??= [gt.height, gt.width];
    const batch = framesToBatch([downsampleFrame(frame, o.downsample)]);
    let pred: Int32Array;
    try {
      pred = await inferLabels(net, batch.images as tf.Tensor4D, [gt.height, gt.width], inference);
    } finally {
      tf.dispose([batch.images, batch.labels]);
    }
    ev.addImage(trainIdsToLabelIds(pred), gt.labelIds, gt.instanceIds, e.id);
    cm.update(pred, frame.label);
    if (o.predictionsOut) await writePrediction(o.predictionsOut, e, pred, gt.width, gt.height);
    o.onImage?.(k + 1, entries.length, e.id);
  }
  return fullResult(ev, cm, t0, labelSize!, o.downsample, inference, instanceNote);
}

/**
 * Score a folder of official-format predictions (labelId PNGs named `<city>_<seq>_<frame>*.png`,
 * anywhere below `predictions`; e.g. `<out>/labelIds` written by `predict`) against gtFine of a split,
 * with the same rules as `evaluateFullResolution`. Every ground-truth frame needs exactly one
 * prediction of its size.
 */
export async function evaluatePredictions(
  predictions: string, o: { root: string; split: string; limit?: number; onImage?: (done: number, total: number, id: string) => void },
): Promise<FullResolutionEvalResult> {
  const folder = new PredictionFolder(predictions);
  const entries = entriesOf(o.root, o.split, o.limit);
  const files = entries.map((e) => folder.find(e.id)); // all missing/duplicate errors before any work
  const instanceNote = instanceNoteOf(entries);
  const ev = new CityscapesEvaluator({ instanceLevel: !instanceNote });
  const cm = new ConfusionMatrix(NUM_CLASSES);
  const t0 = Date.now();
  let labelSize: [number, number] | null = null;
  for (let k = 0; k < entries.length; k++) {
    const e = entries[k];
    const [p, gt] = await Promise.all([readPredictionLabelIds(files[k]), loadCityscapesGroundTruth(e)]);
    if (p.width !== gt.width || p.height !== gt.height) {
      throw new Error(`prediction ${files[k]} is ${p.width}x${p.height} but the ground truth of ${e.id} is ${gt.width}x${gt.height} (predictions are scored at full resolution)`);
    }
    labelSize ??= [gt.height, gt.width];
    ev.addImage(p.data, gt.labelIds, gt.instanceIds, files[k]);
    cm.update(labelIdsToTrainIds(p.data, undefined, `prediction ${files[k]}`), labelIdsToTrainIds(gt.labelIds));
    o.onImage?.(k + 1, entries.length, e.id);
  }
  return fullResult(ev, cm, t0, labelSize!, 1, null, instanceNote);
}
