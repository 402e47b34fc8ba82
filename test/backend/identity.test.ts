/**
 * wasm `Identity` (lib/backend/wasm-kernels.ts) shares the input's memory by reference count instead of
 * copying it: a clone allocates no new backend data, survives the disposal of its source with the same
 * values, frees the memory when the last reference goes, and differentiates as the identity.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { backendsReady } from './helpers';

let previous = '';
test.before(async () => {
  previous = tf.getBackend();
  await backendsReady();
  await tf.setBackend('wasm');
});
test.after(async () => {
  if (previous) await tf.setBackend(previous);
});

test('wasm Identity: clone shares memory, outlives its source, frees on the last dispose', () => {
  const be = tf.engine().backend;
  const start = be.numDataIds();
  const x = tf.tensor4d(Array.from({ length: 24 }, (_, i) => i - 7.5), [1, 2, 3, 4]);
  assert.is(be.numDataIds(), start + 1);
  const y = x.clone();
  assert.is(be.numDataIds(), start + 1, 'a clone adds no backend data');
  x.dispose();
  assert.equal(Array.from(y.dataSync()), Array.from({ length: 24 }, (_, i) => i - 7.5), 'values intact after the source is disposed');
  assert.equal(y.shape, [1, 2, 3, 4]);
  const z = tf.add(y, 1);  // a kernel reading the shared memory
  assert.is(z.dataSync()[0], -6.5);
  tf.dispose([y, z]);
  assert.is(be.numDataIds(), start, 'memory freed with the last reference');
});

test('wasm Identity: gradient through clone is the identity, and tf.memory() stays flat', () => {
  const x = tf.tensor1d([1, -2, 3]);
  const before = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) {
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(v.clone(), tf.tensor1d([2, 3, 4]))))(x);
    assert.equal(Array.from(g.dataSync()), [2, 3, 4]);
    g.dispose();
  }
  assert.is(tf.memory().numTensors, before);
  x.dispose();
});

test.run();
