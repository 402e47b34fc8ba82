/**
 * CityscapesEvaluator (cityscapesScripts' class IoU, iIoU, category IoU, category iIoU) against golden
 * numbers from an independent numpy re-implementation of evalPixelLevelSemanticLabeling.py
 * (test/fixtures/metrics/make_iiou_golden.py), plus its invariants and errors.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { CityscapesEvaluator, ConfusionMatrix } from '../../lib/metrics';
import { CITYSCAPES_TRAIN_CLASSES, labelIdsToTrainIds } from '../../lib/cityscapes';

interface Case {
  name: string;
  images: { shape: [number, number]; predLabelIds: number[]; gtLabelIds: number[]; gtInstanceIds: number[] }[];
  expected: Record<string, any>;
}
const golden = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'metrics', 'iiou_golden.json'), 'utf8')) as { cases: Case[] };

const close = (a: number, b: number | null, what: string) => {
  if (b === null) assert.ok(Number.isNaN(a), `${what}: expected NaN, got ${a}`);
  else assert.ok(Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b)), `${what}: ${a} vs golden ${b}`);
};

for (const c of golden.cases) {
  test(`golden: ${c.name}`, () => {
    const ev = new CityscapesEvaluator();
    for (const im of c.images) ev.addImage(im.predLabelIds, im.gtLabelIds, im.gtInstanceIds);
    const s = ev.scores();
    const e = c.expected;
    for (const k of ['perClassIoU', 'perClassIIoU', 'perCategoryIoU', 'perCategoryIIoU'] as const) {
      assert.is(s[k].length, e[k].length);
      s[k].forEach((v, i) => close(v, e[k][i], `${k}[${i}]`));
    }
    for (const k of ['meanClassIoU', 'meanClassIIoU', 'meanCategoryIoU', 'meanCategoryIIoU'] as const) close(s[k], e[k], k);
    const st = ev.instanceStats();
    for (const [name, v] of Object.entries(e.instanceStats.classes as Record<string, Record<string, number>>)) {
      for (const f of ['tp', 'fn', 'tpWeighted', 'fnWeighted']) close((st.classes[name] as any)[f], v[f], `${name}.${f}`);
    }
    for (const [name, v] of Object.entries(e.instanceStats.categories as Record<string, Record<string, number>>)) {
      for (const f of ['tp', 'fn', 'tpWeighted', 'fnWeighted']) close((st.categories[name] as any)[f], v[f], `category ${name}.${f}`);
    }
    // class IoU and category IoU agree with the trainId-space ConfusionMatrix (the training metric)
    const cm = new ConfusionMatrix(19);
    for (const im of c.images) cm.update(labelIdsToTrainIds(im.predLabelIds), labelIdsToTrainIds(im.gtLabelIds));
    Array.from(cm.perClassIoU()).forEach((v, i) => close(s.perClassIoU[i], Number.isNaN(v) ? null : v, `trainId IoU ${i}`));
    Array.from(cm.perCategoryIoU()).forEach((v, i) => close(s.perCategoryIoU[i], Number.isNaN(v) ? null : v, `trainId category IoU ${i}`));
  });
}

test('iIoU rules on the toy streets: bus only predicted -> 0 (not NaN), motorcycle missed -> 0, truck absent -> NaN, stuff classes NaN', () => {
  const c = golden.cases[0];
  const ev = new CityscapesEvaluator();
  for (const im of c.images) ev.addImage(im.predLabelIds, im.gtLabelIds, im.gtInstanceIds);
  const s = ev.scores();
  assert.is(s.classIIoU.bus, 0);
  assert.is(s.instances.bus, 0);
  assert.is(s.classIIoU.motorcycle, 0);
  assert.ok(s.instances.motorcycle > 0);
  assert.ok(Number.isNaN(s.classIIoU.truck));
  assert.ok(Number.isNaN(s.classIIoU.road) && Number.isNaN(s.categoryIIoU.flat));
  assert.ok(s.classIIoU.car > 0 && s.classIIoU.car < 1);
  // 4 instance classes valid here (person, rider, car, bicycle) + bus 0 + motorcycle 0
  const valid = s.perClassIIoU.filter((x) => !Number.isNaN(x));
  assert.is(valid.length, 6);
  assert.ok(Math.abs(s.meanClassIIoU - valid.reduce((a, b) => a + b, 0) / 6) < 1e-15);
  assert.equal(Object.keys(s.classIoU), [...CITYSCAPES_TRAIN_CLASSES]);
});

test('streaming = one evaluator over all images = merge of per-image evaluators', () => {
  const c = golden.cases[2];
  const all = new CityscapesEvaluator();
  const parts = c.images.map((im) => new CityscapesEvaluator().addImage(im.predLabelIds, im.gtLabelIds, im.gtInstanceIds));
  for (const im of c.images) all.addImage(im.predLabelIds, im.gtLabelIds, im.gtInstanceIds);
  const merged = parts.reduce((a, b) => a.merge(b));
  const [m, x] = [merged.scores(), all.scores()];
  assert.equal(Array.from(merged.conf), Array.from(all.conf));
  assert.equal([m.images, m.pixels, m.instances], [x.images, x.pixels, x.instances]);
  // weighted sums in another order: equal up to rounding
  for (const k of ['perClassIoU', 'perClassIIoU', 'perCategoryIoU', 'perCategoryIIoU'] as const) {
    m[k].forEach((v, i) => close(v, Number.isNaN(x[k][i]) ? null : x[k][i], `${k}[${i}]`));
  }
});

test('instance weights: a large and a small instance count equally in iIoU, not in IoU', () => {
  // GT: one 100-px person and one 4-px person; prediction gets the big one right, misses the small one
  const w = 20, h = 10;
  const gt = new Array(w * h).fill(7);
  const inst = new Array(w * h).fill(7);
  for (let y = 0; y < 10; y++) for (let x = 0; x < 10; x++) { gt[y * w + x] = 24; inst[y * w + x] = 24000; }
  for (let y = 0; y < 2; y++) for (let x = 15; x < 17; x++) { gt[y * w + x] = 24; inst[y * w + x] = 24001; }
  const pred = gt.map((v, i) => (inst[i] === 24001 ? 7 : v));
  const s = new CityscapesEvaluator().addImage(pred, gt, inst).scores();
  assert.ok(Math.abs(s.classIoU.person - 100 / 104) < 1e-15);
  // weighted: tp = 100 * A/100, fn = 4 * A/4 -> iIoU = A / (A + A) = 0.5
  assert.ok(Math.abs(s.classIIoU.person - 0.5) < 1e-15, `${s.classIIoU.person}`);
  assert.ok(Math.abs(s.categoryIIoU.human - 0.5) < 1e-15);
});

test('errors: trainIds as predictions, size mismatch, missing instanceIds; instanceLevel off gives NaN iIoU', () => {
  const ev = new CityscapesEvaluator();
  assert.throws(() => ev.addImage([7, 255], [7, 7], [7, 7], 'a.png'), /a\.png: predicted value 255 at pixel 1 is not a Cityscapes labelId.*not trainIds/);
  assert.throws(() => ev.addImage([7], [7, 7], [7, 7], 'b.png'), /b\.png: prediction has 1 pixels, ground truth 2/);
  assert.throws(() => ev.addImage([7, 7], [7, 7], null, 'c.png'), /c\.png: no instanceIds/);
  assert.throws(() => ev.scores(), /no image/);
  const off = new CityscapesEvaluator({ instanceLevel: false }).addImage([7, 26], [7, 26]);
  const s = off.scores();
  assert.is(s.instanceLevel, false);
  assert.is(s.classIoU.road, 1);
  assert.ok(s.perClassIIoU.every((x) => Number.isNaN(x)) && Number.isNaN(s.meanCategoryIIoU));
});

test.run();
