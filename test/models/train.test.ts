/**
 * Training through the models on the default backend (wasm with lib/backend's kernels and the
 * dilated-conv gradients): the loss on a fixed batch decreases over a few steps for every arch
 * (dilated convs, depthwise dilated convs, PPM, ASPP all in the gradient path), tensors stay flat,
 * and BatchNorm train/inference modes behave (a frozen teacher in inference mode does not change).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import { ARCHS, buildModel, forward, freezeNet, modelConfig, trainableVariables, upsampleLogits, type ArchName, type DeepPartial, type ModelConfig } from '../../lib/models';

test.before(async () => { await initBackend({ quiet: true }); });

const TINY: Record<ArchName, DeepPartial<ModelConfig>> = {
  'pspnet-resnet': { backbone: { widthMultiplier: 0.25 }, head: { poolChannels: 4, channels: 8 } },
  'deeplabv3-resnet': { backbone: { widthMultiplier: 0.25 }, head: { rates: [2, 3, 4], channels: 8 } },
  'pspnet-mobilenetv2': { backbone: { widthMultiplier: 0.25 }, head: { poolChannels: 4, channels: 8 } },
  'deeplabv3-mobilenetv2': { backbone: { widthMultiplier: 0.25 }, head: { rates: [2, 3, 4], channels: 8 } },
};

/** A learnable fixed batch: the label is which horizontal band / colour channel dominates. */
function batch(n: number, h: number, w: number, classes: number): { x: tf.Tensor4D; y: tf.Tensor4D } {
  return tf.tidy(() => {
    const band = tf.floorDiv(tf.range(0, h, 1, 'int32'), Math.ceil(h / classes)); // [h]
    const labels = tf.tile(tf.reshape(band, [1, h, 1]), [n, 1, w]) as tf.Tensor3D;
    const onehot = tf.cast(tf.oneHot(tf.cast(labels, 'int32'), classes), 'float32') as tf.Tensor4D;
    const x = tf.add(tf.mul(tf.slice(tf.concat([onehot, onehot], 3), [0, 0, 0, 0], [n, h, w, 3]), 2),
      tf.randomNormal([n, h, w, 3], 0, 0.5, 'float32', 1)) as tf.Tensor4D;
    return { x, y: onehot };
  });
}

for (const arch of ARCHS) {
  test(`${arch}: SGD steps on a fixed batch decrease the loss; no tensor leak per step`, () => {
    const net = buildModel(modelConfig(arch, { ...TINY[arch], numClasses: 3, inputSize: [64, 64], dropout: 0 } as DeepPartial<ModelConfig>));
    const { x, y } = batch(2, 64, 64, 3);
    const opt = tf.train.momentum(0.05, 0.9);
    const vars = trainableVariables(net);
    const losses: number[] = [];
    let tensorsAfterFirst = 0;
    for (let step = 0; step < 6; step++) {
      const loss = opt.minimize(() => {
        const { logits } = forward(net, x, { training: true });
        return tf.losses.softmaxCrossEntropy(y, upsampleLogits(logits, [64, 64])) as tf.Scalar;
      }, true, vars) as tf.Scalar;
      losses.push(loss.dataSync()[0]);
      loss.dispose();
      if (step === 1) tensorsAfterFirst = tf.memory().numTensors; // optimiser slots exist from step 0
      if (step > 1) assert.is(tf.memory().numTensors, tensorsAfterFirst, `tensors grew at step ${step}`);
    }
    assert.ok(losses.every(Number.isFinite), `losses ${losses}`);
    assert.ok(losses[losses.length - 1] < 0.9 * losses[0], `loss did not decrease: ${losses.map((l) => l.toFixed(3)).join(' → ')}`);
    // every trainable variable received a gradient (dilated convs included)
    const { grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, upsampleLogits(forward(net, x, { training: true }).logits, [64, 64])) as tf.Scalar, vars);
    const missing = vars.filter((v) => !grads[v.name]).map((v) => v.name);
    assert.equal(missing, []);
    tf.dispose(Object.values(grads));
    tf.dispose([x, y]);
    opt.dispose();
    net.model.dispose();
  });
}

test('BatchNorm modes: training=true uses batch stats and updates moving averages; inference mode changes nothing', () => {
  const net = buildModel(modelConfig('pspnet-resnet', { ...TINY['pspnet-resnet'], inputSize: [64, 64] } as DeepPartial<ModelConfig>));
  const x = tf.randomNormal([2, 64, 64, 3], 3, 2, 'float32', 2) as tf.Tensor4D;
  const snapshot = () => net.model.getWeights().map((w) => w.clone());
  const diff = (a: tf.Tensor[], b: tf.Tensor[]) => a.reduce((s, t, i) => s + tf.tidy(() => tf.sum(tf.abs(tf.sub(t, b[i]))).dataSync()[0]), 0);
  const w0 = snapshot();
  const inf1 = forward(net, x, { training: false });
  const inf2 = forward(net, x, { training: false });
  assert.is(diff(w0, snapshot()), 0, 'inference mode changed weights');
  assert.is(tf.tidy(() => tf.max(tf.abs(tf.sub(inf1.logits, inf2.logits))).dataSync()[0]), 0, 'inference is deterministic');
  const tr = forward(net, x, { training: true });
  // batch statistics: the feature after BN+ReLU differs from the inference-mode one
  assert.ok(tf.tidy(() => tf.max(tf.abs(tf.sub(tr.feature, inf1.feature))).dataSync()[0]) > 1e-3);
  const moved = net.model.nonTrainableWeights.map((w) => w.read());
  assert.ok(diff(w0.filter((_, i) => net.model.weights[i].trainable === false), moved) > 0, 'moving statistics updated');
  assert.is(diff(w0.filter((_, i) => net.model.weights[i].trainable), net.model.trainableWeights.map((w) => w.read())), 0);
  tf.dispose([x, ...w0, inf1.feature, inf1.logits, inf2.feature, inf2.logits, tr.feature, tr.logits]);
  net.model.dispose();
});

test('freezeNet: a frozen teacher has no trainable variables and is left alone by a student update', () => {
  const teacher = freezeNet(buildModel(modelConfig('pspnet-resnet', { ...TINY['pspnet-resnet'], inputSize: [64, 64] } as DeepPartial<ModelConfig>)));
  const student = buildModel(modelConfig('pspnet-mobilenetv2', { ...TINY['pspnet-mobilenetv2'], inputSize: [64, 64] } as DeepPartial<ModelConfig>));
  assert.is(trainableVariables(teacher).length, 0);
  const x = tf.randomNormal([2, 64, 64, 3], 0, 1, 'float32', 6) as tf.Tensor4D;
  const before = teacher.model.getWeights().map((w) => w.clone());
  const opt = tf.train.sgd(0.1);
  // default variable list = every trainable variable in the engine: the teacher's are not among them
  tf.dispose(opt.minimize(() => tf.tidy(() => {
    const t = forward(teacher, x).logits;
    const s = forward(student, x, { training: true }).logits;
    return tf.mean(tf.square(tf.sub(s, t))) as tf.Scalar;
  }), true) as tf.Scalar);
  teacher.model.getWeights().forEach((w, i) => assert.is(tf.tidy(() => tf.max(tf.abs(tf.sub(w, before[i]))).dataSync()[0]), 0));
  tf.dispose([x, ...before]);
  opt.dispose(); teacher.model.dispose(); student.model.dispose();
});

test.run();
