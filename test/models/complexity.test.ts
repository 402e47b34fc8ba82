/**
 * countParams / countMacs / countFlops against hand-computed values, and the paper-size PSPNet-R18
 * against Table 5 (13.07 M params, 125.8 G "FLOPs" = mmcv MACs at 512×1024).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import { buildModel, countFlops, countMacs, countParams, createModel, layerCosts, modelConfig } from '../../lib/models';

test.before(async () => { await initBackend({ quiet: true }); });

test('a hand-built conv / depthwise / dense model: exact MACs and params', () => {
  const x = tf.input({ shape: [null, null, 3] });
  let y = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: true }).apply(x) as tf.SymbolicTensor;
  y = tf.layers.depthwiseConv2d({ kernelSize: 5, padding: 'same', useBias: false }).apply(y) as tf.SymbolicTensor;
  y = tf.layers.dense({ units: 4 }).apply(y) as tf.SymbolicTensor;
  const model = tf.model({ inputs: x, outputs: y });
  // input 10x14 → conv s2 'same' → 5x7 (35 px): 35·8·(3·3·3) = 7560 MACs; params 3·3·3·8 + 8 = 224
  // depthwise 5x5 on 8 ch at 35 px: 35·8·25 = 7000 MACs; params 200
  // dense 8→4 at 35 px: 35·4·8 = 1120 MACs; params 36
  assert.is(countMacs(model, [10, 14]), 7560 + 7000 + 1120);
  assert.is(countFlops(model, [10, 14]), 2 * (7560 + 7000 + 1120));
  assert.is(countParams(model), 224 + 200 + 36);
  model.dispose();
});

test('tiny PSPNet-ResNet: params and MACs equal the hand count, layer by layer', () => {
  const net = buildModel(modelConfig('pspnet-resnet', {
    numClasses: 3, inputSize: [32, 64], dropout: 0,
    backbone: { block: 'basic', blocks: [1, 1, 1, 1], baseChannels: 2, stemChannels: 4, stem: 'classic' },
    head: { bins: [1, 2], poolChannels: 2, channels: 4 },
  }));
  // [name, MACs, params] at 32x64 input; "+bn" = 2·channels (gamma, beta)
  const px4 = 16 * 32; // stem output (stride 2)
  const px = 8 * 16; // after max-pool (stride 4): layer1
  const px8 = 4 * 8; // stride 8: layers 2-4 and head
  const hand: [string, number, number][] = [
    ['stem 7x7 3→4 /2', px4 * 4 * 49 * 3, 49 * 3 * 4 + 8],
    ['layer1 conv1 4→2', px * 2 * 9 * 4, 72 + 4], ['layer1 conv2 2→2', px * 2 * 9 * 2, 36 + 4], ['layer1 down 4→2', px * 2 * 4, 8 + 4],
    ['layer2 conv1 2→4 /2', px8 * 4 * 9 * 2, 72 + 8], ['layer2 conv2 4→4', px8 * 4 * 9 * 4, 144 + 8], ['layer2 down', px8 * 4 * 2, 8 + 8],
    ['layer3 conv1 4→8 (dil 1)', px8 * 8 * 9 * 4, 288 + 16], ['layer3 conv2 8→8 (dil 2)', px8 * 8 * 9 * 8, 576 + 16], ['layer3 down', px8 * 8 * 4, 32 + 16],
    ['layer4 conv1 8→16 (dil 2)', px8 * 16 * 9 * 8, 1152 + 32], ['layer4 conv2 16→16 (dil 4)', px8 * 16 * 9 * 16, 2304 + 32], ['layer4 down', px8 * 16 * 8, 128 + 32],
    ['ppm bin1 16→2 at 1x1', 1 * 2 * 16, 32 + 4], ['ppm bin2 16→2 at 2x2', 4 * 2 * 16, 32 + 4],
    ['bottleneck 3x3 (16+2+2)→4', px8 * 4 * 9 * 20, 9 * 20 * 4 + 8],
    ['logits 1x1 4→3 + bias', px8 * 3 * 4, 12 + 3],
  ];
  const macs = hand.reduce((s, [, m]) => s + m, 0);
  const params = hand.reduce((s, [, , p]) => s + p, 0);
  assert.is(countMacs(net, [32, 64]), macs);
  assert.is(countMacs(net), macs, 'defaults to config.inputSize');
  assert.is(countParams(net), params);
  assert.is(countParams(net), net.model.countParams() - net.model.nonTrainableWeights.reduce((s, w) => s + w.shape.reduce((a: number, b) => a * (b as number), 1), 0));
  // the MAC-bearing layers, in order, are exactly the hand list
  assert.equal(layerCosts(net, [32, 64]).filter((l) => l.macs > 0).map((l) => l.macs).sort((a, b) => a - b), hand.map(([, m]) => m).sort((a, b) => a - b));
  // and a forward pass at that size produces the shapes the counter assumed
  tf.tidy(() => {
    const [feature, logits] = net.model.predict(tf.zeros([1, 32, 64, 3])) as tf.Tensor[];
    assert.equal(feature.shape, [1, 4, 8, 4]);
    assert.equal(logits.shape, [1, 4, 8, 3]);
  });
  net.model.dispose();
});

test('MACs scale with the pixel count; countFlops = 2·countMacs', () => {
  const net = createModel('student-r18-0.5', { inputSize: [64, 128] });
  const small = countMacs(net, [128, 256]);
  const big = countMacs(net, [256, 512]);
  // PPM branches at fixed bins do not scale, everything else does: ratio just under 4
  assert.ok(big / small > 3.99 && big / small <= 4, `ratio ${big / small}`);
  assert.is(countFlops(net, [256, 512]), 2 * big);
  assert.throws(() => countMacs(net, [0, 10]), /inputSize must be \[H, W\] with positive integers/);
  net.model.dispose();
});

test('paper-size PSPNet-R18 at 512x1024 is within 5% of Table 5 (13.07 M params, 125.8 G MACs)', () => {
  const net = createModel('paper-pspnet-r18');
  const params = countParams(net) / 1e6;
  const gmacs = countMacs(net, [512, 1024]) / 1e9;
  // the paper's counts also include the auxiliary FCN head and mmcv's BN/ReLU FLOPs
  assert.ok(Math.abs(params / 13.07 - 1) < 0.05, `params ${params.toFixed(3)} M`);
  assert.ok(Math.abs(gmacs / 125.8 - 1) < 0.05, `GMACs ${gmacs.toFixed(2)}`);
  net.model.dispose();
});

test.run();
