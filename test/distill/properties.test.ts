/**
 * Properties of the losses (default backend, wasm here): finite-difference gradients, CWD shift
 * invariance, KL asymmetry, zero at student == teacher, the T → ∞ limit, ±1e4 stability, no tensor
 * leaks, no teacher gradient.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import { channelWiseDivergence, distillationLosses, LOSS_NAMES, LossName, pairwiseAffinity } from '../../lib/distill';
import { seededNormal } from './helpers';

type AnyLoss = (s: tf.Tensor4D, t: tf.Tensor4D, o?: any) => tf.Scalar;
const SHAPE = [2, 6, 7, 4];
let labels: tf.Tensor3D;

/** Run loss `name` with its defaults (IFVD gets labels with 4 classes and some ignore pixels). */
function run(name: LossName, s: tf.Tensor4D, t: tf.Tensor4D, extra: Record<string, unknown> = {}): tf.Scalar {
  const spec = distillationLosses[name];
  const opts: Record<string, unknown> = { ...(spec.defaultConfig() as object), ...extra };
  if (spec.needsLabels) Object.assign(opts, { labels, numClasses: 4 });
  return (spec.fn as AnyLoss)(s, t, opts);
}

function scalar(x: tf.Scalar): number {
  const v = x.dataSync()[0];
  x.dispose();
  return v;
}

test.before(async () => {
  await initBackend({ quiet: true });
  const raw = Array.from({ length: 2 * 12 * 14 }, (_, i) => ((i * 7919) % 11 === 0 ? 255 : (i * 31 + (i >> 3)) % 4));
  labels = tf.tensor3d(raw, [2, 12, 14], 'int32');
});

test('finite differences: directional derivatives match the autodiff gradient for every loss', () => {
  // float32: central differences along random unit-variance directions, step eps relative to the input
  // scale (1e-2): truncation O(eps²) and round-off (~1e-7·|L|/eps) both stay below ~1e-3 of the slope.
  for (const name of LOSS_NAMES) {
    const s = seededNormal(SHAPE, 11, 1.5);
    const t = seededNormal(SHAPE, 12, 1.5, 0.3);
    const extra = name === 'pa' ? { detachNorm: false } : {};
    const grad = tf.grad((x: tf.Tensor) => run(name, x as tf.Tensor4D, t, extra))(s);
    const gNorm = Math.sqrt(scalar(tf.sum(tf.square(grad)) as tf.Scalar));
    for (let k = 0; k < 3; k++) {
      // direction 0: the gradient itself (largest slope, strict relative check); 1-2: random directions,
      // checked against the Cauchy-Schwarz scale ‖g‖·‖v‖ (a wrong gradient errs by O(‖g‖·‖v‖)).
      const v = k === 0 ? tf.div(grad, gNorm) as tf.Tensor4D : seededNormal(SHAPE, 100 + k);
      const vNorm = Math.sqrt(scalar(tf.sum(tf.square(v)) as tf.Scalar));
      const analytic = scalar(tf.sum(tf.mul(grad, v)) as tf.Scalar);
      const eps = 1e-2;
      const plus = tf.add(s, tf.mul(v, eps)) as tf.Tensor4D;
      const minus = tf.sub(s, tf.mul(v, eps)) as tf.Tensor4D;
      const numeric = (scalar(run(name, plus, t, extra)) - scalar(run(name, minus, t, extra))) / (2 * eps);
      const scale = k === 0 ? Math.abs(analytic) : gNorm * vNorm;
      const err = Math.abs(numeric - analytic) / scale;
      assert.ok(err < 2e-3, `${name} direction ${k}: finite difference ${numeric} vs autodiff ${analytic} (error ${err} of ${scale})`);
      tf.dispose([v, plus, minus]);
    }
    tf.dispose([s, t, grad]);
  }
});

test('finite differences: PA with the SKD detached norm is NOT the derivative of its value (documented)', () => {
  const s = seededNormal([2, 6, 7, 3], 21);
  const t = seededNormal([2, 6, 7, 5], 22);
  const v = seededNormal([2, 6, 7, 3], 23);
  const gDet = tf.grad((x: tf.Tensor) => pairwiseAffinity(x as tf.Tensor4D, t, { detachNorm: true }))(s);
  const gFull = tf.grad((x: tf.Tensor) => pairwiseAffinity(x as tf.Tensor4D, t, { detachNorm: false }))(s);
  const eps = 1e-2;
  const numeric = (scalar(pairwiseAffinity(tf.add(s, tf.mul(v, eps)) as tf.Tensor4D, t))
    - scalar(pairwiseAffinity(tf.sub(s, tf.mul(v, eps)) as tf.Tensor4D, t))) / (2 * eps);
  const aFull = scalar(tf.sum(tf.mul(gFull, v)) as tf.Scalar);
  const aDet = scalar(tf.sum(tf.mul(gDet, v)) as tf.Scalar);
  assert.ok(Math.abs(numeric - aFull) < 5e-3 * Math.abs(aFull), `non-detached ${aFull} vs FD ${numeric}`);
  assert.ok(Math.abs(numeric - aDet) > 1e-2 * Math.abs(numeric), `detached ${aDet} should differ from FD ${numeric}`);
  // same value either way (up to the epsilon of the norm)
  const a = scalar(pairwiseAffinity(s, t, { detachNorm: true }));
  const b = scalar(pairwiseAffinity(s, t, { detachNorm: false }));
  assert.ok(Math.abs(a - b) < 1e-6 * Math.abs(a));
  tf.dispose([s, t, v, gDet, gFull]);
});

test('CWD is invariant to adding a per-(image, channel) constant to the student or the teacher', () => {
  const s = seededNormal(SHAPE, 31, 2);
  const t = seededNormal(SHAPE, 32, 2);
  const shiftS = tf.mul(seededNormal([2, 1, 1, 4], 33), 10);
  const shiftT = tf.mul(seededNormal([2, 1, 1, 4], 34), 10);
  for (const temperature of [1, 4]) {
    const base = scalar(channelWiseDivergence(s, t, { temperature }));
    const shifted = scalar(channelWiseDivergence(tf.add(s, shiftS) as tf.Tensor4D, tf.add(t, shiftT) as tf.Tensor4D, { temperature }));
    assert.ok(Math.abs(base - shifted) < 1e-4 * base, `T=${temperature}: ${base} vs shifted ${shifted}`);
    // a per-pixel constant (same for all channels) is NOT an invariance of CWD
    const perPixel = tf.mul(seededNormal([2, 6, 7, 1], 35), 3);
    const moved = scalar(channelWiseDivergence(tf.add(s, perPixel) as tf.Tensor4D, t, { temperature }));
    assert.ok(Math.abs(moved - base) > 1e-2 * base, `T=${temperature}: per-pixel shift should change CWD`);
    perPixel.dispose();
  }
  tf.dispose([s, t, shiftS, shiftT]);
});

test('KL losses are asymmetric (swapped arguments differ), Bhattacharyya and MSE are symmetric', () => {
  const a = seededNormal(SHAPE, 41, 3);
  const b = seededNormal(SHAPE, 42, 0.5);
  for (const name of ['cwd', 'pi'] as LossName[]) {
    const ab = scalar(run(name, a, b, { temperature: 1 }));
    const ba = scalar(run(name, b, a, { temperature: 1 }));
    assert.ok(Math.abs(ab - ba) > 0.05 * Math.max(ab, ba), `${name}: ${ab} vs swapped ${ba}`);
  }
  for (const name of ['bhattacharyya', 'spatial-bhattacharyya', 'mse', 'channel-mse', 'channel-mean-mse'] as LossName[]) {
    const ab = scalar(run(name, a, b));
    const ba = scalar(run(name, b, a));
    assert.ok(Math.abs(ab - ba) < 1e-5 * Math.max(ab, ba), `${name}: ${ab} vs swapped ${ba}`);
  }
  tf.dispose([a, b]);
});

test('every loss is 0 when student equals teacher, and > 0 otherwise', () => {
  const s = seededNormal(SHAPE, 51, 2);
  const t = seededNormal(SHAPE, 52, 2);
  for (const name of LOSS_NAMES) {
    const same = scalar(run(name, s, s.clone()));
    assert.ok(Math.abs(same) < 1e-6, `${name}(x, x) = ${same}`);
    const diff = scalar(run(name, s, t));
    assert.ok(diff > 1e-4, `${name}(s, t) = ${diff} should be > 0`);
  }
  tf.dispose([s, t]);
});

test('CWD for large T: T²·KL tends to the variance-matching limit ½·mean_{n,c} Var_HW(t − s)', () => {
  // softmax(x/T)_i = (1 + (x_i − x̄)/T)/HW + O(T⁻²), KL(p‖q) = ½ Σ (p − q)²/p + O(‖p − q‖³)
  // ⇒ T²·KL → (1/2HW) Σ_i (d_i − d̄)², d = t − s: half the population variance of the difference map.
  const s = seededNormal(SHAPE, 61, 1);
  const t = seededNormal(SHAPE, 62, 1);
  const limit = scalar(tf.tidy(() => {
    const d = tf.sub(t, s);
    const { variance } = tf.moments(d, [1, 2]);      // [N, C], population variance over H·W
    return tf.mul(tf.mean(variance), 0.5) as tf.Scalar;
  }));
  const errors = [5, 25, 100].map((T) => Math.abs(scalar(channelWiseDivergence(s, t, { temperature: T })) - limit) / limit);
  assert.ok(errors[2] < 1e-2, `T=100: relative distance to the limit ${errors[2]}`);
  assert.ok(errors[0] > errors[1] && errors[1] > errors[2], `distance should shrink with T: ${errors.join(', ')}`);
  // without the T² factor the KL itself vanishes like 1/T²
  const kl100 = scalar(channelWiseDivergence(s, t, { temperature: 100 })) / 1e4;
  assert.ok(kl100 < 1e-3 * limit);
  tf.dispose([s, t]);
});

test('no NaN/Inf in values or student gradients at activations of ±1e4 (every loss)', () => {
  const s = seededNormal(SHAPE, 71, 1e4);
  const t = tf.mul(tf.sign(seededNormal(SHAPE, 72)), 1e4) as tf.Tensor4D;
  for (const name of LOSS_NAMES) {
    for (const [a, b] of [[s, t], [t, s]]) {
      const { value, grad } = tf.valueAndGrad((x: tf.Tensor) => run(name, x as tf.Tensor4D, b))(a);
      const v = value.dataSync()[0];
      assert.ok(Number.isFinite(v), `${name}: value ${v}`);
      const g = grad.dataSync();
      for (let i = 0; i < g.length; i++) assert.ok(Number.isFinite(g[i]), `${name}: gradient[${i}] = ${g[i]}`);
      tf.dispose([value, grad]);
    }
  }
  // and CWD at ±1e4 is large but exact: identical inputs still give exactly 0
  assert.is(scalar(channelWiseDivergence(s, s.clone(), { temperature: 1 })), 0);
  tf.dispose([s, t]);
});

test('teacher gets no gradient: tf.grad w.r.t. the teacher is all zeros for every loss', () => {
  const s = seededNormal(SHAPE, 81, 2);
  const t = seededNormal(SHAPE, 82, 2);
  for (const name of LOSS_NAMES) {
    const [gs, gt] = tf.grads((a: tf.Tensor, b: tf.Tensor) => run(name, a as tf.Tensor4D, b as tf.Tensor4D))([s, t]);
    assert.equal(gt.shape, t.shape);
    assert.is(tf.max(tf.abs(gt)).dataSync()[0], 0, `${name}: teacher gradient`);
    assert.ok(tf.max(tf.abs(gs)).dataSync()[0] > 0, `${name}: student gradient should be non-zero`);
    tf.dispose([gs, gt]);
  }
  tf.dispose([s, t]);
});

test('no tensor leaks: 100 evaluations of every loss with gradients leave tf.memory().numTensors unchanged', () => {
  const s = seededNormal(SHAPE, 91, 2);
  const t = seededNormal(SHAPE, 92, 2);
  // warm-up (first calls may create cached constants)
  for (const name of LOSS_NAMES) tf.dispose(tf.valueAndGrad((x: tf.Tensor) => run(name, x as tf.Tensor4D, t))(s) as any);
  const before = tf.memory().numTensors;
  for (let i = 0; i < 100; i++) {
    for (const name of LOSS_NAMES) {
      const { value, grad } = tf.valueAndGrad((x: tf.Tensor) => run(name, x as tf.Tensor4D, t))(s);
      tf.dispose([value, grad]);
    }
  }
  for (const name of LOSS_NAMES) run(name, s, t).dispose();
  assert.is(tf.memory().numTensors, before, 'numTensors after 100 × every loss (value + gradient)');
  tf.dispose([s, t]);
});

test.after(() => {
  labels.dispose();
});

test.run();
