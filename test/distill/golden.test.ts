/**
 * Golden values (value and gradient w.r.t. the student) of every loss against the independent PyTorch
 * float64 reference in test/fixtures/distill/make_golden.py → golden.json.
 * Runs on the default backend (initBackend: wasm here). Tolerances are float32-level: relative 2e-5 on
 * values, 1e-4 of the largest gradient entry (the large-magnitude cases: 1e-3, their logits are ±1e4).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import {
  attentionTransfer, channelBhattacharyya, channelMeanMSE, channelNormMSE, channelWiseDivergence, Conv1x1Aligner,
  getLoss, ifvd, localAffinity, maxPoolCeil, mse, pairwiseAffinity, pixelWiseKD, resizeLabelsNearest,
} from '../../lib/distill';
import { GoldenCase, inputTensor, loadGolden, relMaxError } from './helpers';

const golden = loadGolden();
type LossFn = (s: tf.Tensor4D, t: tf.Tensor4D, o: any) => tf.Scalar;
const FNS: Record<string, LossFn> = {
  channelWiseDivergence, pixelWiseKD, attentionTransfer, localAffinity, pairwiseAffinity, ifvd, mse,
  channelNormMSE, channelBhattacharyya, channelMeanMSE,
  'spatial-mse': getLoss('spatial-mse').fn as LossFn,
  'spatial-bhattacharyya': getLoss('spatial-bhattacharyya').fn as LossFn,
};

function optionsFor(c: GoldenCase): Record<string, unknown> {
  const o: Record<string, unknown> = { ...c.options };
  if (typeof o.labels === 'string') o.labels = inputTensor(golden, o.labels, 'int32');
  return o;
}

test.before(async () => {
  await initBackend({ quiet: true });
});

test('golden.json covers every loss of the module', () => {
  const covered = new Set(golden.cases.map((c) => c.loss));
  for (const name of Object.keys(FNS)) assert.ok(covered.has(name), `no golden case for ${name}`);
  assert.ok(covered.has('aligner+channelWiseDivergence'));
});

for (const c of golden.cases.filter((x) => x.loss in FNS)) {
  test(`golden ${c.name}: value and student gradient (${c.loss})`, () => {
    const fn = FNS[c.loss];
    const s = inputTensor(golden, c.student) as tf.Tensor4D;
    const t = inputTensor(golden, c.teacher) as tf.Tensor4D;
    const opts = optionsFor(c);
    const { value, grads } = tf.valueAndGrads((x: tf.Tensor) => fn(x as tf.Tensor4D, t, opts))([s]);
    const large = c.name.includes('large');
    const v = value.dataSync()[0];
    const vTol = large ? 1e-4 : 2e-5;
    assert.ok(Math.abs(v - c.value) <= vTol * Math.abs(c.value) + 1e-7,
      `${c.name}: value ${v} vs reference ${c.value} (rel ${Math.abs(v - c.value) / Math.abs(c.value)})`);
    const gErr = relMaxError(grads[0].dataSync(), c.grad_student);
    assert.ok(gErr <= (large ? 1e-3 : 1e-4), `${c.name}: gradient max error ${gErr} of its largest entry`);
    tf.dispose([s, t, value, grads[0], ...Object.values(opts).filter((x): x is tf.Tensor => x instanceof tf.Tensor)]);
  });
}

test('golden: ceil-mode max-pool matches PyTorch MaxPool2d(ceil_mode=True) (6×7 k3 → 2×3, 9×13 k4×6 → 3×3, 2×2)', () => {
  for (const c of golden.cases.filter((x) => x.pooled_student)) {
    const s = inputTensor(golden, c.student) as tf.Tensor4D;
    const [, h, w] = s.shape;
    const win = (c.options.window as [number, number] | undefined)
      ?? [Math.floor(h * (c.options.scale as number)), Math.floor(w * (c.options.scale as number))];
    const p = maxPoolCeil(s, win[0], win[1]);
    assert.equal(p.shape, c.pooled_shape, `${c.name} pooled shape`);
    assert.ok(relMaxError(p.dataSync(), c.pooled_student!) < 1e-7, `${c.name} pooled values`);
    tf.dispose([s, p]);
  }
});

test('maxPoolCeil gradient reaches the arg-max of windows whose maximum is ≤ 0 (tfjs-backend-wasm MaxPoolGrad misroutes negative ones)', () => {
  // 6×4, 2×2 windows: maxima 2, 3, 0 (tie of two zeros beside −1e-30), 0 (tie of two), −5, −6.5
  const x = tf.tensor4d([-3, -1, -2, -5, 2, 1, 0.5, 3, 0, 0, 0, 0, -1e-30, -2, -3, -4, -7, -6, -9, -8, -5, -6, -7, -6.5], [1, 6, 4, 1]);
  const g = tf.grad((y: tf.Tensor) => tf.sum(tf.mul(maxPoolCeil(y as tf.Tensor4D, 2, 2), tf.tensor4d([1, 2, 3, 4, 5, 6], [1, 3, 2, 1]))))(x);
  assert.equal(Array.from(g.dataSync()), [0, 0, 0, 0, 1, 0, 0, 2, 1.5, 1.5, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 6]);
  // ceil mode on 5×3 with 2×2 windows: partial last row/column windows, all-negative values
  const z = tf.tensor4d([-1, -2, -3, -4, -5, -6, -7, -8, -9, -10, -11, -12, -13, -14, -15], [1, 5, 3, 1]);
  const gz = tf.grad((y: tf.Tensor) => tf.sum(maxPoolCeil(y as tf.Tensor4D, 2, 2)))(z);
  assert.equal(Array.from(gz.dataSync()), [1, 0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 1]);
  tf.dispose([x, g, z, gz]);
});

test('golden: tf.maxPool "same" is NOT ceil mode (the trap of reference-implementations §4)', () => {
  const c = golden.cases.find((x) => x.name === 'pa_6x7_skd')!;
  const s = inputTensor(golden, c.student) as tf.Tensor4D;
  const same = tf.maxPool(s, [3, 3], [3, 3], 'same');
  assert.equal(same.shape, c.pooled_shape);
  assert.ok(relMaxError(same.dataSync(), c.pooled_student!) > 1e-3, 'same padding should differ from ceil mode on 6×7');
  tf.dispose([s, same]);
});

test('golden: labels resized with the legacy nearest rule (13×16 → 6×7)', () => {
  const c = golden.cases.find((x) => x.resized_labels)!;
  const labels = inputTensor(golden, 'labels_13x16', 'int32') as tf.Tensor3D;
  const r = resizeLabelsNearest(labels, 6, 7);
  assert.equal(Array.from(r.dataSync()), c.resized_labels);
  // tf.image.resizeNearestNeighbor (alignCorners=false, halfPixelCenters=false) agrees on this case
  const viaTf = tf.image.resizeNearestNeighbor(tf.expandDims(tf.cast(labels, 'float32'), 3) as tf.Tensor4D, [6, 7]);
  assert.equal(Array.from(viaTf.dataSync()), c.resized_labels);
  tf.dispose([labels, r, viaTf]);
});

test('golden aligner_conv1x1_bias_cwd_T4: conv1x1 (+bias) then CWD, gradients w.r.t. kernel, bias and student', () => {
  const c = golden.cases.find((x) => x.name === 'aligner_conv1x1_bias_cwd_T4')!;
  const aligner = new Conv1x1Aligner({ inChannels: 3, outChannels: 5, useBias: true });
  const kernel = inputTensor(golden, 'aligner_kernel');
  const bias = inputTensor(golden, 'aligner_bias');
  aligner.setWeights([kernel, bias]);
  const s = inputTensor(golden, c.student) as tf.Tensor4D;
  const t = inputTensor(golden, c.teacher) as tf.Tensor4D;
  const sv = tf.variable(s, true, 'golden_student_aligner');
  const { value, grads } = tf.variableGrads(
    () => channelWiseDivergence(aligner.apply(sv as unknown as tf.Tensor4D), t, { temperature: 4 }),
    [...aligner.variables, sv],
  );
  const v = value.dataSync()[0];
  assert.ok(Math.abs(v - c.value) <= 2e-5 * Math.abs(c.value), `value ${v} vs ${c.value}`);
  const [kName, bName] = aligner.variables.map((x) => x.name);
  assert.ok(relMaxError(grads[kName].dataSync(), c.grad_kernel!) < 1e-4, 'kernel gradient');
  // CWD is invariant to a per-channel constant, so d/d(bias) is exactly 0 (reference: ~1e-17 round-off)
  assert.ok(Math.max(...c.grad_bias!.map(Math.abs)) < 1e-12, 'reference bias gradient is 0');
  assert.ok(Math.max(...Array.from(grads[bName].dataSync()).map(Math.abs)) < 1e-6, 'bias gradient is 0');
  assert.ok(relMaxError(grads[sv.name].dataSync(), c.grad_student) < 1e-4, 'student gradient');
  // tf.conv2d with the same 1×1 kernel gives the same feature (the aligner is a matMul over channels)
  const viaConv = tf.add(tf.conv2d(s, kernel as tf.Tensor4D, 1, 'valid'), bias);
  const viaAligner = aligner.apply(s);
  assert.ok(relMaxError(viaAligner.dataSync(), viaConv.dataSync()) < 1e-6);
  tf.dispose([kernel, bias, s, t, sv, value, ...Object.values(grads), viaConv, viaAligner]);
  aligner.dispose();
});

test('golden: the reference float32 softmax().log() CWD is NaN at ±5e3 while ours is finite', () => {
  assert.is(golden.naive_softmax_log_cwd_large_T1_float32, 'nan');
});

test('golden values and gradients also hold on the cpu backend (then the default backend is restored)', async () => {
  const previous = tf.getBackend();
  await tf.setBackend('cpu');
  try {
    for (const c of golden.cases.filter((x) => x.loss in FNS)) {
      const s = inputTensor(golden, c.student) as tf.Tensor4D;
      const t = inputTensor(golden, c.teacher) as tf.Tensor4D;
      const opts = optionsFor(c);
      const { value, grads } = tf.valueAndGrads((x: tf.Tensor) => FNS[c.loss](x as tf.Tensor4D, t, opts))([s]);
      const large = c.name.includes('large');
      const v = value.dataSync()[0];
      assert.ok(Math.abs(v - c.value) <= (large ? 1e-4 : 2e-5) * Math.abs(c.value) + 1e-7, `cpu ${c.name}: ${v} vs ${c.value}`);
      assert.ok(relMaxError(grads[0].dataSync(), c.grad_student) <= (large ? 1e-3 : 1e-4), `cpu ${c.name}: gradient`);
      tf.dispose([s, t, value, grads[0], ...Object.values(opts).filter((x): x is tf.Tensor => x instanceof tf.Tensor)]);
    }
  } finally {
    await tf.setBackend(previous);
  }
  assert.is(tf.getBackend(), previous);
});

test.run();
