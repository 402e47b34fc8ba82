import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  generateSyntheticCityscapes, formatClassFrequencies, renderSyntheticFrame, CITYSCAPES_TRAIN_CLASSES, SYNTHETIC_MANIFEST,
  labelIdsToTrainIds, listCityscapes, labelById, labelByName, loadCityscapesGroundTruth,
} from '../../lib/cityscapes';
import { createHash } from 'crypto';
import { prepareSyntheticCityscapesMain } from '../../scripts/prepare-synthetic-cityscapes';
import { COMMANDS } from '../../lib/cli/main';
import { parseOptions } from '../../lib/cli/args';

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

test('instance ids did not change a pixel of images or labelIds (hashes from the renderer before them, commit 3684b60)', () => {
  const pinned: Array<[number, string, number, number, number, string, string, string]> = [
    [1, 'train', 0, 512, 256, 'ashford_000000_000019', '1e4f40e216cc7c24', '18692524964fd127'],
    [1, 'val', 3, 512, 256, 'lakemont_000001_000019', 'e409f0e5bff061b4', '977b5d3f9a9c322d'],
    [1, 'train', 5, 256, 128, 'coldharbour_000001_000019', 'ef6d83ac5e2f581d', 'bca7776a25715ae7'],
    [7, 'val', 1, 2048, 1024, 'millbrook_000000_000019', '6b1b513e7c284524', 'f542c50028275d12'],
  ];
  const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex').slice(0, 16);
  for (const [seed, split, i, w, h, id, img, lab] of pinned) {
    const r = renderSyntheticFrame(seed, split, i, w, h, 3);
    assert.is(r.id, id);
    assert.is(sha(r.image), img, `${id} ${w}x${h} image`);
    assert.is(sha(r.labelIds), lab, `${id} ${w}x${h} labelIds`);
  }
});

test('renderStreetScene split into named parts: PNG files and pixels unchanged (hashes taken before the split)', async () => {
  const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex').slice(0, 16);
  const out = path.join(tmp, 'pin');
  await generateSyntheticCityscapes({ out, train: 1, val: 1, width: 256, height: 128, seed: 5 });
  const files: Record<string, [string, string, string]> = {
    ashford_000000_000019: ['63e9f7a585138d69', '08262a5a4ba86887', '9d47c69688124223'],
    lakemont_000000_000019: ['f862d37055802415', '139e23e73b1d667a', '0ea236a2d74b8b71'],
  };
  for (const split of ['train', 'val']) {
    for (const e of listCityscapes(out, split)) {
      const got = [e.imagePath, e.labelPath, e.instanceIdsPath!].map((f) => sha(fs.readFileSync(f)));
      assert.equal(got, files[e.id], `${e.id}: leftImg8bit, labelIds, instanceIds PNG bytes`);
    }
  }
  const pixels: Array<[number, string, number, number, number, string, string, string, string]> = [
    [1, 'train', 0, 512, 256, 'ashford_000000_000019', '1e4f40e216cc7c24', '18692524964fd127', 'e8715e7ec25e231a'],
    [2, 'train', 7, 320, 160, 'brightwell_000002_000019', '3b71aff1254b91f1', 'ccd404f10edd8c67', '41bd35b07cf369e0'],
    [1, 'val', 5, 1024, 512, 'northgate_000001_000019', '02ee1bf9404c154f', '2c4c19881a1ba867', '8bbd71a7fae7a9d5'],
  ];
  for (const [seed, split, i, w, h, id, img, lab, inst] of pixels) {
    const r = renderSyntheticFrame(seed, split, i, w, h, 3);
    assert.is(r.id, id);
    const instBytes = new Uint8Array(r.instanceIds.buffer, r.instanceIds.byteOffset, r.instanceIds.byteLength);
    assert.equal([sha(r.image), sha(r.labelIds), sha(instBytes)], [img, lab, inst], `${id} ${w}x${h}: image, labelIds, instanceIds`);
  }
});

test('instanceIds: Cityscapes encoding, one id per object, every instance-class pixel covered, written as 16-bit PNG', async () => {
  const instanceNames = ['person', 'rider', 'car', 'truck', 'bus', 'train', 'motorcycle', 'bicycle'];
  const seen = new Map<string, number>();
  let maxCarsInFrame = 0;
  for (let k = 0; k < 8; k++) {
    const r = renderSyntheticFrame(1, 'train', k, 256, 128);
    const ids = r.labelIds;
    const inst = r.instanceIds;
    const perClass = new Map<number, Set<number>>();
    for (let i = 0; i < ids.length; i++) {
      const l = labelById(ids[i]);
      if (l.hasInstances) {
        assert.ok(inst[i] >= 1000, `${r.id}: pixel ${i} of ${l.name} has no instance (${inst[i]})`);
        assert.is(Math.floor(inst[i] / 1000), ids[i]);
        if (!perClass.has(ids[i])) perClass.set(ids[i], new Set());
        perClass.get(ids[i])!.add(inst[i] % 1000);
      } else {
        assert.is(inst[i], ids[i], `${r.id}: pixel ${i} of ${l.name} (stuff) keeps its labelId`);
      }
    }
    for (const [id, ks] of perClass) {
      const name = labelById(id).name;
      seen.set(name, (seen.get(name) ?? 0) + ks.size);
      // numbered 0..n-1 per class
      assert.equal([...ks].sort((a, b) => a - b), [...Array(ks.size).keys()], `${r.id} ${name}: instance numbers ${[...ks]}`);
    }
    maxCarsInFrame = Math.max(maxCarsInFrame, perClass.get(labelByName('car').id)?.size ?? 0);
  }
  for (const n of instanceNames) assert.ok((seen.get(n) ?? 0) > 0, `no ${n} instance in 8 frames (${JSON.stringify([...seen])})`);
  assert.ok(maxCarsInFrame >= 2, `cars are separate instances (max ${maxCarsInFrame} in a frame)`);

  const out = path.join(tmp, 'inst');
  await generateSyntheticCityscapes({ out, train: 2, val: 1, width: 128, height: 64, seed: 3 });
  const entries = listCityscapes(out, 'train');
  for (const e of entries) {
    assert.ok(e.instanceIdsPath && fs.existsSync(e.instanceIdsPath), `${e.id}: instanceIds written`);
    const gt = await loadCityscapesGroundTruth(e);
    const r = renderSyntheticFrame(3, 'train', entries.indexOf(e) === 0 ? 0 : 1, 128, 64);
    assert.is(r.id, e.id);
    assert.equal(Array.from(gt.instanceIds!), Array.from(r.instanceIds), `${e.id}: 16-bit PNG round trip`);
    assert.equal(Array.from(gt.labelIds), Array.from(r.labelIds));
  }
  const none = path.join(tmp, 'noinst');
  await generateSyntheticCityscapes({ out: none, train: 1, val: 0, width: 64, height: 32, writeInstanceIds: false });
  assert.is(listCityscapes(none, 'train')[0].instanceIdsPath, undefined);
});

test('data generation entry point (channel-distill data; scripts/prepare-synthetic-cityscapes.ts): options, --help, clear errors', async () => {
  const p = parseOptions('data', ['--out', 'x', '--seed', '3', '--train=10', '--val', '2', '--width', '256', '--height', '128', '--cities', '2', '--train-ids'], COMMANDS.data.options);
  assert.equal(p, { out: 'x', seed: 3, train: 10, val: 2, test: 0, width: 256, height: 128, cities: 2, trainIds: true, color: false });
  assert.throws(() => parseOptions('data', ['--train', 'many'], COMMANDS.data.options), /data: --train must be an integer, got 'many'/);
  assert.throws(() => parseOptions('data', ['--bogus'], COMMANDS.data.options), /unknown option --bogus/);
  assert.throws(() => parseOptions('data', ['--out'], COMMANDS.data.options), /--out needs a value/);
  await generateSyntheticCityscapes({ out: path.join(tmp, 'v'), train: 1, val: 0, cities: 9 }).then(
    () => assert.unreachable(),
    (e) => assert.match(e.message, /option cities=9 must be an integer in 1\.\.4/),
  );
  const out = path.join(tmp, 'cli');
  const code = await prepareSyntheticCityscapesMain(['--out', out, '--train', '2', '--val', '1', '--width', '64', '--height', '32', '--test', '1', '--color', '--quiet']);
  assert.is(code, 0);
  assert.is(listCityscapes(out, 'train').length, 2);
  assert.is(listCityscapes(out, 'test').length, 1);
  assert.ok(fs.readdirSync(path.join(out, 'gtFine', 'val'), { recursive: true }).some((f) => String(f).endsWith('_gtFine_color.png')));
  assert.is(await prepareSyntheticCityscapesMain(['--out', out, '--train', '2']), 0); // exists: left alone
  assert.is(listCityscapes(out, 'train').length, 2);
});

test.run();
