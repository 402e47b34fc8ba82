/**
 * Official-format predictions (lib/cityscapes/predictions.ts) and the full-resolution ground-truth
 * reader: names, round trip, and the errors cityscapesScripts would raise.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  PredictionFolder, encodePng, encodePng16, generateSyntheticCityscapes, listCityscapes, loadCityscapesGroundTruth,
  predictionPaths, readPredictionLabelIds, writePrediction,
} from '../../lib/cityscapes';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-pred-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('writePrediction: labelIds (trainId 255 -> 0) and colours under labelIds/ and color/, found like getPrediction', async () => {
  const out = path.join(tmp, 'p');
  const entry = { id: 'berlin_000123_000019', city: 'berlin' };
  const trainIds = new Uint8Array([0, 13, 255, 18, 11, 10]);
  const p = await writePrediction(out, entry, trainIds, 3, 2);
  assert.equal(p, predictionPaths(out, entry));
  assert.is(p.labelIds, path.join(out, 'labelIds', 'berlin', 'berlin_000123_000019_leftImg8bit.png'));
  const r = await readPredictionLabelIds(p.labelIds);
  assert.equal([r.width, r.height, Array.from(r.data)], [3, 2, [7, 26, 0, 33, 24, 23]]);
  const folder = new PredictionFolder(path.join(out, 'labelIds'));
  assert.is(folder.find('berlin_000123_000019'), p.labelIds);
  assert.throws(() => folder.find('berlin_000124_000019'), /no prediction for berlin_000124_000019: no berlin_000124_000019\*\.png below/);
  assert.throws(() => new PredictionFolder(out).find('berlin_000123_000019'), /several predictions for berlin_000123_000019/);
  assert.throws(() => new PredictionFolder(path.join(tmp, 'absent')), /predictions folder not found/);
  // a colour image is not a prediction
  await readPredictionLabelIds(p.color).then(() => assert.unreachable(), (e) => assert.match(e.message, /3-channel uchar; expected an 8-bit single-channel PNG of labelIds/));
  await writePrediction(out, entry, trainIds, 4, 2).then(() => assert.unreachable(), (e) => assert.match(e.message, /6 values for 4x2/));
});

test('loadCityscapesGroundTruth: instanceIds must agree with labelIds and size; absent instanceIds give null', async () => {
  const root = path.join(tmp, 'gt');
  await generateSyntheticCityscapes({ out: root, train: 1, val: 0, width: 64, height: 32, seed: 2 });
  const [e] = listCityscapes(root, 'train');
  const gt = await loadCityscapesGroundTruth(e);
  assert.is(gt.labelIds.length, 64 * 32);
  const bad = Uint16Array.from(gt.instanceIds!);
  bad[5] = 26001;
  const expectedLabel = gt.labelIds[5];
  fs.writeFileSync(e.instanceIdsPath!, await encodePng16(bad, 64, 32));
  await loadCityscapesGroundTruth(e).then(() => assert.unreachable(), (err) =>
    assert.match(err.message, new RegExp(`value 26001 at pixel 5 \\(x=5, y=0\\) is labelId 26, but .* has ${expectedLabel} there`)));
  fs.writeFileSync(e.instanceIdsPath!, await encodePng16(new Uint16Array(32 * 16), 32, 16));
  await loadCityscapesGroundTruth(e).then(() => assert.unreachable(), (err) => assert.match(err.message, /size mismatch: instanceIds .* is 32x16 but the labels are 64x32/));
  fs.writeFileSync(e.instanceIdsPath!, await encodePng(new Uint8Array(64 * 32 * 3), 64, 32, 3));
  await loadCityscapesGroundTruth(e).then(() => assert.unreachable(), (err) => assert.match(err.message, /expected a 16-bit single-channel/));
  fs.rmSync(e.instanceIdsPath!);
  const [e2] = listCityscapes(root, 'train');
  assert.is((await loadCityscapesGroundTruth(e2)).instanceIds, null);
});

test.run();
