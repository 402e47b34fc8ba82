/**
 * One training step of a small segmentation net (conv stride 2, batchNorm from moments, ReLU/ReLU6,
 * max/avg pooling, depthwise conv, dilated conv (rate 2), bilinear upsampling (legacy and
 * half-pixel), concat, log-softmax cross-entropy with an ignore label via oneHot, gather) on wasm
 * with the registered kernels: gradients and the Adam / SGD-momentum updates equal the cpu backend's.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { backendsReady, randomValues, relMaxDiff, runOn } from './helpers';

const NC = 5;
const B = 2;
const H = 32;
const W = 48;

type Params = Record<string, tf.Tensor>;

function paramShapes(): Record<string, number[]> {
  return {
    c1: [3, 3, 3, 8], g1: [8], b1: [8],
    c2: [3, 3, 8, 12], g2: [12], b2: [12],
    dw3: [3, 3, 12, 1], pw3: [1, 1, 12, 16], g3: [16], b3: [16],
    dwd: [3, 3, 16, 1],
    c4: [3, 3, 16, 16], g4: [16], b4: [16],
    ctx: [1, 1, 16, 8],
    head: [1, 1, 24, NC], hb: [NC],
    emb: [NC, 4],
  };
}

function makeParams(): Params {
  const p: Params = {};
  let seed = 100;
  for (const [k, s] of Object.entries(paramShapes())) {
    const n = s.reduce((a, b) => a * b, 1);
    const fanIn = s.length === 4 ? s[0] * s[1] * s[2] : 1;
    const v = randomValues(n, seed++).map((u) => (k.startsWith('g') ? 1 + 0.1 * u : k.startsWith('b') || k === 'hb' ? 0.1 * u : u * Math.sqrt(3 / fanIn)));
    p[k] = tf.tensor(v, s);
  }
  return p;
}

function bnRelu(x: tf.Tensor4D, g: tf.Tensor, b: tf.Tensor, relu6 = false): tf.Tensor4D {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  const y = tf.batchNorm(x, mean, variance, b as tf.Tensor1D, g as tf.Tensor1D, 1e-3);
  return (relu6 ? tf.relu6(y) : tf.relu(y)) as tf.Tensor4D;
}

function loss(p: Params, x: tf.Tensor4D, labels: tf.Tensor3D): tf.Scalar {
  let h = bnRelu(tf.conv2d(x, p.c1 as tf.Tensor4D, 2, 'same'), p.g1, p.b1);                       // /2
  h = bnRelu(tf.conv2d(h, p.c2 as tf.Tensor4D, 1, 'same'), p.g2, p.b2, true);
  h = tf.maxPool(h, 3, 2, 'same');                                                              // /4
  h = tf.depthwiseConv2d(h, p.dw3 as tf.Tensor4D, 1, 'same');
  h = bnRelu(tf.conv2d(h, p.pw3 as tf.Tensor4D, 1, 'valid'), p.g3, p.b3, true);
  h = tf.depthwiseConv2d(h, p.dwd as tf.Tensor4D, 1, 'same', 'NHWC', 2);                        // dilated depthwise
  h = bnRelu(tf.conv2d(h, p.c4 as tf.Tensor4D, 1, 'same', 'NHWC', 2), p.g4, p.b4);             // dilated conv
  const [fh, fw] = [h.shape[1], h.shape[2]];
  let c = tf.avgPool(h, 2, 2, 'valid');                                                         // /8
  c = tf.relu(tf.conv2d(c, p.ctx as tf.Tensor4D, 1, 'same'));
  c = tf.image.resizeBilinear(c, [fh, fw], false, true);
  h = tf.concat([h, c], 3);
  let logits = tf.add(tf.conv2d(h, p.head as tf.Tensor4D, 1, 'same'), p.hb) as tf.Tensor4D;
  logits = tf.image.resizeBilinear(logits, [H, W]);
  // cross-entropy with ignore label 255, via oneHot of clipped labels and a validity mask
  const flat = labels.reshape([-1]);
  const valid = tf.cast(tf.notEqual(flat, 255), 'float32');
  const target = tf.oneHot(tf.where(tf.notEqual(flat, 255), flat, tf.zerosLike(flat)) as tf.Tensor1D, NC);
  const logp = tf.logSoftmax(logits.reshape([-1, NC]));
  const ce = tf.neg(tf.sum(tf.mul(logp, target), 1)).mul(valid).sum().div(valid.sum());
  // an embedding lookup (gather: its gradient is UnsortedSegmentSum) and a softmax term
  const e = tf.gather(p.emb, tf.tensor1d([0, 3, 3, 1, 4], 'int32'));
  const probs = tf.softmax(logits.reshape([-1, NC])).mean(0);
  return ce.add(tf.sum(tf.mul(e, e)).mul(0.01)).add(tf.sum(tf.mul(probs, probs)).mul(0.1)) as tf.Scalar;
}

function inputs(): { x: tf.Tensor4D; labels: tf.Tensor3D } {
  const x = tf.tensor4d(randomValues(B * H * W * 3, 7), [B, H, W, 3]);
  const raw = randomValues(B * H * W, 8);
  const lab = Int32Array.from(raw, (u) => (u > 0.9 ? 255 : Math.floor((u + 1) / 2 * NC) % NC));
  return { x, labels: tf.tensor3d(lab, [B, H, W], 'int32') };
}

const names = Object.keys(paramShapes());

function gradsStep(p: Params = makeParams(), data = inputs()): tf.Tensor[] {
  const { x, labels } = data;
  const vals = names.map((k) => p[k]);
  const { value, grads } = tf.valueAndGrads((...ts: tf.Tensor[]) => {
    const q: Params = {};
    names.forEach((k, i) => { q[k] = ts[i]; });
    return loss(q, x, labels);
  })(vals);
  return [value, ...grads];
}

function optimiserStep(kind: 'adam' | 'momentum'): tf.Tensor[] {
  const p = makeParams();
  const vars: Record<string, tf.Variable> = {};
  for (const k of names) vars[k] = tf.variable(p[k], true, `${kind}_${k}_${Math.random()}`);
  const { x, labels } = inputs();
  const opt = kind === 'adam' ? tf.train.adam(1e-2) : tf.train.momentum(0.05, 0.9);
  const q: Params = vars;
  for (let s = 0; s < 2; s++) opt.minimize(() => loss(q, x, labels));
  const out = names.map((k) => vars[k].clone());
  opt.dispose();
  Object.values(vars).forEach((v) => v.dispose());
  return out;
}

test('training step: wasm gradients equal the cpu backend\'s', async () => {
  await backendsReady();
  const c = await runOn('cpu', () => gradsStep());
  const w = await runOn('wasm', () => gradsStep());
  assert.ok(Math.abs(w[0].values[0] - c[0].values[0]) < 1e-5 * Math.abs(c[0].values[0]), `loss ${w[0].values[0]} vs ${c[0].values[0]}`);
  names.forEach((k, i) => {
    assert.equal(w[i + 1].shape, c[i + 1].shape, k);
    const d = relMaxDiff(w[i + 1].values, c[i + 1].values);
    assert.ok(d < 2e-4, `gradient of ${k}: relative max diff ${d}`);
    assert.ok(c[i + 1].values.some((v) => v !== 0), `gradient of ${k} is not all zero`);
  });
});

for (const kind of ['adam', 'momentum'] as const) {
  test(`training step: two ${kind} updates give the same parameters on wasm and cpu`, async () => {
    await backendsReady();
    const c = await runOn('cpu', () => optimiserStep(kind));
    const w = await runOn('wasm', () => optimiserStep(kind));
    const p0 = await runOn('cpu', () => { const p = makeParams(); return names.map((k) => p[k]); });
    names.forEach((k, i) => {
      const moved = relMaxDiff(c[i].values, p0[i].values);
      assert.ok(moved > 1e-4, `${k} moved (${moved})`);
      const d = relMaxDiff(w[i].values, c[i].values);
      assert.ok(d < 1e-4, `${kind} ${k}: relative max diff ${d}`);
    });
  });
}

test('training step on wasm leaks no tensors', async () => {
  await backendsReady();
  const prev = tf.getBackend();
  await tf.setBackend('wasm');
  try {
    const p = makeParams();
    const data = inputs();
    tf.dispose(gradsStep(p, data));
    const before = tf.memory().numTensors;
    for (let k = 0; k < 3; k++) tf.dispose(gradsStep(p, data));
    assert.is(tf.memory().numTensors, before);
    tf.dispose([...Object.values(p), data.x, data.labels]);
  } finally {
    await tf.setBackend(prev);
  }
});

test.run();
