import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { ConfusionMatrix } from '../../lib/metrics';
import { labelIdsToTrainIds } from '../../lib/cityscapes';

const close = (a: number, b: number | null, what: string, tol = 1e-12) => {
  if (b === null) assert.ok(Number.isNaN(a), `${what}: expected NaN, got ${a}`);
  else assert.ok(Math.abs(a - b) <= tol, `${what}: expected ${b}, got ${a}`);
};

test('hand-worked: 2 classes + ignore', () => {
  // gt   = 0 0 1 1   255
  // pred = 0 1 1 255 0
  // class 0: TP 1, FN 1 (pred 1), FP 0 (pred 0 on an ignored pixel is not FP) -> IoU 1/2
  // class 1: TP 1, FN 1 (pred 255 on a valid pixel), FP 1 -> IoU 1/3
  const cm = new ConfusionMatrix(2).update(new Uint8Array([0, 1, 1, 255, 0]), new Uint8Array([0, 0, 1, 1, 255]));
  close(cm.perClassIoU()[0], 1 / 2, 'iou0');
  close(cm.perClassIoU()[1], 1 / 3, 'iou1');
  close(cm.meanIoU(), 5 / 12, 'miou');
  close(cm.pixelAccuracy(), 2 / 4, 'pixAcc');
  close(cm.meanClassAccuracy(), 1 / 2, 'mAcc');
  assert.is(cm.validPixels, 4);
  assert.is(cm.ignoredPixelCount, 1);
  assert.is(cm.invalidPredictionCount, 1);
  assert.equal(cm.toArray(), [[1, 1], [0, 1]]);
});

test('hand-worked: absent class NaN, predicted-only class 0, out-of-range prediction = FN', () => {
  // 3 classes. gt = 0 0 0 0; pred = 0 0 1 7. class 0: TP 2, FN 2 -> 0.5; class 1: FP 1 -> 0; class 2: NaN.
  const cm = new ConfusionMatrix(3).update(new Int32Array([0, 0, 1, 7]), new Int32Array([0, 0, 0, 0]));
  const iou = cm.perClassIoU();
  close(iou[0], 0.5, 'iou0');
  close(iou[1], 0, 'iou1');
  assert.ok(Number.isNaN(iou[2]));
  close(cm.meanIoU(), 0.25, 'nanmean');
  close(cm.meanIoUAbsentAsZero(), 0.5 / 3, 'absent-as-zero');
  const acc = cm.perClassAccuracy();
  close(acc[0], 0.5, 'acc0');
  assert.ok(Number.isNaN(acc[1]) && Number.isNaN(acc[2]));
  close(cm.meanClassAccuracy(), 0.5, 'mAcc');
  assert.ok(Number.isNaN(new ConfusionMatrix(3).meanIoU()), 'empty matrix: NaN');
});

const golden = JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/metrics/confusion_golden.json'), 'utf8'));
for (const c of golden.cases) {
  test(`golden (numpy, cityscapesScripts rules in labelId space): ${c.name}`, () => {
    const cm = new ConfusionMatrix(19);
    for (const im of c.images) {
      // labelIds -> trainIds for both GT and prediction (ignored labelIds -> 255)
      cm.update(labelIdsToTrainIds(new Uint8Array(im.predLabelIds)), labelIdsToTrainIds(new Uint8Array(im.gtLabelIds)));
    }
    const e = c.expected;
    const iou = cm.perClassIoU();
    e.perClassIoU.forEach((v: number | null, k: number) => close(iou[k], v, `IoU[${k}]`));
    close(cm.meanIoU(), e.meanIoU, 'mIoU');
    close(cm.meanIoUAbsentAsZero(), e.meanIoUAbsentAsZero, 'mIoU absent=0');
    close(cm.pixelAccuracy(), e.pixelAccuracy, 'pixAcc');
    const acc = cm.perClassAccuracy();
    e.perClassAccuracy.forEach((v: number | null, k: number) => close(acc[k], v, `acc[${k}]`));
    close(cm.meanClassAccuracy(), e.meanClassAccuracy, 'mAcc');
    const cat = cm.perCategoryIoU();
    e.perCategoryIoU.forEach((v: number | null, k: number) => close(cat[k], v, `categoryIoU[${k}]`));
    close(cm.meanCategoryIoU(), e.meanCategoryIoU, 'mean category IoU');
    assert.is(cm.validPixels, e.validPixels);
    assert.is(cm.ignoredPixelCount, e.ignoredPixels);
    assert.equal(cm.toArray(), e.confusionTrainIdSpace);
  });
}

test('hand-worked category IoU: car predicted as truck is right at category level', () => {
  // gt: car car person road ; pred: truck car rider sidewalk (all within-category confusions)
  const cm = new ConfusionMatrix(19).update(new Uint8Array([14, 13, 12, 1]), new Uint8Array([13, 13, 11, 0]));
  const cat = cm.perCategoryIoU();
  close(cat[0], 1, 'flat');
  close(cat[5], 1, 'human');
  close(cat[6], 1, 'vehicle');
  assert.ok(Number.isNaN(cat[1]) && Number.isNaN(cat[4]));
  close(cm.meanCategoryIoU(), 1, 'mean');
  close(cm.meanIoU(), (0 + 0 + 0 + 0 + 0.5 + 0) / 6, 'class mIoU is low');
  assert.throws(() => new ConfusionMatrix(3).perCategoryIoU(), /categoryOf has 19 entries for 3 classes/);
});

test('tensors in (updateAsync), streaming == merge == one big update, reset', async () => {
  const rnd = (n: number, hi: number, seed: number) => {
    const a = new Int32Array(n);
    let s = seed;
    for (let i = 0; i < n; i++) {
      s = (s * 1103515245 + 12345) >>> 0;
      a[i] = (s >>> 8) % hi;
    }
    return a;
  };
  const gt = rnd(2 * 8 * 8, 6, 1).map((v) => (v === 5 ? 255 : v));
  const pred = rnd(2 * 8 * 8, 5, 2);
  const whole = new ConfusionMatrix(5).update(pred, gt);
  const before = tf.memory().numTensors;
  const pt = tf.tensor3d(pred, [2, 8, 8], 'int32');
  const gtT = tf.tensor3d(gt, [2, 8, 8], 'int32');
  const a = new ConfusionMatrix(5);
  const b = new ConfusionMatrix(5);
  const streamed = new ConfusionMatrix(5);
  const halves = tf.tidy(() => [0, 1].map((i) => [pt.slice([i, 0, 0], [1, 8, 8]), gtT.slice([i, 0, 0], [1, 8, 8])]));
  await a.updateAsync(halves[0][0], halves[0][1]);
  await b.updateAsync(halves[1][0], halves[1][1]);
  await streamed.updateAsync(halves[0][0], halves[0][1]);
  await streamed.updateAsync(halves[1][0], halves[1][1]);
  tf.dispose(halves.flat());
  assert.equal(a.clone().merge(b).toArray(), whole.toArray());
  assert.equal(streamed.toArray(), whole.toArray());
  assert.equal((await new ConfusionMatrix(5).updateAsync(pt, gtT)).perClassIoU(), whole.perClassIoU());
  assert.throws(() => new ConfusionMatrix(5).update(pt, gtT), /pred is a tensor; use `await cm.updateAsync\(pred, gt\)`/);
  tf.dispose([pt, gtT]);
  assert.is(tf.memory().numTensors, before, 'update neither leaks nor disposes');
  streamed.reset();
  assert.is(streamed.validPixels, 0);
});

test('clear errors: sizes, shapes, dtypes, gt values, config', async () => {
  const cm = new ConfusionMatrix(19);
  assert.throws(() => cm.update(new Uint8Array(3), new Uint8Array(4)), /pred has 3 elements but gt has 4/);
  assert.throws(() => cm.update(new Uint8Array([0]), new Uint8Array([19])), /gt value 19 at index 0 is neither a class id \(0\.\.18\) nor ignoreIndex 255.*labelIds instead of trainIds/);
  assert.throws(() => cm.update(new Float32Array(2) as any, new Uint8Array(2)), /pred must be an Int32Array\/Uint8Array/);
  assert.throws(() => cm.update([0, 1] as any, new Uint8Array(2)), /got Array\(2\)/);
  const rejects = async (p: Promise<unknown>, re: RegExp) => {
    try { await p; } catch (e) { assert.match((e as Error).message, re); return; }
    assert.unreachable(`expected a rejection matching ${re}`);
  };
  const ts = [tf.zeros([1, 2, 2, 19]), tf.zeros([1, 2, 2], 'int32'), tf.zeros([1, 4, 1], 'int32')];
  assert.throws(() => cm.update(ts[0], ts[1]), /pred is a float32 tensor \[1,2,2,19\].*tf\.argMax/);
  await rejects(cm.updateAsync(ts[0], ts[1]), /pred is a float32 tensor \[1,2,2,19\].*tf\.argMax/);
  await rejects(cm.updateAsync(ts[1], ts[2]), /pred shape \[1,2,2\] differs from gt shape \[1,4,1\]/);
  tf.dispose(ts);
  assert.is(cm.validPixels, 0, 'failed updates leave the matrix unchanged');
  assert.throws(() => new ConfusionMatrix(0), /numClasses/);
  assert.throws(() => new ConfusionMatrix(19, { ignoreIndex: 3 }), /ignoreIndex 3/);
  assert.throws(() => cm.merge(new ConfusionMatrix(5)), /incompatible/);
});

test('throughput: 4 x 1024 x 2048 pixels', () => {
  const n = 1024 * 2048;
  const gt = new Uint8Array(n);
  const pred = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    gt[i] = i % 23 < 19 ? i % 23 : 255;
    pred[i] = (i * 7) % 19;
  }
  const cm = new ConfusionMatrix(19);
  const t0 = performance.now();
  for (let k = 0; k < 4; k++) cm.update(pred, gt);
  const ms = performance.now() - t0;
  console.log(`  ConfusionMatrix.update: ${(4 * n / ms / 1e3).toFixed(0)} Mpixel/s (${(ms / 4).toFixed(1)} ms per 2048x1024 frame)`);
  assert.is(cm.validPixels + cm.ignoredPixelCount, 4 * n);
});

test.run();
