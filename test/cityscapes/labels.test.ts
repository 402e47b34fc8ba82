import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CITYSCAPES_LABELS, CITYSCAPES_TRAIN_CLASSES, TRAIN_ID_TO_LABEL_ID, CITYSCAPES_PALETTE,
  labelIdToTrainId, labelIdsToTrainIds, trainIdToLabelId, trainIdsToLabelIds, colourise, labelByName, labelById,
} from '../../lib/cityscapes';

test('table: 34 labelIds + license plate, as in cityscapesScripts labels.py', () => {
  assert.is(CITYSCAPES_LABELS.length, 35);
  assert.equal(CITYSCAPES_LABELS.slice(0, 34).map((l) => l.id), Array.from({ length: 34 }, (_, i) => i));
  const lp = labelByName('license plate');
  assert.equal([lp.id, lp.trainId, lp.category, lp.ignoreInEval], [-1, -1, 'vehicle', true]);
  assert.equal(labelById(26).color, [0, 0, 142]);
  assert.equal(labelById(13).color, [190, 153, 153]);
  assert.is(labelById(21).category, 'nature');
  assert.is(labelById(21).categoryId, 4);
  // hasInstances only for human + vehicle classes (incl. caravan, trailer)
  assert.equal(CITYSCAPES_LABELS.filter((l) => l.hasInstances).map((l) => l.id), [24, 25, 26, 27, 28, 29, 30, 31, 32, 33]);
  // ignoreInEval ids (cityscapesScripts labels.py)
  assert.equal(CITYSCAPES_LABELS.filter((l) => l.ignoreInEval && l.id >= 0).map((l) => l.id), [0, 1, 2, 3, 4, 5, 6, 9, 10, 14, 15, 16, 18, 29, 30]);
});

test('19 train classes in trainId order with their labelIds', () => {
  assert.equal(CITYSCAPES_TRAIN_CLASSES, [
    'road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light', 'traffic sign', 'vegetation',
    'terrain', 'sky', 'person', 'rider', 'car', 'truck', 'bus', 'train', 'motorcycle', 'bicycle',
  ]);
  assert.equal(TRAIN_ID_TO_LABEL_ID, [7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33]);
});

test('labelIdToTrainId: every id, -1 -> 255, unknown ids throw', () => {
  const expected = [255, 255, 255, 255, 255, 255, 255, 0, 1, 255, 255, 2, 3, 4, 255, 255, 255, 5, 255, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 255, 255, 16, 17, 18];
  assert.equal(Array.from({ length: 34 }, (_, i) => labelIdToTrainId(i)), expected);
  assert.is(labelIdToTrainId(-1), 255);
  assert.throws(() => labelIdToTrainId(34), /34 is not a Cityscapes labelId/);
  const all = new Uint8Array(Array.from({ length: 34 }, (_, i) => i));
  assert.equal(Array.from(labelIdsToTrainIds(all)), expected);
});

test('LUT on whole arrays: round trip trainIds -> labelIds -> trainIds; bad value names file and pixel', () => {
  const n = 100000;
  const t = new Uint8Array(n);
  for (let i = 0; i < n; i++) t[i] = i % 20 === 19 ? 255 : i % 20;
  const ids = trainIdsToLabelIds(t);
  assert.is(ids[255 % n], TRAIN_ID_TO_LABEL_ID[255 % 20]);
  assert.equal(labelIdsToTrainIds(ids), t);
  assert.is(trainIdToLabelId(255), 0);
  assert.is(trainIdToLabelId(-1), -1, 'cityscapesScripts trainId2label[-1] is the license plate (id -1)');
  assert.is(labelById(trainIdToLabelId(-1)).name, 'license plate');
  assert.is(trainIdToLabelId(13), 26);
  const bad = new Uint8Array([7, 8, 40, 200]);
  assert.throws(() => labelIdsToTrainIds(bad, undefined, 'x_gtFine_labelIds.png'), /x_gtFine_labelIds\.png: label value 40 at pixel 2 is not a Cityscapes labelId.*2 such pixel/);
  assert.throws(() => trainIdsToLabelIds(new Uint8Array([19])), /not a trainId/);
});

test('palette and colourise', () => {
  assert.is(CITYSCAPES_PALETTE.length, 57);
  const rgb = colourise(new Uint8Array([0, 10, 13, 255, 18]));
  assert.equal(Array.from(rgb), [128, 64, 128, 70, 130, 180, 0, 0, 142, 0, 0, 0, 119, 11, 32]);
  assert.equal(Array.from(colourise(new Int32Array([-1, 19]), [1, 2, 3])), [1, 2, 3, 1, 2, 3]);
});

test.run();
