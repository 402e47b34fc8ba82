/** Connectors (1×1 aligner, channel MLP) and the loss registry / Table 4 builder. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import {
  ChannelMLP, channelBhattacharyya, channelMeanMSE, channelNormMSE, channelWiseDivergence, computeLoss,
  connectorFromJSON, Conv1x1Aligner, createConnector, distillationLosses, getLoss, LOSS_NAMES, mse,
  normalizedDivergence, pixelWiseKD,
} from '../../lib/distill';
import { relMaxError, seededNormal } from './helpers';

function scalar(x: tf.Scalar): number {
  const v = x.dataSync()[0];
  x.dispose();
  return v;
}

test.before(async () => {
  await initBackend({ quiet: true });
});

test('Conv1x1Aligner: shapes, config, unique variable names, default no bias (CIRKD)', () => {
  const a = new Conv1x1Aligner({ inChannels: 3, outChannels: 8 });
  const b = new Conv1x1Aligner({ inChannels: 3, outChannels: 8 });
  assert.equal(a.getConfig(), { type: 'conv1x1', inChannels: 3, outChannels: 8, useBias: false, seed: 0, name: 'aligner' });
  assert.is(a.variables.length, 1);
  assert.equal(a.variables[0].shape, [1, 1, 3, 8]);
  assert.is.not(a.variables[0].name, b.variables[0].name);
  // same seed → same initial weights; PyTorch default init bound 1/√Cin
  assert.equal(Array.from(a.kernel.dataSync()), Array.from(b.kernel.dataSync()));
  assert.ok(Math.max(...Array.from(a.kernel.dataSync()).map(Math.abs)) <= 1 / Math.sqrt(3));
  const x = seededNormal([2, 5, 6, 3], 1);
  const y = a.apply(x);
  assert.equal(y.shape, [2, 5, 6, 8]);
  assert.throws(() => a.apply(seededNormal([2, 5, 6, 4], 2)), /Conv1x1Aligner.apply: expected 3 input channels \(config.inChannels\), got \[2,5,6,4\]/);
  tf.dispose([x, y]);
  a.dispose();
  b.dispose();
});

test('connectors serialise: toJSON → connectorFromJSON reproduces the outputs; createConnector from getConfig', () => {
  for (const c of [
    new Conv1x1Aligner({ inChannels: 3, outChannels: 5, useBias: true, seed: 7 }),
    new ChannelMLP({ inChannels: 3, outChannels: 5, hiddenChannels: 6, seed: 3 }),
  ]) {
    // perturb so the restored copy cannot pass by re-initialising with the same seed
    c.variables.forEach((v) => v.assign(tf.add(v, 0.25)));
    const state = JSON.parse(JSON.stringify(c.toJSON()));
    const restored = connectorFromJSON(state);
    const x = seededNormal([1, 4, 4, 3], 5);
    const y1 = c.apply(x);
    const y2 = restored.apply(x);
    assert.ok(relMaxError(y2.dataSync(), y1.dataSync()) < 1e-7, `${state.config.type} restored outputs`);
    const fresh = createConnector(c.getConfig());
    assert.equal(fresh.getConfig(), c.getConfig());
    assert.equal(fresh.variables.map((v) => v.shape), c.variables.map((v) => v.shape));
    tf.dispose([x, y1, y2]);
    [c, restored, fresh].forEach((k) => k.dispose());
  }
  assert.throws(() => createConnector({ type: 'conv3x3' as never, inChannels: 1, outChannels: 1 }), /unknown connector type 'conv3x3'; valid: conv1x1, channel-mlp/);
  assert.throws(() => new Conv1x1Aligner({ inChannels: 0, outChannels: 4 }), /config.inChannels must be an integer ≥ 1, got 0/);
});

test('ChannelMLP computes W2·ReLU(W1·x + b1) + b2 per pixel (checked against tf.conv2d)', () => {
  const m = new ChannelMLP({ inChannels: 3, outChannels: 4, hiddenChannels: 5 });
  assert.equal(m.variables.map((v) => v.shape), [[1, 1, 3, 5], [5], [1, 1, 5, 4], [4]]);
  const x = seededNormal([2, 3, 4, 3], 9);
  const [w1, b1, w2, b2] = m.variables;
  const expected = tf.tidy(() => tf.add(tf.conv2d(tf.relu(tf.add(tf.conv2d(x, w1 as tf.Tensor4D, 1, 'valid'), b1)) as tf.Tensor4D, w2 as tf.Tensor4D, 1, 'valid'), b2));
  const y = m.apply(x);
  assert.ok(relMaxError(y.dataSync(), expected.dataSync()) < 1e-6);
  tf.dispose([x, y, expected]);
  m.dispose();
});

test('training the aligner (student side) with CWD lowers the loss; the teacher is untouched', () => {
  const s = seededNormal([2, 6, 7, 3], 11);
  const teacherW = tf.tidy(() => tf.mul(seededNormal([1, 1, 3, 6], 12), 1.0));
  const t = tf.tidy(() => tf.mul(tf.conv2d(s, teacherW as unknown as tf.Tensor4D, 1, 'valid'), 3)) as tf.Tensor4D;
  const aligner = new Conv1x1Aligner({ inChannels: 3, outChannels: 6 });
  const opt = tf.train.adam(0.05);
  const before = scalar(channelWiseDivergence(aligner.apply(s), t, { temperature: 1 }));
  const tBefore = Array.from(t.dataSync());
  for (let i = 0; i < 60; i++) {
    const cost = opt.minimize(() => channelWiseDivergence(aligner.apply(s), t, { temperature: 1 }), true, aligner.variables);
    cost?.dispose();
  }
  const after = scalar(channelWiseDivergence(aligner.apply(s), t, { temperature: 1 }));
  assert.ok(after < 0.2 * before, `CWD ${before} → ${after} after 60 Adam steps`);
  assert.equal(Array.from(t.dataSync()), tBefore);
  opt.dispose();
  tf.dispose([s, teacherW, t]);
  aligner.dispose();
});

test('training ChannelMLP with mse lowers the loss; gradients reach all four weights', () => {
  const s = seededNormal([2, 5, 5, 3], 21);
  const t = tf.tidy(() => tf.relu(tf.mul(seededNormal([2, 5, 5, 4], 22), 1))) as tf.Tensor4D;
  const m = new ChannelMLP({ inChannels: 3, outChannels: 4 });
  const { value, grads } = tf.variableGrads(() => mse(m.apply(s), t), m.variables);
  for (const v of m.variables) assert.ok(tf.max(tf.abs(grads[v.name])).dataSync()[0] > 0, `gradient of ${v.name}`);
  const before = value.dataSync()[0];
  tf.dispose([value, ...Object.values(grads)]);
  const opt = tf.train.adam(0.05);
  for (let i = 0; i < 60; i++) opt.minimize(() => mse(m.apply(s), t), false, m.variables);
  const after = scalar(mse(m.apply(s), t));
  assert.ok(after < 0.7 * before, `mse ${before} → ${after}`);
  opt.dispose();
  tf.dispose([s, t]);
  m.dispose();
});

test('connectors do not leak tensors (100 apply + gradient rounds)', () => {
  const a = new Conv1x1Aligner({ inChannels: 3, outChannels: 4, useBias: true });
  const m = new ChannelMLP({ inChannels: 3, outChannels: 4 });
  const s = seededNormal([1, 4, 4, 3], 31);
  const t = seededNormal([1, 4, 4, 4], 32);
  const before = tf.memory().numTensors;
  for (let i = 0; i < 100; i++) {
    for (const c of [a, m]) {
      const { value, grads } = tf.variableGrads(() => channelWiseDivergence(c.apply(s), t), c.variables);
      tf.dispose([value, ...Object.values(grads)]);
    }
  }
  assert.is(tf.memory().numTensors, before);
  tf.dispose([s, t]);
  a.dispose();
  m.dispose();
});

test('registry: every name resolves, defaultConfig is a fresh object, defaults reproduce the named function', () => {
  const s = seededNormal([2, 6, 7, 4], 41, 2);
  const t = seededNormal([2, 6, 7, 4], 42, 2);
  const labels = tf.tensor3d(Array.from({ length: 2 * 6 * 7 }, (_, i) => (i % 9 === 0 ? 255 : i % 4)), [2, 6, 7], 'int32');
  for (const name of LOSS_NAMES) {
    const spec = getLoss(name);
    assert.is(spec.name, name);
    const d1 = spec.defaultConfig() as Record<string, unknown>;
    const d2 = spec.defaultConfig() as Record<string, unknown>;
    assert.is.not(d1, d2);
    assert.equal(d1, d2);
    const opts = spec.needsLabels ? { ...d1, labels, numClasses: 4 } : d1;
    const v = scalar(computeLoss(name, s, t, opts as never));
    assert.ok(Number.isFinite(v) && v > 0, `${name}: ${v}`);
  }
  assert.is(scalar(getLoss('cwd').fn(s, t)), scalar(channelWiseDivergence(s, t, { temperature: 4 })));
  assert.is(getLoss('cwd').defaultConfig().temperature, 4);
  assert.is(getLoss('pi').defaultConfig().temperature, 1);
  assert.equal(getLoss('pa').defaultConfig(), { scale: 0.5, window: null, detachNorm: true });
  assert.is(distillationLosses['spatial-kl'].fn, pixelWiseKD);
  tf.dispose([s, t, labels]);
});

test('Table 4 builder: each paper row equals its named function', () => {
  const s = seededNormal([2, 6, 7, 4], 51, 2);
  const t = seededNormal([2, 6, 7, 4], 52, 2);
  const pairs: Array<[string, number, number]> = [
    ['Ours (channel, kl, T=4)', scalar(normalizedDivergence({ normalization: 'channel', divergence: 'kl', temperature: 4 })(s, t)), scalar(channelWiseDivergence(s, t, { temperature: 4 }))],
    ['PI (spatial, kl, T=2)', scalar(normalizedDivergence({ normalization: 'spatial', divergence: 'kl', temperature: 2 })(s, t)), scalar(pixelWiseKD(s, t, { temperature: 2 }))],
    ['L2 (channel, mse)', scalar(normalizedDivergence({ normalization: 'channel', divergence: 'mse' })(s, t)), scalar(channelNormMSE(s, t))],
    ['Bhat (channel, bhattacharyya)', scalar(normalizedDivergence({ normalization: 'channel', divergence: 'bhattacharyya' })(s, t)), scalar(channelBhattacharyya(s, t))],
    ['L2 w/o norm (none, mse)', scalar(normalizedDivergence({ normalization: 'none', divergence: 'mse' })(s, t)), scalar(mse(s, t, { reduction: 'pixel' }))],
    ['channel-mean (mse)', scalar(normalizedDivergence({ normalization: 'channel-mean', divergence: 'mse' })(s, t)), scalar(channelMeanMSE(s, t))],
  ];
  for (const [row, a, b] of pairs) assert.ok(Math.abs(a - b) <= 1e-6 * Math.abs(b), `${row}: ${a} vs ${b}`);
  // the builder's per-call override
  const f = normalizedDivergence({ normalization: 'channel', divergence: 'kl' });
  assert.is(scalar(f(s, t, { temperature: 3 })), scalar(channelWiseDivergence(s, t, { temperature: 3 })));
  // named mse default = mean over all elements = 'pixel' reduction / C
  assert.ok(Math.abs(scalar(mse(s, t)) * 4 - scalar(mse(s, t, { reduction: 'pixel' }))) < 1e-5 * scalar(mse(s, t, { reduction: 'pixel' })));
  tf.dispose([s, t]);
});

test.run();
