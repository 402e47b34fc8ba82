/**
 * Resume with channel dropout: the dropout masks of call k come from `seed * 1000003 + k`, so the
 * call count is part of a checkpoint. A run stopped after a checkpoint and resumed in a fresh model
 * ends with the same weights as an uninterrupted run (it did not before the count was saved: the
 * resumed run restarted the mask sequence, found by the live Slurm requeue test).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { patchCpuBackend } from '../../lib/backend/cpu';
import { ChannelDropout } from '../../lib/models/layers';
import type { SegmentationNet } from '../../lib/models/types';
import { Trainer } from '../../lib/train/trainer';
import { toyData } from './helpers';

function dropoutNet(): SegmentationNet {
  const init = (s: number) => tf.initializers.glorotUniform({ seed: s });
  const input = tf.input({ shape: [null, null, 3] });
  const feature = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: init(1) }).apply(input) as tf.SymbolicTensor;
  const dropped = new ChannelDropout({ rate: 0.5, seed: 7, name: 'cls_dropout' }).apply(feature) as tf.SymbolicTensor;
  const logits = tf.layers.conv2d({ filters: 4, kernelSize: 1, kernelInitializer: init(2) }).apply(dropped) as tf.SymbolicTensor;
  return { model: tf.model({ inputs: input, outputs: [feature, logits] }), config: { arch: 'tiny-dropout', numClasses: 4 }, featureChannels: 8, outputStride: 2 } as SegmentationNet;
}

let prevBackend = '';
test.before(async () => { prevBackend = tf.getBackend(); await tf.setBackend('cpu'); patchCpuBackend(); });
test.after(async () => { if (prevBackend) await tf.setBackend(prevBackend); });

test('a run resumed from a checkpoint draws the same dropout masks and ends bit-identical', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-resume-dropout-'));
  const config = { iters: 6, batchSize: 2, lr: 0.05, checkpointEvery: 3 };
  const weights = (n: SegmentationNet) => n.model.getWeights().map((w) => Array.from(w.dataSync()));
  const m0 = tf.memory().numTensors;
  const refNet = dropoutNet();
  const ref = new Trainer({ student: refNet, data: toyData(1), runDir: path.join(tmp, 'ref'), config });
  await ref.train();
  const refWeights = weights(refNet);
  ref.dispose();
  refNet.model.dispose();
  const leftByOneRun = tf.memory().numTensors - m0;
  const a = dropoutNet();
  const first = new Trainer({ student: a, data: toyData(1), runDir: path.join(tmp, 'cut'), config });
  await first.train(3);
  first.dispose();
  a.model.dispose();
  const m1 = tf.memory().numTensors;
  const b = dropoutNet();
  const second = new Trainer({ student: b, data: toyData(1), runDir: path.join(tmp, 'cut'), config });
  assert.is(await second.resume(), 3);
  const layer = b.model.layers.find((l) => l instanceof ChannelDropout) as ChannelDropout;
  assert.is(layer.calls, 3, 'the dropout call count comes back from the checkpoint');
  await second.train();
  assert.equal(weights(b), refWeights);
  second.dispose();
  b.model.dispose();
  assert.ok(tf.memory().numTensors - m1 <= leftByOneRun, `a resumed run leaves no more tensors than a plain one (${tf.memory().numTensors - m1} vs ${leftByOneRun})`);
  // and the masks do matter: a model that restarts its mask sequence at the resume ends elsewhere
  const c = dropoutNet();
  const third = new Trainer({ student: c, data: toyData(1), runDir: path.join(tmp, 'cut'), config });
  await third.loadCheckpoint(path.join(tmp, 'cut', 'checkpoints', 'step-000003'));
  (c.model.layers.find((l) => l instanceof ChannelDropout) as ChannelDropout).calls = 0;
  while (third.step < 6) await third.trainStep();
  assert.not.equal(weights(c), refWeights);
  third.dispose();
  c.model.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test.run();
