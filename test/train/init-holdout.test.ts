/**
 * The research protocol's building blocks: `method@weight` names (one weight for every term of a
 * preset), `holdout` (train on all but the last N train frames and evaluate on those), and `init`
 * (start the student from a model package's weights).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import { buildModel, modelConfig } from '../../lib/models';
import { evaluate } from '../../lib/train/evaluate';
import { cachedFrames, runExperiment } from '../../lib/train/experiment';
import { frameBatches } from '../../lib/train/frames';
import { saveModelPackage } from '../../lib/train/model-package';
import { methodPreset, METHOD_PRESETS } from '../../lib/train/presets';
import { tinyDataset } from '../cli/fixtures';

async function rejects(p: Promise<unknown>, re: RegExp): Promise<void> {
  let msg = '';
  try { await p; } catch (e) { msg = (e as Error).message; }
  assert.match(msg, re);
}

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'cd-init-'));

test.before(async () => { await tf.setBackend(await initBackend({ quiet: true })); });

test('methodPreset: @WEIGHT sets the weight of every term and keeps the rest; bad names are refused', () => {
  assert.equal(methodPreset('at@100'), [{ ...METHOD_PRESETS.at.terms[0], weight: 100 }]);
  const both = methodPreset('cwd-both@0.5');
  assert.is(both.length, 2);
  assert.equal(both.map((t) => [t.on, t.weight, t.temperature]), [['feature', 0.5, 4], ['logits', 0.5, 4]]);
  assert.equal(methodPreset('cwd-feature'), METHOD_PRESETS['cwd-feature'].terms, 'no @: the preset as is');
  assert.is(METHOD_PRESETS['cwd-feature'].terms[0].weight, 3, 'the preset itself is not modified');
  assert.equal(methodPreset('channel-mlp')[0], { method: 'mse', on: 'feature', weight: 1, aligner: 'channel-mlp' });
  assert.throws(() => methodPreset('at@x'), /weight after @ must be a finite number >= 0, got 'x'/);
  assert.throws(() => methodPreset('at@-1'), /got '-1'/);
  assert.throws(() => methodPreset('baseline@3'), /preset 'baseline' has no distillation term/);
  assert.throws(() => methodPreset('nope@1'), /unknown method preset 'nope'/);
});

test('holdout: trains on all but the last N train frames and evaluates on exactly those', async () => {
  const data = await tinyDataset(); // 4 train frames
  const runs = tmp();
  const r = await runExperiment({
    name: 'h', runsDir: runs, dataRoot: data, downsample: 1, model: 'student-r18-0.5', holdout: 1, scale: [1, 1],
    train: { iters: 2, batchSize: 1, lr: 0.001, optimizer: { type: 'adam', weightDecay: 0 } },
  });
  const cfg = JSON.parse(fs.readFileSync(path.join(runs, 'h', 'config.json'), 'utf8'));
  assert.is(cfg.data.trainFrames, 3);
  assert.is(cfg.data.holdout, 1);
  const ev = JSON.parse(fs.readFileSync(path.join(runs, 'h', 'eval.json'), 'utf8'));
  assert.match(ev.split, /^train-holdout/);
  assert.is(ev.images, 1);
  const last = (await cachedFrames(data, 'train', 1)).slice(3);
  const direct = await evaluate(r.student, frameBatches(last, 1));
  assert.ok(Math.abs(direct.mIoU - ev.mIoU) < 1e-9, `${direct.mIoU} vs ${ev.mIoU}`);
  r.student.model.dispose();
  await rejects(runExperiment({
    name: 'h2', runsDir: runs, dataRoot: data, downsample: 1, model: 'student-r18-0.5', holdout: 4, train: { iters: 1 },
  }), /holdout \(--holdout\) must be an integer from 1 to 3 .*has 4 frames/);
  fs.rmSync(runs, { recursive: true, force: true });
});

test('init: the student starts from the package weights; a package of another model is refused', async () => {
  const data = await tinyDataset();
  const dir = tmp();
  const src = buildModel({ ...modelConfig('student-r18-0.5'), seed: 41 });
  const pkg = path.join(dir, 'pkg');
  await saveModelPackage(src, pkg, { quantization: 'none', manifest: { model: 'student-r18-0.5', configHash: 'abc', stepsTrained: 7 } });
  const want = src.model.getWeights().map((w) => w.dataSync().slice());
  const kernels = src.model.getWeights().map((w, i) => (w.shape.length === 4 ? i : -1)).filter((i) => i >= 0);
  // lr 1e-12: Adam moves each weight by at most ~1e-12 in one step, so the trained student still equals its init
  const r = await runExperiment({
    name: 'i', runsDir: dir, dataRoot: data, downsample: 1, model: 'student-r18-0.5', init: pkg, evaluate: false,
    train: { iters: 1, batchSize: 1, lr: 1e-12, seed: 5, optimizer: { type: 'adam', weightDecay: 0 } },
  });
  const got = r.student.model.getWeights();
  for (const i of kernels) {
    const g = got[i].dataSync();
    let maxDiff = 0;
    for (let k = 0; k < g.length; k++) maxDiff = Math.max(maxDiff, Math.abs(g[k] - want[i][k]));
    assert.ok(maxDiff < 1e-6, `kernel ${i}: max |diff| ${maxDiff}`);
  }
  const fresh = buildModel({ ...modelConfig('student-r18-0.5'), seed: 5 });
  const d = tf.tidy(() => tf.abs(tf.sub(fresh.model.getWeights()[kernels[0]], got[kernels[0]])).max().dataSync()[0]);
  assert.ok(d > 1e-3, 'and it differs from the seed-5 random init');
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'i', 'config.json'), 'utf8'));
  assert.is(cfg.init.dir, pkg);
  assert.is(cfg.init.stepsTrained, 7);
  await rejects(runExperiment({
    name: 'j', runsDir: dir, dataRoot: data, downsample: 1, model: 'student-r18', init: pkg, train: { iters: 1 },
  }), /init \(--init\) .*pkg holds a 'student-r18-0.5' model, but the run's model preset is 'student-r18'/);
  for (const n of [src, r.student, fresh]) n.model.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

test.run();
