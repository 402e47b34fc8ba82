import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  generateSyntheticCityscapes, renderSyntheticFrame, listCityscapes, loadCityscapesFrame, CityscapesDataset,
  openCityscapes, labelIdsToTrainIds, resizeNearest, encodePng, CityscapesDataError,
} from '../../lib/cityscapes';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-reader-'));
const W = 96;
const H = 48;
const good = path.join(tmp, 'good');
const both = path.join(tmp, 'both');

async function rejects(p: Promise<unknown> | (() => unknown), re: RegExp): Promise<void> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    assert.instance(e, CityscapesDataError);
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable(`expected an error matching ${re}`);
}

/** A fresh copy of the good root with one city, for breaking. */
function copyRoot(name: string): string {
  const dst = path.join(tmp, name);
  fs.cpSync(good, dst, { recursive: true });
  return dst;
}
const first = (root: string, split = 'train') => listCityscapes(root, split)[0];

test.before(async () => {
  await generateSyntheticCityscapes({ out: good, train: 6, val: 3, width: W, height: H, cities: 2, seed: 5 });
  await generateSyntheticCityscapes({ out: both, train: 2, val: 1, width: W, height: H, cities: 1, seed: 5, writeTrainIds: true, writeColor: true });
});
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('lists and pairs files per split in the Cityscapes layout', () => {
  const e = listCityscapes(good, 'train');
  assert.is(e.length, 6);
  assert.equal(e.map((x) => x.city), ['ashford', 'ashford', 'ashford', 'brightwell', 'brightwell', 'brightwell']);
  assert.is(e[0].id, 'ashford_000000_000019');
  assert.ok(e[0].imagePath.endsWith(path.join('leftImg8bit', 'train', 'ashford', 'ashford_000000_000019_leftImg8bit.png')));
  assert.ok(e[0].labelPath.endsWith(path.join('gtFine', 'train', 'ashford', 'ashford_000000_000019_gtFine_labelIds.png')));
  assert.is(e[0].labelKind, 'labelIds');
  assert.is(listCityscapes(good, 'val').length, 3);
  // labelTrainIds preferred when present; labelIds can be forced
  assert.is(listCityscapes(both, 'train')[0].labelKind, 'labelTrainIds');
  assert.is(listCityscapes(both, 'train', 'labelIds')[0].labelKind, 'labelIds');
});

test('decoded frame = rendered frame (lossless PNG; labelIds mapped through the table); both label paths agree', async () => {
  const entry = first(good);
  const f = await loadCityscapesFrame(entry);
  const r = renderSyntheticFrame(5, 'train', 0, W, H, 2);
  assert.is(f.id, r.id);
  assert.equal([f.width, f.height], [W, H]);
  assert.equal(f.image, r.image);
  assert.equal(f.label, labelIdsToTrainIds(r.labelIds));
  const a = await loadCityscapesFrame(listCityscapes(both, 'train')[0]);
  const b = await loadCityscapesFrame(listCityscapes(both, 'train', 'labelIds')[0]);
  assert.equal(a.label, b.label);
  assert.ok(a.label.some((v) => v === 255) && a.label.some((v) => v === 0), 'has road and ignore');
});

test('scale: nearest-neighbour labels, linear image, sizes rounded', async () => {
  const entry = first(good);
  const full = await loadCityscapesFrame(entry);
  const half = await loadCityscapesFrame(entry, 0.5);
  assert.equal([half.width, half.height], [48, 24]);
  assert.is(half.image.length, 48 * 24 * 3);
  assert.equal(half.label, resizeNearest(full.label, W, H, 48, 24));
  const vals = new Set(half.label);
  for (const v of vals) assert.ok(v < 19 || v === 255, `label value ${v}`);
  // linear downscale keeps the mean colour
  const mean = (a: Uint8Array) => a.reduce((s, v) => s + v, 0) / a.length;
  assert.ok(Math.abs(mean(full.image) - mean(half.image)) < 3);
  const third = await loadCityscapesFrame(entry, 1 / 3);
  assert.equal([third.width, third.height], [32, 16]);
  const ds = new CityscapesDataset(good, 'val', { scale: 0.5, cache: true });
  assert.is(ds.length, 3);
  const p1 = ds.get(1);
  assert.is(ds.get(1), p1, 'cached promise reused');
  assert.is((await p1).width, 48);
  assert.throws(() => ds.get(3), /index 3 out of range 0\.\.2/);
});

test('errors: missing root, missing split, empty split', async () => {
  await rejects(() => listCityscapes(path.join(tmp, 'nope'), 'train'), /Cityscapes root not found: .*nope.*CITYSCAPES_ROOT/);
  await rejects(() => listCityscapes(good, 'test'), /split "test" not found: .*leftImg8bit[/\\]test is missing \(found splits: train, val\)/);
  const empty = path.join(tmp, 'empty');
  fs.mkdirSync(path.join(empty, 'leftImg8bit', 'val', 'x'), { recursive: true });
  fs.mkdirSync(path.join(empty, 'gtFine', 'val', 'x'), { recursive: true });
  await rejects(() => listCityscapes(empty, 'val'), /empty split: no \*_leftImg8bit\.png files under .*empty[/\\]leftImg8bit[/\\]val/);
  await rejects(() => listCityscapes(tmp, 'train'), /split "train" not found.*is .* a Cityscapes root/);
});

test('errors: image without label, label without image (named)', async () => {
  const r1 = copyRoot('nolabel');
  fs.rmSync(first(r1).labelPath);
  await rejects(() => listCityscapes(r1, 'train'), /image without label: .*ashford_000000_000019_leftImg8bit\.png has no .*ashford_000000_000019_gtFine_labelIds\.png/);
  const r2 = copyRoot('noimage');
  fs.rmSync(first(r2).imagePath);
  await rejects(() => listCityscapes(r2, 'train'), /label without image: .*ashford_000000_000019_gtFine_labelIds\.png/);
  const r3 = copyRoot('forced');
  await rejects(() => listCityscapes(r3, 'train', 'labelTrainIds'), /image without label: .*_gtFine_labelTrainIds\.png \(labelSource 'labelTrainIds'\)/);
});

test('errors: corrupt and truncated PNGs (image and label), named', async () => {
  const r = copyRoot('corrupt');
  const e = listCityscapes(r, 'train');
  fs.writeFileSync(e[0].imagePath, Buffer.from('this is not a png at all'));
  await rejects(loadCityscapesFrame(e[0]), /corrupt or truncated PNG \(image\): .*ashford_000000_000019_leftImg8bit\.png/);
  const png = fs.readFileSync(e[1].imagePath);
  fs.writeFileSync(e[1].imagePath, png.subarray(0, Math.floor(png.length / 2)));
  await rejects(loadCityscapesFrame(e[1]), /corrupt or truncated PNG \(image\): .*ashford_000001_000019_leftImg8bit\.png/);
  const lab = fs.readFileSync(e[2].labelPath);
  fs.writeFileSync(e[2].labelPath, lab.subarray(0, lab.length - 40));
  await rejects(loadCityscapesFrame(e[2]), /corrupt or truncated PNG \(label\): .*ashford_000002_000019_gtFine_labelIds\.png/);
});

test('errors: size mismatch, non-Cityscapes label values, RGB label', async () => {
  const r = copyRoot('bad');
  const e = listCityscapes(r, 'train');
  fs.writeFileSync(e[0].labelPath, await encodePng(new Uint8Array(W * (H - 2)).fill(7), W, H - 2, 1));
  await rejects(loadCityscapesFrame(e[0]), new RegExp(`size mismatch: image .*ashford_000000_000019_leftImg8bit\\.png is ${W}x${H} but label .*labelIds\\.png is ${W}x${H - 2}`));
  const ids = new Uint8Array(W * H).fill(7);
  ids[W * 3 + 5] = 40;
  fs.writeFileSync(e[1].labelPath, await encodePng(ids, W, H, 1));
  await rejects(loadCityscapesFrame(e[1]), /label .*ashford_000001_000019_gtFine_labelIds\.png: label value 40 at pixel 293 is not a Cityscapes labelId/);
  fs.writeFileSync(e[2].labelPath, await encodePng(new Uint8Array(W * H * 3).fill(7), W, H, 3));
  await rejects(loadCityscapesFrame(e[2]), /label .*ashford_000002_000019_gtFine_labelIds\.png is 3-channel uchar .*expected an 8-bit single-channel/);
  // a labelTrainIds file with a labelId in it
  const r2 = path.join(tmp, 'both2');
  fs.cpSync(both, r2, { recursive: true });
  const t = listCityscapes(r2, 'train')[0];
  const tid = new Uint8Array(W * H).fill(255);
  tid[W + 2] = 26;
  fs.writeFileSync(t.labelPath, await encodePng(tid, W, H, 1));
  await rejects(loadCityscapesFrame(t), /labelTrainIds\.png: value 26 at pixel 98 \(x=2, y=1\) is not a trainId/);
});

test('openCityscapes: root option, CITYSCAPES_ROOT, no silent fallback', async () => {
  const saved = process.env.CITYSCAPES_ROOT;
  try {
    const ds = await openCityscapes({ root: good, split: 'val', scale: 0.5, verbose: false });
    assert.is(ds.length, 3);
    process.env.CITYSCAPES_ROOT = both;
    const ds2 = await openCityscapes({ split: 'train', verbose: false });
    assert.is(ds2.root, path.resolve(both));
    assert.is(ds2.entries[0].labelKind, 'labelTrainIds');
    process.env.CITYSCAPES_ROOT = path.join(tmp, 'missing');
    await rejects(openCityscapes({ split: 'train', verbose: false }), /dataset root .*missing \(chosen by CITYSCAPES_ROOT=.*missing\) does not exist/);
    // neither root nor CITYSCAPES_ROOT: the synthetic set, generated when absent
    delete process.env.CITYSCAPES_ROOT;
    const synthRoot = path.join(tmp, 'auto-synth');
    const ds3 = await openCityscapes({ split: 'val', syntheticRoot: synthRoot, synthetic: { train: 2, val: 1, width: 64, height: 32 }, verbose: false });
    assert.is(ds3.root, synthRoot);
    assert.is(ds3.length, 1);
    assert.ok(fs.existsSync(path.join(synthRoot, 'synthetic-cityscapes.json')));
    const mtime = fs.statSync(ds3.entries[0].imagePath).mtimeMs;
    await openCityscapes({ split: 'val', syntheticRoot: synthRoot, verbose: false });
    assert.is(fs.statSync(ds3.entries[0].imagePath).mtimeMs, mtime, 'not regenerated when present');
  } finally {
    if (saved === undefined) delete process.env.CITYSCAPES_ROOT;
    else process.env.CITYSCAPES_ROOT = saved;
  }
});

test('timing: decode + downscale of a 2048x1024 frame (sharp)', async () => {
  const big = path.join(tmp, 'big');
  const t0 = performance.now();
  await generateSyntheticCityscapes({ out: big, train: 1, val: 0, width: 2048, height: 1024, cities: 1, seed: 9 });
  const gen = performance.now() - t0;
  const e = listCityscapes(big, 'train')[0];
  const time = async (scale: number) => {
    await loadCityscapesFrame(e, scale); // warm-up
    const t = performance.now();
    const n = 3;
    let f: Awaited<ReturnType<typeof loadCityscapesFrame>> | undefined;
    for (let k = 0; k < n; k++) f = await loadCityscapesFrame(e, scale);
    return { ms: (performance.now() - t) / n, f: f! };
  };
  const full = await time(1);
  const quarter = await time(0.25);
  assert.equal([quarter.f.width, quarter.f.height], [512, 256]);
  assert.equal([full.f.width, full.f.height], [2048, 1024]);
  console.log(`  2048x1024 frame: render+encode ${gen.toFixed(0)} ms; decode ${full.ms.toFixed(0)} ms; decode + downscale to 512x256 ${quarter.ms.toFixed(0)} ms`);
});

test.run();
