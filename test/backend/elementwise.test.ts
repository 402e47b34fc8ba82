/**
 * The native element-wise / reduction kernels on wasm (lib/backend/native.ts) against the cpu backend,
 * for every broadcast pattern they take and some they must leave to wasm (exact same results expected
 * up to float rounding; reductions accumulate in double natively).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { broadcastPattern } from '../../lib/backend/native';
import { backendsReady, rand, relMaxDiff, runOn } from './helpers';

const pairs: [number[], number[]][] = [
  [[2, 16, 24, 8], [2, 16, 24, 8]],     // same shape
  [[2, 16, 24, 8], [8]],                // per channel
  [[1, 1, 1, 8], [2, 16, 24, 8]],       // per channel, on the left
  [[2, 16, 24, 8], [1]],                // scalar
  [[], [2, 16, 24, 8]],                 // scalar on the left
  [[2, 16, 24, 8], [2, 16, 24, 1]],     // per row (softmax)
  [[2, 16, 24, 1], [2, 16, 24, 8]],
  [[2, 16, 24, 8], [1, 16, 24, 8]],     // not handled natively: falls back
  [[16, 24, 8], [2, 16, 24, 8]],        // rank broadcast (same trailing shape): falls back
  [[3, 5], [3, 5]],                     // small: wasm
];

test('broadcastPattern classifies the shapes', () => {
  assert.equal(broadcastPattern([2, 3, 4], [2, 3, 4]), [6, 4, 0]);
  assert.equal(broadcastPattern([2, 3, 4], [4]), [6, 4, 1]);
  assert.equal(broadcastPattern([1, 1, 4], [2, 3, 4]), [6, 4, 2]);
  assert.equal(broadcastPattern([2, 3, 4], []), [6, 4, 3]);
  assert.equal(broadcastPattern([2, 3, 4], [2, 3, 1]), [6, 4, 5]);
  assert.equal(broadcastPattern([2, 3, 4], [1, 3, 4]), null);
});

for (const op of ['add', 'sub', 'mul', 'div'] as const) {
  test(`${op}: wasm (native where it applies) == cpu for every broadcast pattern`, async () => {
    await backendsReady();
    for (const [i, [as, bs]] of pairs.entries()) {
      const fn = () => {
        const a = rand(as, 80 + i);
        const b = op === 'div' ? rand(bs, 90 + i).abs().add(0.5) : rand(bs, 90 + i);
        return tf[op](a, b);
      };
      const [c] = await runOn('cpu', fn);
      const [w] = await runOn('wasm', fn);
      assert.equal(w.shape, c.shape, `${as} ${op} ${bs}`);
      assert.ok(relMaxDiff(w.values, c.values) < 1e-6, `${as} ${op} ${bs}: ${relMaxDiff(w.values, c.values)}`);
    }
  });
}

test('exp, relu, sum/mean/max over leading axes and the last axis: wasm == cpu', async () => {
  await backendsReady();
  const fn = () => {
    const x = rand([2, 32, 24, 8], 101).mul(3);
    return [
      tf.exp(x), tf.relu(x),
      tf.sum(x, [0, 1, 2]), tf.mean(x, [0, 1, 2], true), tf.sum(x, -1), tf.mean(x, 3, true), tf.max(x, -1), tf.max(x, [0, 1, 2]),
      tf.sum(x), tf.sum(x.reshape([-1])), tf.mean(x, [1, 2]), tf.sum(tf.cast(x, 'int32'), -1),
      tf.logSoftmax(x), tf.softmax(x.reshape([-1, 8])),
    ];
  };
  const c = await runOn('cpu', fn);
  const w = await runOn('wasm', fn);
  c.forEach((ci, i) => {
    assert.equal(w[i].shape, ci.shape, `output ${i}`);
    assert.ok(relMaxDiff(w[i].values, ci.values) < 2e-6, `output ${i}: ${relMaxDiff(w[i].values, ci.values)}`);
  });
});

test('batched matMul (native for float32, all transposes, batch broadcast) == cpu', async () => {
  await backendsReady();
  const cases: [number[], number[], boolean, boolean][] = [
    [[6, 32], [32, 4099], false, false], [[37, 300], [300, 70], false, false], [[300, 37], [300, 70], true, false],
    [[37, 300], [70, 300], false, true], [[300, 37], [70, 300], true, true], [[3, 40, 50], [3, 50, 60], false, false],
    [[1, 40, 50], [4, 50, 60], false, false], [[2, 3, 40, 50], [60, 50], false, true], [[4, 5], [5, 6], false, false],
    [[3, 32], [32, 5000], false, false], [[64, 6], [64, 3000], true, false], [[2, 6, 64], [64, 3000], false, false],
  ];
  for (const [i, [as, bs, ta, tb]] of cases.entries()) {
    const fn = () => tf.matMul(rand(as, 120 + i), rand(bs, 130 + i), ta, tb);
    const [c] = await runOn('cpu', fn);
    const [w] = await runOn('wasm', fn);
    assert.equal(w.shape, c.shape, `case ${i}`);
    assert.ok(relMaxDiff(w.values, c.values) < 1e-5, `case ${i}: ${relMaxDiff(w.values, c.values)}`);
  }
});

test('slice and split (native for float32/int32, rank <= 4) == cpu', async () => {
  await backendsReady();
  const fn = () => {
    const x = rand([2, 17, 23, 40], 140);
    const xi = tf.cast(x.mul(100), 'int32');
    return [
      tf.slice(x, [0, 3, 5, 7], [2, 10, 11, 20]), tf.slice(x, [1, 0, 0, 0], [1, 17, 23, 40]), tf.slice(x, [0, 2, 0, 0], [2, 9, 23, 40]),
      tf.slice(x, [0, 0, 0, 39], [2, 17, 23, 1]), tf.slice(xi, [0, 1, 2, 3], [2, 15, 20, 30]), tf.slice(x.reshape([-1]), [5], [20000]),
      tf.slice(x.reshape([34, 920]), [3, 100], [30, 700]),
      ...tf.split(x, [8, 12, 20], 3), ...tf.split(x, 2, 0), ...tf.split(x, [10, 7], 1), ...tf.split(xi, 4, 3),
    ];
  };
  const c = await runOn('cpu', fn);
  const w = await runOn('wasm', fn);
  c.forEach((ci, i) => {
    assert.equal(w[i].shape, ci.shape, `output ${i}`);
    assert.ok(relMaxDiff(w[i].values, ci.values) === 0, `output ${i}`);
  });
});

test('oneHot (native for float32 output) == cpu, out-of-range indices give all off', async () => {
  await backendsReady();
  const fn = () => {
    const idx = tf.tensor1d(Int32Array.from({ length: 5000 }, (_, i) => (i * 7) % 23 - 2), 'int32');
    return [tf.oneHot(idx, 19, 2, -1, 'float32'), tf.oneHot(idx, 19), tf.oneHot(idx.reshape([50, 100]), 5, 1, 0, 'float32')];
  };
  const c = await runOn('cpu', fn);
  const w = await runOn('wasm', fn);
  c.forEach((ci, i) => {
    assert.equal(w[i].shape, ci.shape, `output ${i}`);
    assert.ok(relMaxDiff(w[i].values, ci.values) === 0, `output ${i}`);
  });
});

test('native exp: ~1 ulp over the float range, IEEE results outside it', async () => {
  await backendsReady();
  const n = 1 << 14;
  const xs = Float32Array.from({ length: n }, (_, i) => -87 + (175 * i) / n);
  const [w] = await runOn('wasm', () => tf.exp(tf.tensor1d(xs)));
  let worst = 0;
  xs.forEach((x, i) => { worst = Math.max(worst, Math.abs(w.values[i] - Math.exp(x)) / Math.exp(x)); });
  assert.ok(worst < 5e-7, `max relative error ${worst}`);
  const edge = new Float32Array(4096).fill(1);
  edge.set([100, -110, NaN, Infinity, -Infinity, 88.5, -88]);
  const [e] = await runOn('wasm', () => tf.exp(tf.tensor1d(edge)));
  assert.is(e.values[0], Infinity);
  assert.is(e.values[1], 0);
  assert.ok(Number.isNaN(e.values[2]));
  assert.is(e.values[3], Infinity);
  assert.is(e.values[4], 0);
  assert.ok(Math.abs(e.values[5] - Math.exp(88.5)) / Math.exp(88.5) < 1e-6);
  assert.ok(Math.abs(e.values[6] - Math.exp(-88)) / Math.exp(-88) < 1e-5);
});

test.run();
