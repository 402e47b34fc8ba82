/**
 * The one training sampler (`TrainLoader.batch(step)`): the paper's random scale is really applied,
 * batches are a pure function of (seed, step) whatever the call order and prefetch depth, and a
 * training run stopped and resumed through `runExperiment` is bit-identical to an uninterrupted one.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { ArrayFrameSource, TrainLoader } from '../../lib/data/loader';
import { sampleAugmentParams, augmentFrame } from '../../lib/data/augment';
import { hashSeed, Rng } from '../../lib/rng';
import { renderSplitFrames } from '../../lib/train/frames';
import { runExperiment, disposeResult } from '../../lib/train/experiment';
import { patchCpuBackend } from '../../lib/backend/cpu';
import { tinyDataset } from '../cli/fixtures';

// bit-identical resume is a property of the cpu backend: run this file on it, then restore the suite's backend
let prevBackend = '';
test.before(async () => { prevBackend = tf.getBackend(); await tf.setBackend('cpu'); patchCpuBackend(); });
test.after(async () => { if (prevBackend) await tf.setBackend(prevBackend); });

const frames = renderSplitFrames({ seed: 5, split: 'train', count: 6, width: 96, height: 48 });
const cfg = { seed: 11, batchSize: 2, cropSize: [32, 48] as [number, number], scaleRange: [0.5, 2] as [number, number], jitter: null };

async function host(l: TrainLoader, step: number): Promise<{ img: Float32Array; lab: Int32Array; ids: string[] }> {
  const b = await l.batch(step, 2);
  const out = { img: b.images.dataSync() as Float32Array, lab: b.labels.dataSync() as Int32Array, ids: b.ids };
  tf.dispose([b.images, b.labels]);
  return out;
}

test('TrainLoader.batch(step): deterministic per (seed, step), independent of call order and prefetch', async () => {
  const a = new TrainLoader(new ArrayFrameSource(frames), { ...cfg, prefetch: 1 });
  const b = new TrainLoader(new ArrayFrameSource(frames), { ...cfg, prefetch: 4 });
  const steps = [0, 1, 2, 7, 3, 11];
  const fromA: { img: Float32Array; lab: Int32Array; ids: string[] }[] = [];
  for (const s of steps) fromA.push(await host(a, s));
  // b asks in another order (and repeats a step): the same batch for the same step
  for (const s of [11, 3, 0, 7, 2, 1, 0]) {
    const got = await host(b, s);
    const ref = fromA[steps.indexOf(s)];
    assert.equal(got.ids, ref.ids, `ids of step ${s}`);
    assert.ok(got.img.every((v, i) => v === ref.img[i]), `image of step ${s}`);
    assert.ok(got.lab.every((v, i) => v === ref.lab[i]), `label of step ${s}`);
  }
  // another seed: other batches
  const c = new TrainLoader(new ArrayFrameSource(frames), { ...cfg, seed: 12 });
  const other = await host(c, 0);
  assert.ok(other.img.some((v, i) => v !== fromA[0].img[i]));
});

test('TrainLoader.batch(step) is batch step mod B of epoch floor(step / B), scaled with hashSeed(seed, epoch, frame) draws', async () => {
  const l = new TrainLoader(new ArrayFrameSource(frames), cfg);
  assert.is(l.batchesPerEpoch, 3);
  const step = 4; // epoch 1, batch 1
  const got = await host(l, step);
  const order = l.order(1);
  const members = order.slice(2, 4);
  assert.equal(got.ids, members.map((i) => frames[i].id));
  const scales: number[] = [];
  members.forEach((fi, k) => {
    const p = sampleAugmentParams(Rng.fromState(hashSeed(cfg.seed, 1, fi)), frames[fi].width, frames[fi].height, { ...l.config });
    scales.push(p.scale);
    const ref = augmentFrame(frames[fi], p, l.config);
    const n = 32 * 48;
    assert.ok(ref.label.every((v, i) => v === got.lab[k * n + i]), `label of sample ${k}`);
    assert.ok(ref.image.every((v, i) => v === got.img[k * n * 3 + i]), `image of sample ${k}`);
  });
  // the random scale is really in use: over many draws the scales span most of [0.5, 2]
  const all: number[] = [];
  for (let e = 0; e < 20; e++) for (let i = 0; i < frames.length; i++) all.push(sampleAugmentParams(Rng.fromState(hashSeed(cfg.seed, e, i)), 96, 48, l.config).scale);
  assert.ok(Math.min(...all) < 0.6 && Math.max(...all) > 1.9, `scales ${Math.min(...all)}..${Math.max(...all)}`);
  assert.ok(all.every((s) => s >= 0.5 && s <= 2));
  // a scale < 1 that leaves less than the crop pads the label with ignore (255)
  const small = new TrainLoader(new ArrayFrameSource(frames), { ...cfg, scaleRange: [0.5, 0.5] });
  const padded = await host(small, 0);
  assert.ok(padded.lab.some((v) => v === 255), 'scale 0.5 of 96x48 into a 32x48 crop pads with 255');
});

test('TrainLoader.batch: a batch size other than the configured one is an error naming both', async () => {
  const l = new TrainLoader(new ArrayFrameSource(frames), cfg);
  try {
    await l.batch(0, 3);
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /batch of 3 .* batchSize 2/);
  }
});

test('runExperiment with random scale: stop at 3 and resume to 6 equals 6 uninterrupted steps (cpu, bit-identical)', async () => {
  const data = await tinyDataset();
  const runs = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-sampler-resume-'));
  const base = {
    runsDir: runs, dataRoot: data, downsample: 1, crop: [48, 64] as [number, number], scale: [0.5, 2] as [number, number],
    model: 'student-r18-0.5', evaluate: false,
    train: { iters: 6, batchSize: 2, seed: 4, lr: 0.01, optimizer: { type: 'adam' as const, weightDecay: 0 }, checkpointEvery: 3, logEvery: 1 },
  };
  const lossesA: number[] = [];
  const a = await runExperiment({ ...base, name: 'whole' }, { onStep: (r) => lossesA.push(r.loss) });
  const wa = a.student.model.getWeights().map((w) => w.dataSync().slice());
  disposeResult(a);
  const b1 = await runExperiment({ ...base, name: 'cut', stopAt: 3 });
  disposeResult(b1);
  const lossesB: number[] = [];
  const b2 = await runExperiment({ ...base, name: 'cut' }, { onStep: (r) => lossesB.push(r.loss) });
  assert.is(b2.resumedAt, 3);
  assert.equal(lossesB, lossesA.slice(3));
  const wb = b2.student.model.getWeights().map((w) => w.dataSync());
  wa.forEach((w, i) => assert.ok(w.every((v, j) => Object.is(v, wb[i][j])), `weight ${i}`));
  disposeResult(b2);
  fs.rmSync(runs, { recursive: true, force: true });
});

test.run();
