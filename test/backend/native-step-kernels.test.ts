/**
 * The native kernels added for the training step (issue 14), each against an independent reference:
 * - depthwise forward (`DepthwiseConv2dNative`, `FusedDepthwiseConv2D` with bias + relu / relu6) on wasm
 *   vs the cpu backend's kernels, at odd shapes, strides, dilations (zero-expanded filter on cpu) and
 *   channel multipliers;
 * - the 1×1 stride-1 `Conv2DBackpropInput` (now a plain GEMM into dx) vs cpu, Ci < Co and Ci > Co;
 * - the training-mode batch-norm kernels behind lib/models' `batchNormTraining` vs the composed
 *   formula on cpu: output, batch statistics and all three gradients, numTensors flat.
 * - the one-kernel optimiser update behind lib/train's `Optimizer` (SGD with and without momentum, Adam,
 *   with weight decay) vs the composed formula on cpu over three steps, numTensors flat.
 * Skipped (and said) when the native addon is not in use.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { nativeKernelsStatus, wasmNativeKernelsActive } from '../../lib/backend/index';
import { FastBatchNorm, batchNormTraining } from '../../lib/models/layers';
import { Optimizer, OptimizerConfig } from '../../lib/train/optim';
import { backendsReady, dilateFilter, rand, relMaxDiff, runOn } from './helpers';

const TOL = 2e-5;
type Shape4 = [number, number, number, number];

function nativeOn(): boolean {
  if (wasmNativeKernelsActive()) return true;
  console.warn(`native kernels not in use (${nativeKernelsStatus()?.note ?? 'not loaded'}): native step-kernel tests skipped`);
  return false;
}

const dwCases: { x: Shape4; f: Shape4; strides: number | [number, number]; pad: 'same' | 'valid'; dilations?: number; bias?: boolean; act?: string }[] = [
  { x: [2, 9, 11, 5], f: [3, 3, 5, 1], strides: 1, pad: 'same' },
  { x: [2, 9, 11, 5], f: [3, 3, 5, 1], strides: 2, pad: 'same', bias: true, act: 'relu6' },
  { x: [1, 10, 7, 3], f: [5, 5, 3, 2], strides: 2, pad: 'valid', bias: true, act: 'relu' },
  { x: [1, 9, 7, 17], f: [3, 3, 17, 3], strides: [1, 2], pad: 'same' },
  { x: [2, 12, 10, 19], f: [3, 3, 19, 1], strides: 1, pad: 'same', dilations: 2, bias: true },
  { x: [1, 12, 13, 3], f: [3, 3, 3, 2], strides: 1, pad: 'valid', dilations: 3, act: 'relu' },
];

for (const [i, c] of dwCases.entries()) {
  test(`depthwise forward on wasm (native) == cpu (case ${i}: x ${c.x} f ${c.f} s ${c.strides} ${c.pad} d ${c.dilations ?? 1}${c.bias ? ' +bias' : ''} ${c.act ?? ''})`, async () => {
    await backendsReady();
    if (!nativeOn()) return;
    const d = c.dilations ?? 1;
    const mult = c.f[2] * c.f[3];
    const make = (dil: number, w: tf.Tensor4D) => {
      const x = rand(c.x, 31 + i) as tf.Tensor4D;
      const bias = c.bias ? rand([mult], 33 + i) as tf.Tensor1D : undefined;
      if (!c.bias && !c.act) return tf.depthwiseConv2d(x, w, c.strides, c.pad, 'NHWC', dil);
      return tf.fused.depthwiseConv2d({ x, filter: w, strides: c.strides, pad: c.pad, dilations: dil, bias, activation: (c.act ?? 'linear') as 'relu' });
    };
    const [wy] = await runOn('wasm', () => make(d, rand(c.f, 32 + i) as tf.Tensor4D));
    // cpu: dilation 1 with the zero-expanded filter (an independent path)
    const [cy] = await runOn('cpu', () => make(1, dilateFilter(rand(c.f, 32 + i) as tf.Tensor4D, d, d)));
    assert.equal(wy.shape, cy.shape);
    assert.ok(relMaxDiff(wy.values, cy.values) < TOL, `rel diff ${relMaxDiff(wy.values, cy.values)}`);
  });
}

// im2col walks taps incrementally and copies whole in-bounds filter rows: K above one 256-column block with
// Ci not dividing 256 (a block starts mid-tap), padding on every side, stride 2, dilation 2
const im2colCases: { x: Shape4; f: Shape4; strides: number; pad: 'same' | 'valid'; dilations: number }[] = [
  { x: [1, 9, 10, 48], f: [3, 3, 48, 5], strides: 1, pad: 'same', dilations: 1 },
  { x: [2, 7, 8, 40], f: [3, 3, 40, 20], strides: 2, pad: 'valid', dilations: 1 },
  { x: [1, 11, 9, 37], f: [3, 3, 37, 6], strides: 1, pad: 'same', dilations: 2 },
  { x: [2, 6, 13, 3], f: [5, 5, 3, 17], strides: 2, pad: 'same', dilations: 1 },
];
for (const [i, c] of im2colCases.entries()) {
  test(`conv forward + both gradients on wasm (native im2col) == cpu (x ${c.x} f ${c.f} s ${c.strides} ${c.pad} d ${c.dilations})`, async () => {
    await backendsReady();
    if (!nativeOn()) return;
    const d = c.dilations;
    const dyShape = tf.backend_util.computeConv2DInfo(c.x, c.f, c.strides, d, c.pad).outShape;
    const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: undefined };
    const [wy, wdw, wdx] = await runOn('wasm', () => [
      tf.conv2d(rand(c.x, 21 + i) as tf.Tensor4D, rand(c.f, 22 + i) as tf.Tensor4D, c.strides, c.pad, 'NHWC', d),
      tf.engine().runKernel('Conv2DBackpropFilter', { x: rand(c.x, 21 + i), dy: rand(dyShape, 23 + i) }, { ...attrs, dilations: d, filterShape: c.f } as any) as tf.Tensor,
      tf.engine().runKernel('Conv2DBackpropInput', { dy: rand(dyShape, 23 + i), filter: rand(c.f, 22 + i) }, { ...attrs, dilations: d, inputShape: c.x } as any) as tf.Tensor,
    ]);
    // cpu: the zero-expanded filter with dilation 1
    const [cy, cdw, cdx] = await runOn('cpu', () => {
      const wf = dilateFilter(rand(c.f, 22 + i) as tf.Tensor4D, d, d);
      const gw = tf.engine().runKernel('Conv2DBackpropFilter', { x: rand(c.x, 21 + i), dy: rand(dyShape, 23 + i) }, { ...attrs, filterShape: wf.shape } as any) as tf.Tensor4D;
      return [
        tf.conv2d(rand(c.x, 21 + i) as tf.Tensor4D, wf, c.strides, c.pad),
        tf.stridedSlice(gw, [0, 0, 0, 0], wf.shape, [d, d, 1, 1]),
        tf.engine().runKernel('Conv2DBackpropInput', { dy: rand(dyShape, 23 + i), filter: wf }, { ...attrs, inputShape: c.x } as any) as tf.Tensor,
      ];
    });
    for (const [name, a, b] of [['y', wy, cy], ['dw', wdw, cdw], ['dx', wdx, cdx]] as const) {
      assert.equal(a.shape, b.shape, name);
      assert.ok(relMaxDiff(a.values, b.values) < TOL, `${name} rel diff ${relMaxDiff(a.values, b.values)}`);
    }
  });
}

const oneByOne: { x: Shape4; f: Shape4 }[] = [
  { x: [2, 7, 9, 5], f: [1, 1, 5, 19] },
  { x: [1, 13, 3, 33], f: [1, 1, 33, 8] },
  { x: [3, 5, 6, 8], f: [1, 1, 8, 48] },
];
for (const [i, c] of oneByOne.entries()) {
  test(`1x1 stride-1 Conv2DBackpropInput on wasm (native GEMM) == cpu (x ${c.x} f ${c.f})`, async () => {
    await backendsReady();
    if (!nativeOn()) return;
    const dyShape = [...c.x.slice(0, 3), c.f[3]];
    const fn = () => tf.engine().runKernel('Conv2DBackpropInput', { dy: rand(dyShape, 41 + i), filter: rand(c.f, 42 + i) },
      { strides: 1, pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined, inputShape: c.x } as any) as tf.Tensor;
    const [w] = await runOn('wasm', fn);
    const [r] = await runOn('cpu', fn);
    assert.equal(w.shape, c.x);
    assert.ok(relMaxDiff(w.values, r.values) < TOL, `rel diff ${relMaxDiff(w.values, r.values)}`);
  });
}

// filters with fewer rows K = KH*KW*Ci than output channels: the K-row orientation of the native filter gradient
const fewRows: { x: Shape4; f: Shape4; strides: number; pad: 'same' | 'valid' }[] = [
  { x: [1, 11, 5, 8], f: [1, 1, 8, 48], strides: 1, pad: 'same' },
  { x: [2, 7, 9, 2], f: [3, 3, 2, 40], strides: 2, pad: 'same' },
  { x: [2, 6, 6, 3], f: [3, 3, 3, 33], strides: 1, pad: 'valid' },
  { x: [1, 9, 8, 1], f: [1, 1, 1, 13], strides: 2, pad: 'valid' },
];
for (const [i, c] of fewRows.entries()) {
  test(`Conv2DBackpropFilter with K < Co on wasm (native) == cpu (x ${c.x} f ${c.f} s ${c.strides} ${c.pad})`, async () => {
    await backendsReady();
    if (!nativeOn()) return;
    const dyShape = tf.backend_util.computeConv2DInfo(c.x, c.f, c.strides, 1, c.pad).outShape;
    const fn = () => tf.engine().runKernel('Conv2DBackpropFilter', { x: rand(c.x, 61 + i), dy: rand(dyShape, 62 + i) },
      { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: undefined, filterShape: c.f } as any) as tf.Tensor;
    const [w] = await runOn('wasm', fn);
    const [r] = await runOn('cpu', fn);
    assert.equal(w.shape, c.f);
    assert.ok(relMaxDiff(w.values, r.values) < TOL, `rel diff ${relMaxDiff(w.values, r.values)}`);
  });
}

// the second shape is above the native kernels' threading threshold (2^20 elements): the multi-threaded path
for (const xs of [[2, 5, 7, 19], [2, 64, 64, 130]] as Shape4[]) {
  test(`batch-norm training kernels (native on wasm) == the composed formula on cpu at ${xs}: y, statistics, dx, dgamma, dbeta; no leaks`, async () => {
  await backendsReady();
  if (!nativeOn()) return;
  const fn = () => {
    // offset and scale the input so the variance is not ~1 and the mean not ~0
    const x = tf.add(tf.mul(rand(xs, 51), 3), 1.5) as tf.Tensor4D;
    const gamma = rand([xs[3]], 52) as tf.Tensor1D;
    const beta = rand([xs[3]], 53) as tf.Tensor1D;
    const dy = rand(xs, 54);
    const stats: tf.Tensor[] = [];
    const f = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(batchNormTraining(a as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5, stats), dy));
    const { value, grads } = tf.valueAndGrads(f)([x, gamma, beta]);
    tf.dispose(stats.splice(0)); // the statistics of the gradient pass (kept by the op: the caller disposes them)
    const y = batchNormTraining(x, gamma, beta, 1e-5, stats);
    return [y, value, ...grads, stats[0], stats[1]];
  };
  const w = await runOn('wasm', fn);
  const prev = tf.getBackend();
  await tf.setBackend('cpu');
  assert.not.ok(tf.getKernel('CwdBatchNormTraining', 'cpu'), 'the cpu backend runs the composed formula (the reference)');
  await tf.setBackend(prev);
  const c = await runOn('cpu', fn);
  const names = ['y', 'loss', 'dx', 'dgamma', 'dbeta', 'mean', 'variance'];
  for (const [k, name] of names.entries()) {
    assert.equal(w[k].shape, c[k].shape, name);
    assert.ok(relMaxDiff(w[k].values, c[k].values) < 1e-4, `${name} rel diff ${relMaxDiff(w[k].values, c[k].values)}`);
  }
  // the wasm run used the kernels (not the composed formula)
  await tf.setBackend('wasm');
  try {
    assert.ok(tf.getKernel('CwdBatchNormTraining', 'wasm') && tf.getKernel('CwdBatchNormTrainingGrad', 'wasm'));
    const before = tf.memory().numTensors;
    for (let k = 0; k < 3; k++) tf.dispose(tf.tidy(() => fn()));
    assert.is(tf.memory().numTensors, before, 'numTensors flat over repeated forward + backward');
  } finally {
    await tf.setBackend(prev);
  }
});
}

test('FastBatchNorm in training mode on wasm (native batch-norm and moving-average kernels) == on cpu: output and moving statistics after 2 calls', async () => {
  await backendsReady();
  if (!nativeOn()) return;
  assert.ok(tf.getKernel('CwdBatchNormMovingUpdate', 'wasm'));
  const run = async (backend: string) => {
    const prev = tf.getBackend();
    await tf.setBackend(backend);
    try {
      const layer = new FastBatchNorm({ momentum: 0.9, epsilon: 1e-5 });
      const x = tf.add(tf.mul(rand([3, 5, 6, 7], 91), 2), 0.5);
      tf.dispose(layer.apply(x) as tf.Tensor); // build
      layer.setWeights([rand([7], 92), rand([7], 93), rand([7], 94), tf.add(rand([7], 95), 2)]);
      const before = tf.memory().numTensors;
      const ys: Float32Array[] = [];
      for (let k = 0; k < 2; k++) {
        const xk = tf.mul(x, k + 1);
        const y = layer.apply(xk, { training: true }) as tf.Tensor;
        ys.push(Float32Array.from(y.dataSync()));
        tf.dispose([xk, y]);
      }
      const leaked = tf.memory().numTensors - before;
      const out = [...ys, ...layer.getWeights().map((w) => Float32Array.from(w.dataSync()))];
      layer.dispose();
      return { out, leaked };
    } finally {
      await tf.setBackend(prev);
    }
  };
  const w = await run('wasm');
  const c = await run('cpu');
  assert.is(w.leaked, 0, 'numTensors flat on wasm');
  assert.is(c.leaked, 0, 'numTensors flat on cpu');
  for (let k = 0; k < w.out.length; k++) assert.ok(relMaxDiff(w.out[k], c.out[k]) < 1e-5, `output ${k} rel diff ${relMaxDiff(w.out[k], c.out[k])}`);
});

test('ReLU gradient (from the saved output; native CwdReluGrad on wasm) == dy where x > 0, else 0, on wasm and cpu, ties at 0 included', async () => {
  await backendsReady();
  const n = 5000; // above the native element-wise minimum
  const xs = Float32Array.from({ length: n }, (_, i) => (i % 7 === 0 ? 0 : Math.sin(i * 1.3)));
  const dys = Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.7));
  const expected = xs.map((x, i) => (x > 0 ? dys[i] : 0));
  for (const backend of ['wasm', 'cpu']) {
    const [g] = await runOn(backend, () => {
      const dy = tf.tensor1d(dys);
      return tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.relu(x), dy)))(tf.tensor1d(xs));
    });
    assert.equal(Array.from(g.values), Array.from(expected), `${backend}`);
  }
  if (wasmNativeKernelsActive()) assert.ok(tf.getKernel('CwdReluGrad', 'wasm'), 'the native kernel is registered');
});

test('ClipByValue gradient (ReLU6; native CwdClipGrad on wasm) == dy where 0 ≤ x ≤ 6, else 0, on wasm and cpu, bounds included', async () => {
  await backendsReady();
  const n = 5000;
  const xs = Float32Array.from({ length: n }, (_, i) => (i % 11 === 0 ? 0 : i % 13 === 0 ? 6 : 8 * Math.sin(i * 1.3)));
  const dys = Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.7));
  const expected = xs.map((x, i) => (x >= 0 && x <= 6 ? dys[i] : 0));
  for (const backend of ['wasm', 'cpu']) {
    const [g] = await runOn(backend, () => {
      const dy = tf.tensor1d(dys);
      return tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.clipByValue(x, 0, 6), dy)))(tf.tensor1d(xs));
    });
    assert.equal(Array.from(g.values), Array.from(expected), `${backend}`);
  }
  if (wasmNativeKernelsActive()) assert.ok(tf.getKernel('CwdClipGrad', 'wasm'), 'the native kernel is registered');
});

const optCases: Partial<OptimizerConfig>[] = [
  { type: 'sgd', momentum: 0.9, weightDecay: 5e-4 },
  { type: 'sgd', momentum: 0, weightDecay: 0 },
  { type: 'adam', weightDecay: 1e-3 },
  { type: 'adam', weightDecay: 0, beta1: 0.8, beta2: 0.99, epsilon: 1e-6 },
];
for (const [i, cfg] of optCases.entries()) {
  test(`optimizer update kernel on wasm == composed formula on cpu (${JSON.stringify(cfg)}, 3 steps)`, async () => {
    await backendsReady();
    if (!nativeOn()) return;
    assert.ok(tf.getKernel('CwdOptimizerUpdate', 'wasm'), 'kernel registered for wasm');
    assert.not.ok(tf.getKernel('CwdOptimizerUpdate', 'cpu'), 'cpu runs the composed formula (the reference)');
    const run = async (backend: string) => {
      const prev = tf.getBackend();
      await tf.setBackend(backend);
      try {
        const vars = [tf.variable(rand([3, 3, 5, 7], 71 + i)), tf.variable(rand([19], 72 + i))];
        const opt = new Optimizer(vars, cfg);
        const before = tf.memory().numTensors;
        for (let step = 0; step < 3; step++) {
          const grads = tf.tidy(() => vars.map((v, k) => tf.mul(rand(v.shape, 80 + 10 * step + k), 1 + step)));
          opt.apply(grads, 0.01 * (step + 1));
          tf.dispose(grads);
        }
        const numTensors = tf.memory().numTensors - before;
        const out = [...vars, ...opt.stateTensors()].map((t) => Float32Array.from(t.dataSync()));
        opt.dispose();
        tf.dispose(vars);
        return { out, numTensors };
      } finally {
        await tf.setBackend(prev);
      }
    };
    const w = await run('wasm');
    const c = await run('cpu');
    assert.is(w.numTensors, 0, 'no tensors left behind by the kernel path');
    assert.is(w.out.length, c.out.length);
    // float32 rounding only (the native build may contract a*b + c into one FMA): 5e-5 of the largest value
    for (let k = 0; k < w.out.length; k++) assert.ok(relMaxDiff(w.out[k], c.out[k]) < 5e-5, `tensor ${k} rel diff ${relMaxDiff(w.out[k], c.out[k])}`);
  });
}

test.run();
