/** Bad input gets a clear error naming the problem (shapes, rank, temperature, labels, options, names). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import {
  attentionTransfer, channelWiseDivergence, checkIfvdLabels, getLoss, ifvd, LOSS_NAMES, mse, normalizedDivergence, pairwiseAffinity,
  pixelWiseKD,
} from '../../lib/distill';

function throwsWith(fn: () => unknown, pattern: RegExp, what: string): void {
  try {
    fn();
  } catch (e) {
    assert.match((e as Error).message, pattern, what);
    return;
  }
  assert.unreachable(`${what}: should have thrown ${pattern}`);
}

test.before(async () => {
  await initBackend({ quiet: true });
});

test('channel mismatch names both shapes and points at the aligner', () => {
  const s = tf.zeros([2, 8, 8, 16]) as tf.Tensor4D;
  const t = tf.zeros([2, 8, 8, 64]) as tf.Tensor4D;
  for (const name of LOSS_NAMES.filter((n) => getLoss(n).needsSameChannels)) {
    throwsWith(() => getLoss(name).fn(s, t), /\[2,8,8,16\].*\[2,8,8,64\].*Conv1x1Aligner\(\{inChannels: 16, outChannels: 64\}\)/,
      `${name} channel mismatch`);
  }
  // losses that compare per-pixel maps accept different channel counts
  for (const name of ['at', 'local', 'pa'] as const) getLoss(name).fn(s, t).dispose();
  tf.dispose([s, t]);
});

test('spatial or batch mismatch names both shapes', () => {
  const s = tf.zeros([2, 8, 8, 4]) as tf.Tensor4D;
  for (const shape of [[2, 8, 9, 4], [1, 8, 8, 4]]) {
    const t = tf.zeros(shape as [number, number, number, number]) as tf.Tensor4D;
    for (const name of LOSS_NAMES) {
      throwsWith(() => getLoss(name).fn(s, t), new RegExp(`student \\[2,8,8,4\\] and teacher \\[${shape.join(',')}\\] must have the same batch and spatial size`), `${name} ${shape}`);
    }
    t.dispose();
  }
  s.dispose();
});

test('wrong rank and wrong dtype', () => {
  const r3 = tf.zeros([8, 8, 4]) as unknown as tf.Tensor4D;
  const r4 = tf.zeros([1, 8, 8, 4]) as tf.Tensor4D;
  throwsWith(() => channelWiseDivergence(r3, r4), /channelWiseDivergence: student must be rank 4 \[N,H,W,C\] \(NHWC\), got rank 3 with shape \[8,8,4\]/, 'rank');
  throwsWith(() => attentionTransfer(r4, r3), /attentionTransfer: teacher must be rank 4/, 'teacher rank');
  const i32 = tf.zeros([1, 8, 8, 4], 'int32') as tf.Tensor4D;
  throwsWith(() => mse(i32, r4), /mse: student must be float32, got int32/, 'dtype');
  throwsWith(() => mse(undefined as unknown as tf.Tensor4D, r4), /mse: student must be a tf.Tensor4D/, 'missing');
  tf.dispose([r3, r4, i32]);
});

test('non-positive or non-finite temperature', () => {
  const x = tf.zeros([1, 4, 4, 2]) as tf.Tensor4D;
  for (const temperature of [0, -1, NaN, Infinity]) {
    throwsWith(() => channelWiseDivergence(x, x, { temperature }), new RegExp(`channelWiseDivergence: option temperature must be a finite number > 0, got ${temperature}`), `T=${temperature}`);
    throwsWith(() => pixelWiseKD(x, x, { temperature }), /pixelWiseKD: option temperature must be a finite number > 0/, `PI T=${temperature}`);
  }
  throwsWith(() => channelWiseDivergence(x, x, { temperature: '4' as unknown as number }), /got 4/, 'string temperature');
  x.dispose();
});

test('unknown option names are rejected (typos do not silently use the default)', () => {
  const x = tf.zeros([1, 4, 4, 2]) as tf.Tensor4D;
  throwsWith(() => channelWiseDivergence(x, x, { temprature: 3 } as never), /unknown option 'temprature'; valid options: temperature/, 'typo');
  throwsWith(() => pairwiseAffinity(x, x, { scal: 0.5 } as never), /unknown option 'scal'/, 'pa typo');
  x.dispose();
});

async function rejectsWith(p: Promise<unknown>, re: RegExp, what: string): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.match((e as Error).message, re, what);
    return;
  }
  assert.unreachable(`${what}: expected a rejection`);
}

test('IFVD: missing labels, labels out of range (NaN loss on the device, named by checkIfvdLabels), wrong label shape', async () => {
  const s = tf.randomNormal([2, 4, 4, 3]) as tf.Tensor4D;
  const t = tf.randomNormal([2, 4, 4, 3]) as tf.Tensor4D;
  throwsWith(() => ifvd(s, s), /ifvd: option labels .* is required/, 'missing');
  const value = async (labels: tf.Tensor3D, numClasses: number, countIgnored = true, validateLabels = true) => {
    const v = ifvd(s, t, { labels, numClasses, countIgnored, validateLabels });
    const out = (await v.data())[0];
    v.dispose();
    return out;
  };
  const bad = tf.tensor3d([0, 1, 2, 7, 255, 0, 1, 2], [2, 2, 2], 'int32');
  assert.ok(Number.isNaN(await value(bad, 4)), 'range: NaN loss');
  assert.ok(Number.isNaN(await value(bad, 4, false)), 'range, countIgnored false: NaN loss');
  assert.ok(Number.isFinite(await value(bad, 4, true, false)), 'validateLabels false: no guard');
  await rejectsWith(checkIfvdLabels(bad, 4), /ifvd: label value 7 is outside \[0, 4\) and is not the ignoreIndex 255/, 'range');
  const neg = tf.tensor3d([0, 1, 2, -1, 255, 0, 1, 2], [2, 2, 2], 'int32');
  assert.ok(Number.isNaN(await value(neg, 4)), 'negative: NaN loss');
  await rejectsWith(checkIfvdLabels(neg, 4), /label value -1 is outside/, 'negative');
  const ok = tf.tensor3d([0, 1, 2, 3, 255, 0, 1, 2], [2, 2, 2], 'int32');
  const vOk = await value(ok, 4);
  assert.ok(Number.isFinite(vOk) && vOk > 0, `valid labels: finite positive loss, got ${vOk}`);
  await checkIfvdLabels(ok, 4);
  assert.ok(Number.isNaN(await value(ok, 3)), 'numClasses: NaN loss');
  await rejectsWith(checkIfvdLabels(ok, 3), /label value 3 is outside \[0, 3\)/, 'numClasses');
  t.dispose();
  const wrongBatch = tf.zeros([1, 2, 2], 'int32') as tf.Tensor3D;
  throwsWith(() => ifvd(s, s, { labels: wrongBatch, numClasses: 4 }), /labels \[1,2,2\] and student \[2,4,4,3\] have different batch sizes/, 'batch');
  const rank2 = tf.zeros([2, 2], 'int32') as unknown as tf.Tensor3D;
  throwsWith(() => ifvd(s, s, { labels: rank2, numClasses: 4 }), /labels must be \[N,H,W\] or \[N,H,W,1\], got \[2,2\]/, 'rank');
  tf.dispose([s, bad, neg, ok, wrongBatch, rank2]);
});

test('PA: a pooling window that is empty or larger than the map', () => {
  const x = tf.randomNormal([1, 3, 3, 2]) as tf.Tensor4D;
  throwsWith(() => pairwiseAffinity(x, x, { scale: 0.2 }), /pooling window 0×0 for a 3×3 map is empty/, 'empty');
  throwsWith(() => pairwiseAffinity(x, x, { window: [4, 2] }), /pooling window 4×2 is larger than the map/, 'large');
  throwsWith(() => pairwiseAffinity(x, x, { scale: -1 }), /option scale must be a finite number > 0/, 'scale');
  x.dispose();
});

test('Table 4 builder rejects combinations that make no sense', () => {
  const x = tf.randomNormal([1, 4, 4, 2]) as tf.Tensor4D;
  throwsWith(() => normalizedDivergence({ normalization: 'none', divergence: 'kl' })(x, x), /divergence 'kl' compares probability distributions and needs normalization 'spatial' or 'channel', got 'none'/, 'none+kl');
  throwsWith(() => normalizedDivergence({ normalization: 'none', divergence: 'mse', temperature: 4 })(x, x), /temperature applies only to the softmax normalizations/, 'none+T');
  throwsWith(() => normalizedDivergence({ normalization: 'pixel' as never, divergence: 'kl' })(x, x), /unknown normalization 'pixel'; valid: none, spatial, channel, channel-mean/, 'norm');
  throwsWith(() => normalizedDivergence({ normalization: 'channel', divergence: 'js' as never })(x, x), /unknown divergence 'js'; valid: mse, kl, bhattacharyya/, 'div');
  x.dispose();
});

test('unknown loss name lists the valid names', () => {
  throwsWith(() => getLoss('cdw'), /unknown distillation loss 'cdw'; valid names: cwd, pi, spatial-kl, at, local, pa, ifvd, mse, channel-mse/, 'name');
  throwsWith(() => getLoss('toString'), /unknown distillation loss 'toString'/, 'prototype key');
});

test.run();
