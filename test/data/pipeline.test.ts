import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import {
  TrainLoader, EvalLoader, ArrayFrameSource, augmentFrame, sampleAugmentParams, defaultAugmentConfig, denormalizeImage,
  normalizeImage, AugmentConfig, Frame,
} from '../../lib/data';
import { CITYSCAPES_PALETTE, generateSyntheticCityscapes, CityscapesDataset } from '../../lib/cityscapes';
import { Rng, hashSeed } from '../../lib/rng';

/**
 * A frame whose label is derivable from the image: blocks of random classes, each pixel painted
 * with its class's palette colour (all 19 palette colours are distinct).
 */
function paletteFrame(id: string, W: number, H: number, seed: number, block = 12): Frame {
  const rng = Rng.fromState(seed);
  const label = new Uint8Array(W * H);
  const bw = Math.ceil(W / block);
  const classes = Array.from({ length: bw * Math.ceil(H / block) }, () => (rng.chance(0.1) ? 255 : rng.intIn(0, 18)));
  const image = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    const t = classes[Math.floor(y / block) * bw + Math.floor(x / block)];
    const i = y * W + x;
    label[i] = t;
    if (t !== 255) image.set(CITYSCAPES_PALETTE.subarray(t * 3, t * 3 + 3), i * 3);
  }
  return { id, width: W, height: H, image, label };
}

/** Nearest palette class of an RGB colour. */
function nearestClass(r: number, g: number, b: number): number {
  let best = -1;
  let bd = Infinity;
  for (let t = 0; t < 19; t++) {
    const d = (r - CITYSCAPES_PALETTE[t * 3]) ** 2 + (g - CITYSCAPES_PALETTE[t * 3 + 1]) ** 2 + (b - CITYSCAPES_PALETTE[t * 3 + 2]) ** 2;
    if (d < bd) { bd = d; best = t; }
  }
  return best;
}

const noJitter = (over: Partial<AugmentConfig> = {}): AugmentConfig => ({ ...defaultAugmentConfig(), jitter: null, ...over });

test('identity augmentation (scale 1, full crop, no flip/jitter) returns the frame, normalised', () => {
  const f = paletteFrame('a', 64, 32, 1);
  const c = noJitter({ scaleRange: [1, 1], cropSize: [32, 64], flipProb: 0 });
  const p = sampleAugmentParams(Rng.fromState(1), 64, 32, c);
  assert.equal([p.scale, p.cropX, p.cropY, p.flip], [1, 0, 0, false]);
  const { image, label } = augmentFrame(f, p, c);
  assert.equal(Array.from(label), Array.from(f.label));
  assert.equal(denormalizeImage(image), f.image);
  assert.equal(image, normalizeImage(f.image));
});

test('scale/crop/flip keep image and label aligned (label derivable from the image)', () => {
  const f = paletteFrame('b', 160, 80, 2);
  const c = noJitter({ cropSize: [64, 96] });
  let agree = 0;
  let valid = 0;
  let padded = 0;
  let sawFlip = false;
  let sawSmall = false;
  let interior = 0;
  let interiorAgree = 0;
  for (let s = 0; s < 40; s++) {
    const p = sampleAugmentParams(Rng.fromState(hashSeed(7, s)), f.width, f.height, c);
    sawFlip ||= p.flip;
    sawSmall ||= p.scaledHeight < 64;
    const { image, label } = augmentFrame(f, p, c);
    const rgb = denormalizeImage(image);
    for (let i = 0; i < label.length; i++) {
      const t = label[i];
      if (t === 255) {
        if (image[i * 3] === 0 && image[i * 3 + 1] === 0 && image[i * 3 + 2] === 0) padded++;
        continue;
      }
      valid++;
      const ok = nearestClass(rgb[i * 3], rgb[i * 3 + 1], rgb[i * 3 + 2]) === t;
      if (ok) agree++;
      // interior pixels (3x3 neighbourhood of one class) must agree exactly
      const [h, w] = c.cropSize;
      const y = Math.floor(i / w);
      const x = i % w;
      if (y > 0 && x > 0 && y < h - 1 && x < w - 1) {
        let uniform = true;
        for (let dy = -1; dy <= 1 && uniform; dy++) for (let dx = -1; dx <= 1; dx++) if (label[i + dy * w + dx] !== t) uniform = false;
        if (uniform) {
          interior++;
          if (ok) interiorAgree++;
        }
      }
    }
  }
  assert.ok(sawFlip && sawSmall, 'covered flips and padding');
  assert.ok(padded > 1000, 'padding: label 255 with the mean colour (0 after normalisation)');
  const rate = agree / valid;
  console.log(
    `  image/label agreement after random scale+crop+flip: ${(100 * rate).toFixed(2)}% of ${valid} valid pixels, ` +
      `${((100 * interiorAgree) / interior).toFixed(3)}% of ${interior} interior pixels`,
  );
  assert.ok(rate > 0.9, `agreement ${rate}`); // bilinear-blended block borders may disagree
  assert.is(interiorAgree, interior, 'away from class borders image and label agree exactly');
});

test('flip = exact mirror of the same crop', () => {
  const f = paletteFrame('c', 120, 60, 3);
  const c = noJitter({ cropSize: [48, 80] });
  const p = sampleAugmentParams(Rng.fromState(11), f.width, f.height, c);
  const a = augmentFrame(f, { ...p, flip: false }, c);
  const b = augmentFrame(f, { ...p, flip: true }, c);
  const [h, w] = c.cropSize;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    assert.is(b.label[y * w + x], a.label[y * w + (w - 1 - x)]);
    assert.is(b.image[(y * w + x) * 3 + 1], a.image[(y * w + (w - 1 - x)) * 3 + 1]);
  }
});

test('scale 2 then crop: label equals nearest-neighbour upsampling', () => {
  const f = paletteFrame('d', 40, 20, 4, 5);
  const c = noJitter({ scaleRange: [2, 2], cropSize: [16, 16], flipProb: 0 });
  const p = { ...sampleAugmentParams(Rng.fromState(3), 40, 20, c), cropX: 10, cropY: 6 };
  const { label } = augmentFrame(f, p, c);
  for (let y = 0; y < 16; y++) for (let x = 0; x < 16; x++) {
    assert.is(label[y * 16 + x], f.label[Math.floor((y + 6) / 2) * 40 + Math.floor((x + 10) / 2)]);
  }
});

test('photometric jitter changes colours, not labels; errors for bad config', () => {
  const f = paletteFrame('e', 64, 32, 5);
  const c = { ...defaultAugmentConfig(), scaleRange: [1, 1] as [number, number], cropSize: [32, 64] as [number, number], flipProb: 0 };
  const p = { ...sampleAugmentParams(Rng.fromState(1), 64, 32, c), brightness: 1.2, contrast: 0.8, saturation: 0.7 };
  const j = augmentFrame(f, p, c);
  const n = augmentFrame(f, { ...p, brightness: 1, contrast: 1, saturation: 1 }, c);
  assert.equal(j.label, n.label);
  assert.ok(j.image.some((v, i) => Math.abs(v - n.image[i]) > 0.05));
  assert.throws(() => new TrainLoader(new ArrayFrameSource([f]), { batchSize: 1, scaleRange: [0, 2] }), /scaleRange/);
  assert.throws(() => new TrainLoader(new ArrayFrameSource([f]), { batchSize: 2 }), /1 frames are fewer than batchSize 2/);
  assert.throws(() => new TrainLoader(new ArrayFrameSource([f]), { batchSize: 1, cropSize: [10.5, 3] }), /cropSize/);
});

const frames = Array.from({ length: 10 }, (_, k) => paletteFrame(`f${k}`, 96, 48, 100 + k));
const cfg = { batchSize: 3, cropSize: [32, 48] as [number, number], seed: 42 };

async function collect(loader: TrainLoader, epoch: number): Promise<Array<{ ids: string[]; img: Float32Array; lab: Int32Array }>> {
  const out = [];
  for await (const b of loader.epoch(epoch)) {
    out.push({ ids: b.ids, img: b.images.dataSync() as Float32Array, lab: b.labels.dataSync() as Int32Array });
    tf.dispose([b.images, b.labels]);
  }
  return out;
}

test('batches: shapes/dtypes, determinism by seed, independent of prefetch, exact resume', async () => {
  const a = new TrainLoader(new ArrayFrameSource(frames), { ...cfg, prefetch: 1 });
  const b = new TrainLoader(new ArrayFrameSource(frames), { ...cfg, prefetch: 4 });
  const other = new TrainLoader(new ArrayFrameSource(frames), { ...cfg, seed: 43 });
  assert.is(a.batchesPerEpoch, 3);
  const first = (await a.epoch(0).next()).value!;
  assert.equal(first.images.shape, [3, 32, 48, 3]);
  assert.equal(first.labels.shape, [3, 32, 48]);
  assert.is(first.images.dtype, 'float32');
  assert.is(first.labels.dtype, 'int32');
  tf.dispose([first.images, first.labels]);
  const e0a = await collect(a, 0);
  const e0b = await collect(b, 0);
  const e1a = await collect(a, 1);
  const e0o = await collect(other, 0);
  assert.equal(e0a.map((x) => x.ids), e0b.map((x) => x.ids));
  e0a.forEach((x, k) => {
    assert.equal(x.img, e0b[k].img);
    assert.equal(x.lab, e0b[k].lab);
  });
  assert.not.equal(e0a.map((x) => x.ids), e1a.map((x) => x.ids), 'epochs reshuffle');
  assert.ok(e0a[0].img.some((v, i) => v !== e0o[0].img[i]), 'another seed differs');
  const epochIds = e0a.flatMap((x) => x.ids);
  assert.is(new Set(epochIds).size, 9, 'each frame at most once per epoch (dropLast)');
  // resume: stream(4) starts at epoch 1, batch 1
  const s = a.stream(4);
  const r = (await s.next()).value!;
  await s.return(undefined);
  assert.equal([r.epoch, r.iteration], [1, 4]);
  assert.equal(r.batch.ids, e1a[1].ids);
  assert.equal(r.batch.images.dataSync(), e1a[1].img);
  tf.dispose([r.batch.images, r.batch.labels]);
});

test('no tensor leaks over an epoch; eval loader: whole frames in order, normalised', async () => {
  const loader = new TrainLoader(new ArrayFrameSource(frames), { ...cfg, dropLast: false, cacheFrames: true });
  const before = tf.memory().numTensors;
  let n = 0;
  for await (const b of loader.epoch(0)) {
    n += b.ids.length;
    tf.dispose([b.images, b.labels]);
  }
  assert.is(n, 10, 'dropLast false keeps the partial batch');
  assert.is(tf.memory().numTensors, before);
  const ev = new EvalLoader(new ArrayFrameSource(frames), { batchSize: 4 });
  const ids: string[] = [];
  for await (const b of ev) {
    ids.push(...b.ids);
    if (ids.length === 4) {
      assert.equal(b.images.shape, [4, 48, 96, 3]);
      assert.equal(Array.from(b.labels.dataSync().slice(0, 96 * 48)), Array.from(frames[0].label));
      assert.equal(b.images.dataSync().slice(0, 30), normalizeImage(frames[0].image).slice(0, 30));
    }
    tf.dispose([b.images, b.labels]);
  }
  assert.equal(ids, frames.map((f) => f.id));
  assert.is(tf.memory().numTensors, before);
  const mixed = new EvalLoader(new ArrayFrameSource([frames[0], paletteFrame('small', 32, 16, 1)]), { batchSize: 2 });
  try {
    for await (const b of mixed) tf.dispose([b.images, b.labels]);
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /differ in size; use batchSize 1/);
  }
});

test('throughput: synthetic Cityscapes from disk, 512x256 frames, batch 4, crop 256x512', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-pipe-'));
  try {
    await generateSyntheticCityscapes({ out: dir, train: 12, val: 0, seed: 3 });
    const ds = new CityscapesDataset(dir, 'train');
    for (const cache of [false, true]) {
      const loader = new TrainLoader(ds, { batchSize: 4, cropSize: [256, 512], seed: 1, cacheFrames: cache });
      if (cache) for await (const b of loader.epoch(99)) tf.dispose([b.images, b.labels]); // fill the cache
      const t0 = performance.now();
      let n = 0;
      for (let e = 0; e < 2; e++) {
        for await (const b of loader.epoch(e)) {
          n += b.ids.length;
          tf.dispose([b.images, b.labels]);
        }
      }
      const s = (performance.now() - t0) / 1000;
      console.log(`  TrainLoader ${cache ? 'cached frames ' : 'decode from PNG'}: ${(n / s).toFixed(1)} images/s (${n} images, ${tf.getBackend()} backend)`);
      assert.is(n, 24);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
