import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { crossEntropy2d, downsampleLabels } from '../../lib/train/loss';
import { polyLR } from '../../lib/train/schedule';
import { Optimizer } from '../../lib/train/optim';
import { Rng } from '../../lib/rng';
import { resolveTrainConfig, configHash } from '../../lib/train/config';
import { float32ToFloat16Bits } from '../../lib/train/checkpoint';
import { patchCpuBackend } from '../../lib/backend/cpu';

const close = (a: number, b: number, tol = 1e-5, what = '') => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

let prevBackend = '';
test.before(async () => { prevBackend = tf.getBackend(); await tf.setBackend('cpu'); patchCpuBackend(); });
test.after(async () => { if (prevBackend) await tf.setBackend(prevBackend); });

test('crossEntropy2d: uniform logits give ln K over labelled pixels; 255 ignored', () => {
  const logits = tf.zeros([1, 2, 2, 19]) as tf.Tensor4D;
  const labels = tf.tensor3d([[[0, 1], [255, 3]]], [1, 2, 2], 'int32');
  close(crossEntropy2d(logits, labels).dataSync()[0], Math.log(19), 1e-6, 'ln 19');
});

test('crossEntropy2d: hand-computed value, mean over labelled pixels only', () => {
  // pixel 0: logits [2, 0, -1], label 0; pixel 1: [0, 1, 0], label 2; pixel 2 ignored
  const logits = tf.tensor4d([2, 0, -1, 0, 1, 0, 5, 5, 5], [1, 1, 3, 3]);
  const labels = tf.tensor3d([0, 2, 255], [1, 1, 3], 'int32');
  const lse = (xs: number[]) => Math.log(xs.reduce((a, x) => a + Math.exp(x), 0));
  const expected = ((lse([2, 0, -1]) - 2) + (lse([0, 1, 0]) - 0)) / 2;
  close(crossEntropy2d(logits, labels).dataSync()[0], expected, 1e-6, 'ce');
  // gradient: (softmax − onehot)/count on labelled pixels, 0 on the ignored one
  const g = tf.grad((x: tf.Tensor) => crossEntropy2d(x as tf.Tensor4D, labels))(logits).dataSync();
  const sm = (xs: number[]) => xs.map((x) => Math.exp(x - lse(xs)));
  const p0 = sm([2, 0, -1]);
  close(g[0], (p0[0] - 1) / 2, 1e-6, 'grad0');
  close(g[1], p0[1] / 2, 1e-6, 'grad1');
  for (let i = 6; i < 9; i++) close(g[i], 0, 1e-9, 'ignored grad');
});

test('crossEntropy2d: all-ignored batch gives 0, not NaN; upsample vs downsample modes', () => {
  const logits = tf.randomNormal([2, 4, 4, 5], 0, 1, 'float32', 3) as tf.Tensor4D;
  close(crossEntropy2d(logits, tf.fill([2, 8, 8], 255, 'int32') as tf.Tensor3D).dataSync()[0], 0, 0, 'all ignored');
  // labels constant per 2×2 block: downsample picks the block's value
  const lab = tf.tensor3d(Array.from({ length: 2 * 8 * 8 }, (_, i) => (Math.floor((i % 8) / 2) + Math.floor(Math.floor(i / 8) % 8 / 2)) % 5), [2, 8, 8], 'int32');
  const d = downsampleLabels(lab, 4, 4).arraySync();
  assert.equal(d[0][1][2], (2 + 1) % 5);
  const up = crossEntropy2d(logits, lab, { mode: 'upsample' }).dataSync()[0];
  const down = crossEntropy2d(logits, lab, { mode: 'downsample' }).dataSync()[0];
  assert.ok(Number.isFinite(up) && Number.isFinite(down) && up !== down);
  assert.throws(() => crossEntropy2d(logits, tf.zeros([3, 8, 8], 'int32') as tf.Tensor3D), /batch sizes differ/);
});

test('polyLR: lr·(1−iter/max)^0.9, warm-up ramps up', () => {
  close(polyLR({ baseLR: 0.01, maxIters: 100 }, 0), 0.01, 1e-12, 'start');
  close(polyLR({ baseLR: 0.01, maxIters: 100 }, 50), 0.01 * Math.pow(0.5, 0.9), 1e-12, 'half');
  close(polyLR({ baseLR: 0.01, maxIters: 100 }, 100), 0, 1e-12, 'end');
  const w0 = polyLR({ baseLR: 0.01, maxIters: 100, warmupIters: 10, warmupRatio: 0.1 }, 0);
  close(w0, 0.001, 1e-9, 'warm-up start');
});

test('Optimizer: SGD momentum + weight decay (PyTorch semantics), two steps by hand', () => {
  const w = tf.variable(tf.tensor1d([1, -2]));
  const opt = new Optimizer([w], { type: 'sgd', momentum: 0.9, weightDecay: 0.1 });
  const g = tf.tensor1d([0.5, 0.5]);
  opt.apply([g], 0.1);
  // g' = g + 0.1 w = [0.6, 0.3]; v = g'; w = w − 0.1 v
  let e = [1 - 0.06, -2 - 0.03];
  assert.ok(Math.abs(w.dataSync()[0] - e[0]) < 1e-6 && Math.abs(w.dataSync()[1] - e[1]) < 1e-6);
  const v1 = [0.6, 0.3];
  opt.apply([g], 0.05);
  const g2 = [0.5 + 0.1 * e[0], 0.5 + 0.1 * e[1]];
  const v2 = [0.9 * v1[0] + g2[0], 0.9 * v1[1] + g2[1]];
  e = [e[0] - 0.05 * v2[0], e[1] - 0.05 * v2[1]];
  close(w.dataSync()[0], e[0], 1e-6, 'w0');
  close(w.dataSync()[1], e[1], 1e-6, 'w1');
});

test('Optimizer: Adam step 1 moves each weight by lr·sign(g); state round-trips', () => {
  const w = tf.variable(tf.tensor1d([1, -2]));
  const opt = new Optimizer([w], { type: 'adam', weightDecay: 0 });
  opt.apply([tf.tensor1d([3, -0.01])], 0.1);
  close(w.dataSync()[0], 0.9, 1e-5, 'w0');
  close(w.dataSync()[1], -1.9, 1e-4, 'w1');
  const saved = opt.stateTensors().map((t) => t.clone());
  const opt2 = new Optimizer([w], { type: 'adam', weightDecay: 0 });
  opt2.setState(saved, opt.iterations);
  assert.equal(opt2.stateTensors()[0].dataSync(), opt.stateTensors()[0].dataSync());
  assert.throws(() => opt2.setState(saved.slice(1), 1), /slot tensors/);
});

test('Rng: deterministic, state round-trips, different seeds differ', () => {
  const a = new Rng(7);
  const xs = [a.next(), a.next()];
  const s = a.state;
  const b = Rng.fromState(s);
  assert.equal(b.next(), a.next());
  assert.equal(new Rng(7).next(), xs[0]);
  assert.not.equal(new Rng(8).next(), xs[0]);
});

test('config: defaults, validation errors name the field, hash is order-independent', () => {
  const c = resolveTrainConfig({ iters: 5 });
  assert.equal(c.optimizer.momentum, 0.9);
  assert.throws(() => resolveTrainConfig({ iters: 0 }), /config.iters must be an integer >= 1/);
  assert.throws(() => resolveTrainConfig({ lr: -1 }), /config.lr must be a number > 0/);
  assert.throws(() => resolveTrainConfig({ itres: 5 }), /unknown option 'itres'/);
  assert.throws(() => resolveTrainConfig({ optimizer: { type: 'rmsprop' } }), /optimizer.type/);
  assert.throws(() => resolveTrainConfig({ terms: [{ method: 'cwd', on: 'middle', weight: 1 }] }), /terms\[0\].on/);
  assert.throws(() => resolveTrainConfig({ terms: [{ method: 'cwd', on: 'feature', weight: 1, temperature: 0 }] }), /terms\[0\]: option temperature must be a finite number > 0, got 0/);
  for (const t of [Infinity, -1, NaN]) assert.throws(() => resolveTrainConfig({ terms: [{ method: 'cwd', on: 'feature', weight: 1, temperature: t }] }), /option temperature must be a finite number > 0/);
  assert.equal(configHash({ a: 1, b: [1, 2] }), configHash({ b: [1, 2], a: 1 }));
  assert.not.equal(configHash({ a: 1 }), configHash({ a: 2 }));
});

test('float16 encoding matches tf.io decoding', () => {
  const vals = [0, 1, -1, 0.1, 3.14159, 65504, 1e-5, -2.5e-3];
  const bits = new Uint16Array(vals.map(float32ToFloat16Bits));
  const dec = tf.io.decodeWeights(bits.buffer, [{ name: 'x', shape: [vals.length], dtype: 'float32', quantization: { dtype: 'float16' } }]);
  const out = dec.x.dataSync();
  vals.forEach((v, i) => close(out[i], v, 1e-3, `f16 ${v}`));
});

test.run();
