/**
 * The real-Cityscapes path at the real resolution: a generated set in the Cityscapes layout at
 * 2048x1024 (2 train + 1 val frames) goes through listing, decoding with downsampling, a few
 * training steps (CLI), full-resolution evaluation (CLI eval: labels scored at 2048x1024 in labelId
 * space with iIoU), predict (official-format PNGs) and eval --predictions of those files.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { initBackend } from '../../lib/backend';
import {
  generateSyntheticCityscapes, listCityscapes, loadCityscapesFrame, loadCityscapesGroundTruth, TRAIN_ID_TO_LABEL_ID,
} from '../../lib/cityscapes';
import { ConfusionMatrix } from '../../lib/metrics';
import { forward } from '../../lib/models';
import { loadModelPackage } from '../../lib/train/model-package';
import { downsampleFrame, framesToBatch, loadSplitFrames } from '../../lib/train/frames';
import { main } from '../../lib/cli/main';
import { capture } from '../cli/fixtures';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-fullres-'));
const root = path.join(tmp, 'data');
const pkg = path.join(tmp, 'pkg');
test.before(async () => {
  await tf.setBackend(await initBackend({ quiet: true }));
});
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const run = async (argv: string[]) => {
  const r = await capture(() => main(argv));
  assert.is(r.code, 0, `${argv.join(' ')} failed:\n${r.err}\n${r.out}`);
  return r;
};

test('2048x1024 set: listing, instanceIds, decoding with downsampling', async () => {
  const t0 = Date.now();
  await generateSyntheticCityscapes({ out: root, seed: 5, train: 2, val: 1, width: 2048, height: 1024, cities: 1 });
  console.log(`  generated 3 frames at 2048x1024 in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const train = listCityscapes(root, 'train');
  assert.is(train.length, 2);
  for (const e of [...train, ...listCityscapes(root, 'val')]) {
    assert.match(path.basename(e.imagePath), /^[a-z]+_\d{6}_\d{6}_leftImg8bit\.png$/);
    assert.ok(e.labelIdsPath && e.instanceIdsPath, `${e.id}: labelIds and instanceIds`);
  }
  const full = await loadCityscapesFrame(train[0], 1);
  assert.equal([full.width, full.height], [2048, 1024]);
  const gt = await loadCityscapesGroundTruth(train[0]);
  assert.equal([gt.width, gt.height], [2048, 1024]);
  assert.ok(gt.instanceIds!.some((v) => v >= 24000), 'instances present');
  const [small] = await loadSplitFrames(root, 'train', { downsample: 8, limit: 1 });
  assert.equal([small.width, small.height], [256, 128]);
  // box filter of the 8x8 block (image) and its centre pixel (label), from the full-resolution decode
  for (const [x, y] of [[0, 0], [100, 70], [255, 127]]) {
    let s = 0;
    for (let dy = 0; dy < 8; dy++) for (let dx = 0; dx < 8; dx++) s += full.image[((y * 8 + dy) * 2048 + x * 8 + dx) * 3 + 1];
    assert.is(small.image[(y * 256 + x) * 3 + 1], Math.round(s / 64));
    assert.is(small.label[y * 256 + x], full.label[(y * 8 + 4) * 2048 + x * 8 + 4]);
  }
});

test('a few training steps on it (CLI), then full-resolution eval = an independent upsample-and-score', async () => {
  await run(['train-student', '--data', root, '--downsample', '8', '--iters', '2', '--batch', '1', '--model', 'student-r18-0.5',
    '--runs', path.join(tmp, 'runs'), '--name', 'fr', '--no-eval', '--export', pkg, '--quantization', 'none', '--log-every', '1']);
  assert.ok(fs.existsSync(path.join(pkg, 'manifest.json')));
  const out = path.join(tmp, 'eval.json');
  const r = await run(['eval', '--model-dir', pkg, '--data', root, '--downsample', '8', '--out', out]);
  assert.match(r.out, /at 2048x1024/);
  assert.match(r.out, /Score Average/);
  const j = JSON.parse(fs.readFileSync(out, 'utf8'));
  assert.equal(j.labelSize, [1024, 2048]);
  assert.is(j.images, 1);
  assert.is(j.instanceLevel, true);
  assert.is(j.perClassIoU.length, 19);
  assert.is(j.perCategoryIoU.length, 7);
  assert.ok(typeof j.mIIoU === 'number' && typeof j.mCategoryIIoU === 'number', `iIoU ${j.mIIoU}, category iIoU ${j.mCategoryIIoU}`);

  // independent: logits of the 256x128 input, bilinear (align corners) to 1024x2048, argmax, trainId IoU at full resolution
  const { net } = loadModelPackage(pkg);
  const e = listCityscapes(root, 'val')[0];
  const full = await loadCityscapesFrame(e, 1);
  const batch = framesToBatch([downsampleFrame(full, 8)]);
  const pred = tf.tidy(() => tf.argMax(tf.image.resizeBilinear(forward(net, batch.images as tf.Tensor4D).logits, [1024, 2048], true), 3));
  const cm = new ConfusionMatrix(19).update((await pred.data()) as Int32Array, full.label);
  tf.dispose([pred, batch.images, batch.labels]);
  net.model.dispose();
  const ref = Array.from(cm.perClassIoU());
  ref.forEach((v, i) => assert.ok(Number.isNaN(v) ? j.perClassIoU[i] === null : Math.abs(v - j.perClassIoU[i]) < 1e-12, `class ${i}: ${v} vs ${j.perClassIoU[i]}`));
  assert.ok(Math.abs(cm.meanIoU() - j.mIoU) < 1e-12);
  assert.ok(Math.abs(cm.pixelAccuracy() - j.pixelAccuracy) < 1e-12);
});

for (const flags of [[], ['--mode', 'slide', '--window', '96x160', '--flip', '--scales', '1,0.75']]) {
  test(`predict then eval --predictions = eval on the model (${flags.join(' ') || 'whole image'})`, async () => {
    const name = flags.length ? 'aug' : 'plain';
    const predDir = path.join(tmp, `pred-${name}`);
    const direct = path.join(tmp, `direct-${name}.json`);
    const scored = path.join(tmp, `scored-${name}.json`);
    const p = await run(['predict', '--model-dir', pkg, '--data', root, '--downsample', '8', '--out', predDir, ...flags]);
    assert.match(p.out, /wrote 1 predictions at 2048x1024/);
    await run(['eval', '--model-dir', pkg, '--data', root, '--downsample', '8', '--out', direct, ...flags]);
    await run(['eval', '--predictions', path.join(predDir, 'labelIds'), '--data', root, '--out', scored]);
    const a = JSON.parse(fs.readFileSync(direct, 'utf8'));
    const b = JSON.parse(fs.readFileSync(scored, 'utf8'));
    for (const k of ['perClassIoU', 'mIoU', 'perClassIIoU', 'mIIoU', 'perCategoryIoU', 'mCategoryIoU', 'perCategoryIIoU', 'mCategoryIIoU', 'pixelAccuracy', 'labelSize', 'instances', 'images']) {
      assert.equal(b[k], a[k], k);
    }
    // the files, as cityscapesScripts expects them
    const e = listCityscapes(root, 'val')[0];
    const file = path.join(predDir, 'labelIds', e.city, `${e.id}_leftImg8bit.png`);
    const meta = await sharp(file).metadata();
    assert.equal([meta.width, meta.height, meta.channels, meta.depth], [2048, 1024, 1, 'uchar']);
    const { data } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
    const allowed = new Set(TRAIN_ID_TO_LABEL_ID);
    assert.ok(data.every((v: number) => allowed.has(v)), 'labelIds of the 19 classes');
    const colour = await sharp(path.join(predDir, 'color', e.city, `${e.id}_leftImg8bit.png`)).metadata();
    assert.equal([colour.width, colour.channels], [2048, 3]);
    // pointing at the folder that also holds color/ is the official script's "multiple predictions" error
    const bad = await capture(() => main(['eval', '--predictions', predDir, '--data', root]));
    assert.is(bad.code, 1);
    assert.match(bad.err, /several predictions for .* point it at the labelIds\/ folder/);
  });
}

test('eval/predict option errors before any work', async () => {
  for (const [argv, re] of [
    [['eval', '--model-dir', pkg, '--predictions', tmp], /exactly one of/],
    [['eval', '--model-dir', pkg, '--mode', 'slide'], /--mode slide needs --window HxW/],
    [['eval', '--model-dir', pkg, '--window', '64x64'], /--window\/--stride need --mode slide/],
    [['eval', '--model-dir', pkg, '--scales', '1,x'], /--scales must be a comma-separated list of positive numbers/],
    [['eval', '--model-dir', pkg, '--flip', '--resolution', 'input'], /need --resolution full/],
    [['eval', '--predictions', path.join(tmp, 'nope')], /is not a folder/],
    [['predict', '--model-dir', pkg], /--out DIR is required/],
  ] as [string[], RegExp][]) {
    const r = await capture(() => main(argv));
    assert.is(r.code, 2, argv.join(' '));
    assert.match(r.err, re);
  }
});

test.run();
