/**
 * The PyTorch twin of a tfjs model (bench/graph.ts → bench/torch/keras_graph.py) is the same
 * network: same trainable parameter count and, with the same weights, the same outputs.
 * Skipped with a printed reason when no python with torch is found.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { exportGraph, exportWeights, countTrainable } from '../../bench/graph';
import { findTorch, TorchWorker } from '../../bench/torch';

/** A small net with every layer kind the presets use: strided/dilated conv, BN, ReLU, depthwise, pools, concat, add, upsampling. */
function smallNet(): tf.LayersModel {
  const input = tf.input({ shape: [16, 24, 3] });
  let h = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false }).apply(input) as tf.SymbolicTensor;
  h = tf.layers.batchNormalization({ epsilon: 1e-5 }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.reLU().apply(h) as tf.SymbolicTensor;
  const d = tf.layers.conv2d({ filters: 8, kernelSize: 3, dilationRate: 2, padding: 'same' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.add().apply([h, d]) as tf.SymbolicTensor;
  h = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.activation({ activation: 'relu' }).apply(h) as tf.SymbolicTensor;
  const m = tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }).apply(h) as tf.SymbolicTensor;
  const a = tf.layers.averagePooling2d({ poolSize: 2, strides: 2 }).apply(h) as tf.SymbolicTensor;
  let c = tf.layers.concatenate().apply([m, a]) as tf.SymbolicTensor;
  c = tf.layers.upSampling2d({ size: [2, 2] }).apply(c) as tf.SymbolicTensor;
  const feature = tf.layers.concatenate().apply([h, c]) as tf.SymbolicTensor;
  const logits = tf.layers.conv2d({ filters: 5, kernelSize: 1 }).apply(feature) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: [feature, logits], name: 'small' });
}

const torch = findTorch();

test('exportGraph lists layers in order with inbound links, shapes and the trainable count', () => {
  const model = smallNet();
  const g = exportGraph(model);
  assert.is(g.layers[0].className, 'InputLayer');
  assert.is(g.outputs.length, 2);
  assert.is(g.trainableParams, countTrainable(model));
  const add = g.layers.find((l) => l.className === 'Add')!;
  assert.is(add.inbound.length, 2);
  assert.equal(add.outputShape, [null, 8, 12, 8]);
  model.dispose();
});

test('the PyTorch twin has the same parameter count and the same outputs for the same weights', async () => {
  if (!torch.info) {
    console.log(`  skipped: ${torch.why}`);
    return;
  }
  const model = smallNet();
  // non-trivial BN statistics so that inference-mode BN is checked too
  const bn = model.layers.find((l) => l.getClassName() === 'BatchNormalization')!;
  const [gamma, beta] = bn.getWeights();
  bn.setWeights([gamma, beta, tf.randomUniform([8], -0.5, 0.5, 'float32', 1), tf.randomUniform([8], 0.5, 2, 'float32', 2)]);
  const x = tf.randomNormal([2, 16, 24, 3], 0, 1, 'float32', 3);
  const [feature, logits] = model.predict(x) as tf.Tensor[];
  const worker = await TorchWorker.start(1);
  let r: { outputs: number[][][][][]; params: number };
  try {
    r = await worker.call({ cmd: 'forward', graph: exportGraph(model), weights: exportWeights(model), input: x.arraySync() });
  } finally {
    worker.close();
  }
  assert.is(r.params, countTrainable(model));
  const maxDiff = (a: tf.Tensor, b: number[][][][]) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, tf.tensor(b)))).dataSync()[0]);
  const df = maxDiff(feature, r.outputs[0]);
  const dl = maxDiff(logits, r.outputs[1]);
  assert.ok(df < 1e-4, `feature differs by ${df}`);
  assert.ok(dl < 1e-4, `logits differ by ${dl}`);
  tf.dispose([x, feature, logits]);
  model.dispose();
});

test('the PyTorch twin of the student-r18 preset computes the same [feature, logits] (inference mode)', async () => {
  if (!torch.info) {
    console.log(`  skipped: ${torch.why}`);
    return;
  }
  const models = require('../../lib/models') as typeof import('../../lib/models');
  const net = models.buildModel(models.modelConfig('student-r18', { inputSize: [64, 96] }));
  const x = tf.randomNormal([1, 64, 96, 3], 0, 1, 'float32', 5);
  const [feature, logits] = net.model.predict(x) as tf.Tensor[];
  const worker = await TorchWorker.start(1);
  let r: { outputs: number[][][][][]; params: number };
  try {
    r = await worker.call({ cmd: 'forward', graph: exportGraph(net.model), weights: exportWeights(net.model), input: x.arraySync() });
  } finally {
    worker.close();
  }
  assert.is(r.params, countTrainable(net.model));
  const rel = (a: tf.Tensor, b: number[][][][]) => tf.tidy(() => {
    const bt = tf.tensor(b);
    return tf.max(tf.abs(tf.sub(a, bt))).dataSync()[0] / tf.max(tf.abs(bt)).dataSync()[0];
  });
  const df = rel(feature, r.outputs[0]);
  const dl = rel(logits, r.outputs[1]);
  assert.equal(feature.shape, [1, 8, 12, net.featureChannels]);
  assert.ok(df < 1e-4, `feature differs by ${df} (relative to its max)`);
  assert.ok(dl < 1e-4, `logits differ by ${dl} (relative to its max)`);
  tf.dispose([x, feature, logits]);
  net.model.dispose();
});

test.run();
