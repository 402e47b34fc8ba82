/**
 * Every arch and preset: output shapes at stride 8, feature/logit channels, determinism by seed,
 * other input sizes, and clear config errors.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import { ARCHS, PRESETS, buildModel, createModel, defaultConfig, forward, modelConfig } from '../../lib/models';

test.before(async () => { await initBackend({ quiet: true }); });

const EXPECTED_FEATURE: Record<string, number> = {
  teacher: 128, 'teacher-r50': 128, 'student-r18': 64, 'student-r18-0.5': 32, 'student-deeplab': 64, 'student-mnv2': 64, 'student-deeplab-mnv2': 64,
};

for (const name of Object.keys(PRESETS).filter((n) => !n.startsWith('paper-'))) {
  test(`preset ${name}: outputs [feature, logits] at stride 8 for a 64x128 batch of 2`, () => {
    const net = createModel(name, { inputSize: [64, 128] });
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const { feature, logits } = forward(net, tf.randomNormal([2, 64, 128, 3]) as tf.Tensor4D);
      assert.equal(feature.shape, [2, 8, 16, EXPECTED_FEATURE[name]]);
      assert.equal(logits.shape, [2, 8, 16, 19]);
      assert.ok(Number.isFinite(logits.sum().dataSync()[0]));
    });
    assert.is(tf.memory().numTensors, before);
    assert.is(net.outputStride, 8);
    assert.is(net.featureChannels, EXPECTED_FEATURE[name]);
    assert.equal(net.model.outputNames, ['feature', 'logits']);
    net.model.dispose();
  });
}

test('PRESETS has the five CPU presets the issue asks for, each documented with its paper counterpart', () => {
  for (const name of ['teacher', 'student-r18', 'student-r18-0.5', 'student-deeplab', 'student-mnv2']) {
    assert.ok(PRESETS[name], name);
    assert.ok(PRESETS[name].paper && PRESETS[name].description.length > 20, name);
  }
});

for (const arch of ARCHS) {
  test(`arch ${arch}: default config builds; numClasses, odd input sizes and the output stride`, () => {
    const cfg = modelConfig(arch, { numClasses: 5, inputSize: [64, 64] });
    assert.is(cfg.arch, arch);
    const net = buildModel(cfg);
    tf.tidy(() => {
      // 72x100 is not a multiple of 8: 'same' convs round up, so the maps are ceil(·/8)
      const { feature, logits } = forward(net, tf.randomNormal([1, 72, 100, 3]) as tf.Tensor4D);
      assert.equal(logits.shape, [1, 9, 13, 5]);
      assert.equal(feature.shape.slice(0, 3), [1, 9, 13]);
    });
    net.model.dispose();
  });
}

test('the teacher is deeper and wider than every student (layers, params, feature channels)', () => {
  const teacher = createModel('teacher', { inputSize: [64, 128] });
  const tParams = teacher.model.countParams();
  for (const name of ['student-r18', 'student-r18-0.5', 'student-deeplab', 'student-mnv2']) {
    const s = createModel(name, { inputSize: [64, 128] });
    assert.ok(s.model.countParams() < tParams, `${name} params`);
    assert.ok(s.featureChannels < teacher.featureChannels, `${name} feature`);
    s.model.dispose();
  }
  teacher.model.dispose();
});

test('same seed → same weights; another seed → different weights', () => {
  const cfg = modelConfig('student-r18-0.5', { inputSize: [64, 128] });
  const a = buildModel(cfg);
  const b = buildModel(cfg);
  const c = buildModel({ ...cfg, seed: 1 });
  const wa = a.model.getWeights(); const wb = b.model.getWeights(); const wc = c.model.getWeights();
  assert.is(wa.length, wb.length);
  const diff = (x: tf.Tensor[], y: tf.Tensor[]): number => x.reduce((s: number, t, i) => s + tf.tidy(() => tf.sum(tf.abs(tf.sub(t, y[i]))).dataSync()[0]), 0);
  assert.is(diff(wa, wb), 0);
  assert.ok(diff(wa, wc) > 1);
  [a, b, c].forEach((n) => n.model.dispose());
});

test('width multiplier 0.5 halves the ResNet widths', () => {
  const full = createModel('student-r18', { inputSize: [64, 128] });
  const half = createModel('student-r18', { inputSize: [64, 128], backbone: { widthMultiplier: 0.5 } });
  const lastConvFilters = (n: typeof full) => (n.model.getLayer('layer4_1_2_conv').getConfig() as { filters: number }).filters;
  assert.is(lastConvFilters(full), 128);
  assert.is(lastConvFilters(half), 64);
  // stage 3/4 convs are dilated 2/4 (first block contracted to 1/2), stage 2 strided
  const dil = (layer: string) => (full.model.getLayer(layer).getConfig() as { dilationRate: number[] }).dilationRate[0];
  assert.equal([dil('layer3_0_1_conv'), dil('layer3_1_1_conv'), dil('layer4_0_1_conv'), dil('layer4_1_2_conv')], [1, 2, 2, 4]);
  assert.is(full.model.getLayer('layer4_1_2_conv').getClassName(), 'AtrousConv2D');
  full.model.dispose(); half.model.dispose();
});

test('bad configs are clear errors naming the option', () => {
  assert.throws(() => modelConfig('resnet9000'), /unknown model "resnet9000": presets are teacher, .*archs are pspnet-resnet/);
  assert.throws(() => modelConfig('student-r18', { numClases: 3 } as never), /config\.numClases is not a model option/);
  assert.throws(() => modelConfig('student-r18', { backbone: { widht: 1 } } as never), /config\.backbone\.widht is not a model option/);
  assert.throws(() => modelConfig('student-r18', { inputSize: [100, 200] }), /config\.inputSize must be \[H, W\] with positive multiples of 8/);
  assert.throws(() => modelConfig('student-r18', { numClasses: 0 }), /config\.numClasses must be a positive integer/);
  assert.throws(() => modelConfig('student-r18', { inputSize: [32, 64] }), /config\.head\.bins: the largest bin \(6\) exceeds the 4-pixel side/);
  assert.throws(() => modelConfig('student-r18', { backbone: { type: 'mobilenetv2' } } as never), /config\.backbone\.type cannot be overridden/);
  assert.throws(() => modelConfig('student-r18', { backbone: { blocks: [2, 2, 2] } }),
    /config\.backbone\.strides must have 3 positive integers \(one per stage of backbone\.blocks\)/);
  assert.throws(() => modelConfig('student-mnv2', { backbone: { dilations: [1, 1] } }),
    /config\.backbone\.dilations must have 7 positive integers \(one per stage of backbone\.stages\)/);
  assert.throws(() => modelConfig('deeplabv3-resnet', { head: { rates: [0, 2] } }), /head\.rates must be a non-empty list of positive integers/);
  assert.throws(() => buildModel({ ...defaultConfig('pspnet-resnet'), arch: 'deeplabv3-resnet' }), /config\.head\.type must be 'aspp' for arch 'deeplabv3-resnet'/);
  assert.throws(() => forward(createModel('student-r18-0.5', { inputSize: [64, 128] }), tf.zeros([1, 64, 128, 1]) as tf.Tensor4D), /images must be \[N, H, W, 3\]/);
});

test.run();
