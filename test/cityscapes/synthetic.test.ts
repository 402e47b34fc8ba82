import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  generateSyntheticCityscapes, formatClassFrequencies, renderSyntheticFrame, CITYSCAPES_TRAIN_CLASSES, SYNTHETIC_MANIFEST,
  labelIdsToTrainIds, listCityscapes, labelById,
} from '../../lib/cityscapes';
import { parsePrepareArgs, prepareSyntheticCityscapesMain } from '../../scripts/prepare-synthetic-cityscapes';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-synth-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const cls = (name: string) => CITYSCAPES_TRAIN_CLASSES.indexOf(name);

test('class frequencies like Cityscapes; all 19 classes in train and val; void present', async () => {
  const t0 = performance.now();
  const r = await generateSyntheticCityscapes({ out: path.join(tmp, 'freq'), train: 24, val: 12, seed: 1 });
  const ms = performance.now() - t0;
  console.log(`  generated 24+12 frames at 512x256 in ${(ms / 1000).toFixed(1)} s`);
  console.log(formatClassFrequencies(r.classFrequency).split('\n').map((l) => '    ' + l).join('\n'));
  for (const split of ['train', 'val']) {
    const f = r.classFrequency[split];
    assert.is(f.length, 19);
    f.forEach((v, t) => assert.ok(v > 0, `${split}: class ${CITYSCAPES_TRAIN_CLASSES[t]} absent`));
    assert.ok(Math.abs(f.reduce((a, b) => a + b, 0) - 1) < 1e-9);
    const sorted = [...f.keys()].sort((a, b) => f[b] - f[a]).map((t) => CITYSCAPES_TRAIN_CLASSES[t]);
    assert.equal(sorted.slice(0, 2).sort(), ['building', 'road'], `${split}: dominant ${sorted.slice(0, 4)}`);
    // road, building, vegetation, sky dominate (Cityscapes: ~80% together)
    const big = f[cls('road')] + f[cls('building')] + f[cls('vegetation')] + f[cls('sky')];
    assert.ok(big > 0.7 && big < 0.92, `${split}: big four ${big}`);
    assert.ok(f[cls('road')] > 0.25 && f[cls('road')] < 0.5);
    // rare classes stay rare
    for (const rare of ['rider', 'motorcycle', 'train', 'traffic light', 'bicycle', 'bus', 'truck']) {
      assert.ok(f[cls(rare)] < 0.015, `${split}: ${rare} ${f[cls(rare)]}`);
    }
    assert.ok(f[cls('car')] > 0.01 && f[cls('car')] < 0.15);
    assert.ok(r.ignoredFraction[split] > 0.02 && r.ignoredFraction[split] < 0.25, `ignored ${r.ignoredFraction[split]}`);
  }
  const manifest = JSON.parse(fs.readFileSync(path.join(tmp, 'freq', SYNTHETIC_MANIFEST), 'utf8'));
  assert.equal(manifest.classFrequency.val, r.classFrequency.val);
  assert.equal(listCityscapes(path.join(tmp, 'freq'), 'val').map((e) => e.city).filter((c, i, a) => a.indexOf(c) === i), ['lakemont', 'millbrook', 'northgate']);
});

test('void labelIds used by the generator all map to 255; labelIds are valid ids', () => {
  const seen = new Set<number>();
  for (let k = 0; k < 6; k++) for (const v of renderSyntheticFrame(3, 'train', k, 256, 128).labelIds) seen.add(v);
  for (const id of seen) assert.ok(id <= 33, `id ${id}`);
  const voids = [...seen].filter((id) => labelById(id).ignoreInEval);
  assert.ok(voids.includes(1), 'ego vehicle present');
  assert.ok(voids.length >= 3, `void ids ${voids}`);
  for (const id of voids) assert.is(labelIdsToTrainIds(new Uint8Array([id]))[0], 255);
});

test('deterministic from the seed; frames independent of the split size', async () => {
  const a = path.join(tmp, 'a');
  const b = path.join(tmp, 'b');
  const c = path.join(tmp, 'c');
  await generateSyntheticCityscapes({ out: a, train: 3, val: 1, width: 128, height: 64, seed: 7 });
  await generateSyntheticCityscapes({ out: b, train: 5, val: 1, width: 128, height: 64, seed: 7 });
  await generateSyntheticCityscapes({ out: c, train: 3, val: 1, width: 128, height: 64, seed: 8 });
  for (const e of listCityscapes(a, 'train')) {
    const rel = path.relative(a, e.imagePath);
    assert.ok(fs.readFileSync(e.imagePath).equals(fs.readFileSync(path.join(b, rel))), `${rel} identical`);
    assert.ok(fs.readFileSync(e.labelPath).equals(fs.readFileSync(path.join(b, path.relative(a, e.labelPath)))));
    assert.not.ok(fs.readFileSync(e.imagePath).equals(fs.readFileSync(path.join(c, rel))), `${rel} differs for another seed`);
  }
  const x = renderSyntheticFrame(7, 'val', 0, 128, 64);
  const y = renderSyntheticFrame(7, 'train', 0, 128, 64);
  assert.not.equal(x.image, y.image, 'splits differ');
});

test('CLI: options, --help, clear errors', async () => {
  const p = parsePrepareArgs(['--out', 'x', '--seed', '3', '--train=10', '--val', '2', '--width', '256', '--height', '128', '--cities', '2', '--train-ids']);
  assert.equal(p.options, { out: path.resolve('x'), seed: 3, train: 10, val: 2, width: 256, height: 128, cities: 2, writeTrainIds: true });
  assert.ok(parsePrepareArgs(['--help']).help);
  assert.throws(() => parsePrepareArgs(['--train', 'many']), /--train expects an integer, got "many"/);
  assert.throws(() => parsePrepareArgs(['--bogus']), /unknown option "--bogus"/);
  assert.throws(() => parsePrepareArgs(['--out']), /--out needs a value/);
  await generateSyntheticCityscapes({ out: path.join(tmp, 'v'), train: 1, val: 0, cities: 9 }).then(
    () => assert.unreachable(),
    (e) => assert.match(e.message, /option cities=9 must be an integer in 1\.\.4/),
  );
  const out = path.join(tmp, 'cli');
  const code = await prepareSyntheticCityscapesMain(['--out', out, '--train', '2', '--val', '1', '--width', '64', '--height', '32', '--quiet']);
  assert.is(code, 0);
  assert.is(listCityscapes(out, 'train').length, 2);
});

test.run();
