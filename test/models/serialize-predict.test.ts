/**
 * Save/load round trip through an IOHandler (model JSON with the custom layers + weights +
 * config metadata) giving identical outputs; predictLogits / predictLabels shapes and no leaks.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import { ARCHS, createModel, forward, loadNet, modelConfig, buildModel, netToArtifacts, predictLabels, predictLogits, saveNet } from '../../lib/models';

test.before(async () => { await initBackend({ quiet: true }); });

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

for (const arch of ARCHS) {
  test(`${arch}: save → load through withSaveHandler / fromMemory gives identical outputs`, async () => {
    const net = buildModel(modelConfig(arch, { numClasses: 4, inputSize: [64, 64], seed: 3 }));
    const x = tf.randomNormal([2, 64, 64, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    // move the BatchNorm moving statistics away from their initial values first
    tf.dispose(Object.values(forward(net, x, { training: true })));
    const artifacts = await netToArtifacts(net);
    const json = JSON.stringify(artifacts.modelTopology);
    // (PSPNet-MobileNetV2 has dilated depthwise convs only: no AtrousConv2D)
    for (const cls of ['AdaptiveAvgPool2D', 'BilinearResize', 'FastBatchNorm', 'ChannelDropout', ...(arch === 'pspnet-mobilenetv2' ? [] : ['AtrousConv2D'])]) {
      assert.ok(json.includes(`"class_name":"${cls}"`), `topology uses ${cls}`);
    }
    const copy = await loadNet(tf.io.fromMemory(artifacts));
    assert.equal(copy.config, net.config);
    tf.tidy(() => {
      const a = forward(net, x); const b = forward(copy, x);
      assert.is(maxAbsDiff(a.feature, b.feature), 0, 'feature');
      assert.is(maxAbsDiff(a.logits, b.logits), 0, 'logits');
    });
    net.model.dispose(); x.dispose();
    copy.model.dispose();
  });
}

test('round trip keeps config, featureChannels, outputStride and every output bit-for-bit', async () => {
  const net = createModel('student-deeplab', { inputSize: [64, 128] });
  const x = tf.randomNormal([1, 64, 128, 3], 0, 1, 'float32', 8) as tf.Tensor4D;
  tf.dispose(Object.values(forward(net, x, { training: true })));
  let saved: tf.io.ModelArtifacts | null = null;
  await saveNet(net, tf.io.withSaveHandler(async (a) => { saved = a; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; }));
  const copy = await loadNet(tf.io.fromMemory(saved!));
  assert.equal(copy.config, net.config);
  assert.is(copy.featureChannels, net.featureChannels);
  assert.is(copy.outputStride, 8);
  tf.tidy(() => {
    const a = forward(net, x); const b = forward(copy, x);
    assert.is(maxAbsDiff(a.feature, b.feature), 0);
    assert.is(maxAbsDiff(a.logits, b.logits), 0);
  });
  net.model.getWeights().forEach((w, i) => assert.is(maxAbsDiff(w, copy.model.getWeights()[i]), 0));
  net.model.dispose(); copy.model.dispose(); x.dispose();
});

test('loadNet on a plain model without the metadata is a clear error', async () => {
  const x = tf.input({ shape: [4] });
  const m = tf.model({ inputs: x, outputs: tf.layers.dense({ units: 1 }).apply(x) as tf.SymbolicTensor });
  let saved: tf.io.ModelArtifacts | null = null;
  await m.save(tf.io.withSaveHandler(async (a) => { saved = a; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; }));
  try {
    await loadNet(tf.io.fromMemory(saved!));
    assert.unreachable('should throw');
  } catch (e) {
    assert.match((e as Error).message, /has no 'channelDistillNet' metadata \(was it saved with saveNet\?\)/);
  }
  m.dispose();
});

test('predictLogits upsamples to the image size; predictLabels is its argmax; no tensor leaks', () => {
  const net = createModel('student-mnv2', { inputSize: [64, 128], numClasses: 7 });
  const x = tf.randomNormal([2, 64, 128, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
  const logits = predictLogits(net, x);
  const labels = predictLabels(net, x);
  assert.equal(logits.shape, [2, 64, 128, 7]);
  assert.equal(labels.shape, [2, 64, 128]);
  assert.is(labels.dtype, 'int32');
  tf.tidy(() => {
    assert.is(tf.sum(tf.notEqual(tf.argMax(logits, 3), labels)).dataSync()[0], 0);
    // align-corners upsampling: the corner pixels equal the stride-8 logits' corners
    const low = forward(net, x).logits;
    assert.ok(maxAbsDiff(tf.slice(logits, [0, 0, 0, 0], [2, 1, 1, 7]), tf.slice(low, [0, 0, 0, 0], [2, 1, 1, 7])) < 1e-5);
  });
  tf.dispose([logits, labels]);
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) { tf.dispose(predictLogits(net, x)); tf.dispose(predictLabels(net, x)); }
  assert.is(tf.memory().numTensors, before, 'predict leaks tensors');
  net.model.dispose(); x.dispose();
});

test.run();
