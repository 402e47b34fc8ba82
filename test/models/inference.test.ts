/**
 * Test-time inference (lib/models/inference.ts): whole-image, sliding-window, flip and multi-scale
 * passes, checked through invariants that must hold exactly.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import { inferLabels, inferProbabilities, predictLabels, validateInferenceOptions } from '../../lib/models';
import type { SegmentationNet } from '../../lib/models';
import { tinyNet } from '../train/helpers';

test.before(async () => {
  await initBackend({ quiet: true });
});

/** A per-pixel net (1x1 convs, output stride 1): its logits at a pixel do not depend on the context. */
function pointwiseNet(seed = 1, classes = 5): SegmentationNet {
  const init = (s: number) => tf.initializers.glorotUniform({ seed: seed * 10 + s });
  const input = tf.input({ shape: [null, null, 3] });
  const feature = tf.layers.conv2d({ filters: 6, kernelSize: 1, activation: 'relu', kernelInitializer: init(1) }).apply(input) as tf.SymbolicTensor;
  const logits = tf.layers.conv2d({ filters: classes, kernelSize: 1, kernelInitializer: init(2), biasInitializer: 'randomNormal' }).apply(feature) as tf.SymbolicTensor;
  return { model: tf.model({ inputs: input, outputs: [feature, logits] }), config: { arch: 'pointwise', numClasses: classes } as never, featureChannels: 6, outputStride: 1 };
}

const image = (h: number, w: number, seed = 3) => tf.randomNormal([1, h, w, 3], 0, 1, 'float32', seed) as tf.Tensor4D;
const mirror = (a: Int32Array, h: number, w: number) => {
  const o = new Int32Array(a.length);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) o[y * w + x] = a[y * w + (w - 1 - x)];
  return o;
};

test('whole, one pass, output = input size: exactly predictLabels', async () => {
  const net = tinyNet(2);
  const x = image(24, 40);
  const ref = predictLabels(net, x);
  assert.equal(Array.from(await inferLabels(net, x, [24, 40])), Array.from(ref.dataSync()));
  // a window covering the whole image is the whole-image pass at the input size
  assert.equal(Array.from(await inferLabels(net, x, [24, 40], { mode: 'slide', crop: [32, 48] })), Array.from(ref.dataSync()));
  tf.dispose([x, ref]);
  net.model.dispose();
});

test('slide: with a context-free net every window layout gives the whole-image result (coverage and averaging)', () => {
  const net = pointwiseNet();
  const x = image(37, 53);
  const whole = inferProbabilities(net, x, [37, 53]);
  for (const [crop, stride] of [[[16, 16], [16, 16]], [[20, 24], [7, 11]], [[37, 10], [5, 3]], [[64, 64], [8, 8]]] as [number, number][][]) {
    const p = inferProbabilities(net, x, [37, 53], { mode: 'slide', crop: crop as [number, number], stride: stride as [number, number] });
    const d = tf.max(tf.abs(tf.sub(p, whole))).dataSync()[0];
    assert.ok(d < 1e-5, `crop ${crop} stride ${stride}: max |diff| ${d}`);
    p.dispose();
  }
  tf.dispose([x, whole]);
  net.model.dispose();
});

test('flip: mirroring the input mirrors the flip-averaged output; probabilities sum to 1; scales resize the input', async () => {
  const net = tinyNet(4);
  const x = image(16, 24, 7);
  const xm = tf.reverse(x, 2) as tf.Tensor4D;
  const a = await inferLabels(net, x, [32, 48], { flip: true });
  const b = await inferLabels(net, xm, [32, 48], { flip: true });
  assert.equal(Array.from(b), Array.from(mirror(a, 32, 48)));
  const p = inferProbabilities(net, x, [32, 48], { flip: true, scales: [0.5, 1, 1.5] });
  const s = tf.sum(p, 3);
  const dev = tf.max(tf.abs(tf.sub(s, 1))).dataSync()[0];
  assert.ok(dev < 1e-5, `sum of probabilities deviates by ${dev}`);
  // one scale twice = that scale once
  const p1 = inferProbabilities(net, x, [32, 48], { scales: [1.5] });
  const p2 = inferProbabilities(net, x, [32, 48], { scales: [1.5, 1.5] });
  assert.ok(tf.max(tf.abs(tf.sub(p1, p2))).dataSync()[0] < 1e-6);
  // a different scale is a different pass
  const p3 = inferProbabilities(net, x, [32, 48], { scales: [0.5] });
  assert.ok(tf.max(tf.abs(tf.sub(p1, p3))).dataSync()[0] > 1e-3);
  tf.dispose([x, xm, p, s, p1, p2, p3]);
  net.model.dispose();
});

test('no tensor left behind; option errors name the option', async () => {
  const net = tinyNet(5);
  const x = image(16, 16);
  await inferLabels(net, x, [20, 20], { mode: 'slide', crop: [8, 8], flip: true, scales: [1, 0.75] });
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) await inferLabels(net, x, [20, 20], { mode: 'slide', crop: [8, 8], flip: true, scales: [1, 0.75] });
  assert.is(tf.memory().numTensors, before);
  assert.throws(() => validateInferenceOptions({ mode: 'slide' }), /mode 'slide' needs crop/);
  assert.throws(() => validateInferenceOptions({ crop: [8, 8] }), /only used with mode 'slide'/);
  assert.throws(() => validateInferenceOptions({ scales: [] }), /scales must be a non-empty list/);
  assert.throws(() => validateInferenceOptions({ mode: 'slide', crop: [0, 8] }), /crop must be \[h, w\]/);
  assert.equal(validateInferenceOptions({ mode: 'slide', crop: [30, 60] }).stride, [20, 40]);
  const two = tf.zeros([2, 8, 8, 3]) as tf.Tensor4D;
  try {
    await inferLabels(net, two, [8, 8]);
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /one normalised RGB image \[1, H, W, 3\]/);
  }
  tf.dispose([x, two]);
  net.model.dispose();
});

test.run();
