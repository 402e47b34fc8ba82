/**
 * Gradients registered by lib/backend/gradients.ts, on cpu and wasm:
 * - dilated conv2d / depthwiseConv2d: against the non-dilated gradient of the zero-expanded filter
 *   (an independent formulation) and against central finite differences;
 * - resizeBilinear with halfPixelCenters (tfjs 4.22's kernels ignore it): finite differences;
 * - the cpu ResizeBilinearGrad shape fix: non-square input, values equal to wasm's native kernel.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { backendsReady, dilateFilter, rand, relMaxDiff, runOn, undilateFilter } from './helpers';

type Shape4 = [number, number, number, number];
const cases: { x: Shape4; f: Shape4; pad: 'same' | 'valid'; d: number; depthwise: boolean }[] = [
  { x: [2, 10, 12, 3], f: [3, 3, 3, 4], pad: 'same', d: 2, depthwise: false },
  { x: [1, 11, 9, 2], f: [3, 3, 2, 3], pad: 'valid', d: 2, depthwise: false },
  { x: [1, 13, 12, 2], f: [3, 3, 2, 2], pad: 'same', d: 4, depthwise: false },
  { x: [2, 10, 12, 3], f: [3, 3, 3, 1], pad: 'same', d: 2, depthwise: true },
  { x: [1, 11, 9, 2], f: [3, 3, 2, 2], pad: 'valid', d: 2, depthwise: true },
];

function convOp(depthwise: boolean, pad: 'same' | 'valid', d: number) {
  return (x: tf.Tensor4D, w: tf.Tensor4D) => depthwise
    ? tf.depthwiseConv2d(x, w, 1, pad, 'NHWC', d)
    : tf.conv2d(x, w, 1, pad, 'NHWC', d);
}

for (const backend of ['cpu', 'wasm']) {
  for (const [i, c] of cases.entries()) {
    test(`${backend}: dilated ${c.depthwise ? 'depthwiseConv2d' : 'conv2d'} gradient == expanded-filter gradient (x ${c.x} f ${c.f} ${c.pad} d ${c.d})`, async () => {
      await backendsReady();
      const op = convOp(c.depthwise, c.pad, c.d);
      const opRef = convOp(c.depthwise, c.pad, 1);
      const [gx, gw, gxr, gwr, y, yr] = await runOn(backend, () => {
        const x = rand(c.x, 31 + i) as tf.Tensor4D;
        const w = rand(c.f, 32 + i) as tf.Tensor4D;
        const m = rand(op(x, w).shape, 33 + i);
        const loss = (a: tf.Tensor, b: tf.Tensor) => op(a as tf.Tensor4D, b as tf.Tensor4D).mul(m).sum() as tf.Scalar;
        const [dx, dw] = tf.grads(loss)([x, w]);
        const we = dilateFilter(w, c.d, c.d);
        const lossRef = (a: tf.Tensor, b: tf.Tensor) => opRef(a as tf.Tensor4D, b as tf.Tensor4D).mul(m).sum() as tf.Scalar;
        const [rdx, rdwe] = tf.grads(lossRef)([x, we]);
        return [dx, dw, rdx, undilateFilter(rdwe as tf.Tensor4D, c.f[0], c.f[1], c.d, c.d), op(x, w), opRef(x, we)];
      });
      assert.ok(relMaxDiff(y.values, yr.values) < 1e-5, 'forward: dilated == expanded filter');
      assert.equal(gx.shape, c.x);
      assert.equal(gw.shape, c.f);
      assert.ok(relMaxDiff(gx.values, gxr.values) < 1e-5, `dx rel diff ${relMaxDiff(gx.values, gxr.values)}`);
      assert.ok(relMaxDiff(gw.values, gwr.values) < 1e-5, `dW rel diff ${relMaxDiff(gw.values, gwr.values)}`);
    });
  }

  test(`${backend}: dilated conv2d gradient matches central finite differences`, async () => {
    await backendsReady();
    const prev = tf.getBackend();
    await tf.setBackend(backend);
    try {
      const x = rand([1, 9, 10, 2], 41) as tf.Tensor4D;
      const w = rand([3, 3, 2, 3], 42) as tf.Tensor4D;
      // a non-linear loss so the check is not trivially exact
      const loss = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.sigmoid(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same', 'NHWC', 2)).square().sum() as tf.Scalar);
      const [gx, gw] = tf.grads(loss)([x, w]);
      const eps = 1e-2;
      const check = (t: tf.Tensor4D, g: tf.Tensor, idx: number[], which: 0 | 1) => {
        const bump = (s: number) => tf.tidy(() => {
          const b = tf.buffer(t.shape); b.set(s, ...idx);
          const tt = t.add(b.toTensor()) as tf.Tensor4D;
          return loss(which === 0 ? tt : x, which === 1 ? tt : w).dataSync()[0];
        });
        const num = (bump(eps) - bump(-eps)) / (2 * eps);
        const ana = g.bufferSync().get(...idx);
        assert.ok(Math.abs(num - ana) < 2e-3 + 2e-3 * Math.abs(ana), `${which ? 'dW' : 'dx'}[${idx}] numeric ${num} analytic ${ana}`);
      };
      for (const idx of [[0, 0, 0, 0], [1, 2, 1, 2], [2, 1, 0, 1], [0, 2, 1, 0]]) check(w, gw, idx, 1);
      for (const idx of [[0, 0, 0, 0], [0, 4, 5, 1], [0, 8, 9, 0], [0, 1, 7, 1]]) check(x, gx, idx, 0);
      tf.dispose([x, w, gx, gw]);
    } finally {
      await tf.setBackend(prev);
    }
  });

  test(`${backend}: resizeBilinear gradient matches finite differences (halfPixelCenters false/true, alignCorners)`, async () => {
    await backendsReady();
    const prev = tf.getBackend();
    await tf.setBackend(backend);
    try {
      const x = rand([2, 5, 7, 3], 51) as tf.Tensor4D;
      for (const [alignCorners, halfPixelCenters, size] of [[false, false, [10, 13]], [false, true, [10, 13]], [true, false, [9, 4]], [false, true, [40, 56]], [false, true, [3, 4]]] as [boolean, boolean, [number, number]][]) {
        const m = rand([2, size[0], size[1], 3], 52);
        const loss = (a: tf.Tensor) => tf.image.resizeBilinear(a as tf.Tensor4D, size, alignCorners, halfPixelCenters).mul(m).sum() as tf.Scalar;
        const g = tf.grad(loss)(x);
        assert.equal(g.shape, x.shape);
        for (const idx of [[0, 0, 0, 0], [1, 4, 6, 2], [0, 2, 3, 1], [1, 0, 6, 0]]) {
          const eps = 1e-2;
          const bump = (s: number) => tf.tidy(() => { const b = tf.buffer(x.shape); b.set(s, ...idx); return loss(x.add(b.toTensor()) as tf.Tensor4D).dataSync()[0]; });
          const num = (bump(eps) - bump(-eps)) / (2 * eps);
          const ana = g.bufferSync().get(...idx);
          assert.ok(Math.abs(num - ana) < 3e-3 + 1e-3 * Math.abs(ana), `align ${alignCorners} half ${halfPixelCenters} size ${size} [${idx}]: numeric ${num} analytic ${ana}`);
        }
        tf.dispose([m, g]);
      }
      x.dispose();
    } finally {
      await tf.setBackend(prev);
    }
  });
}

test('cpu ResizeBilinearGrad (patched) has the images shape and equals wasm\'s native kernel', async () => {
  await backendsReady();
  const fn = () => tf.engine().runKernel('ResizeBilinearGrad', { images: rand([2, 5, 9, 3], 61), dy: rand([2, 11, 17, 3], 62) }, { alignCorners: false, halfPixelCenters: false }) as tf.Tensor;
  const [c] = await runOn('cpu', fn);
  const [w] = await runOn('wasm', fn);
  assert.equal(c.shape, [2, 5, 9, 3]);
  assert.equal(w.shape, [2, 5, 9, 3]);
  assert.ok(relMaxDiff(c.values, w.values) < 1e-5);
});

test.run();
