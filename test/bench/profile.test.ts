/**
 * The bench's measuring instrument: kernel profile aggregation (nesting depth, each backward conv
 * matched with its forward conv at the same shapes), robust statistics, and the issue-6 target
 * verdicts computed from figures.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { median, round, timeAsync } from '../../bench/common';
import { aggregateKernels, backwardVsForward, convKey, KernelRecord, profileKernels } from '../../bench/profile';
import { checkTargets, markdown } from '../../bench/report';
import type { Figure } from '../../bench/common';

const k = (name: string, ms: number, inputShapes: number[][], outputShapes: number[][], depth = 1, parent = ''): KernelRecord =>
  ({ name, ms, depth, parent, inputShapes, outputShapes });

test('median and round', () => {
  assert.is(median([3, 1, 2]), 2);
  assert.is(median([4, 1, 3, 2]), 2.5);
  assert.throws(() => median([]), /empty/);
  assert.is(round(1234.5678, 3), 1235);
  assert.is(round(0.00123456, 3), 0.00123);
  assert.is(round(NaN), null);
});

test('timeAsync: warm-up calls are not timed, the median is of the timed calls, a budget caps slow repeats at >= 3', async () => {
  let calls = 0;
  const t = await timeAsync(async () => { calls++; }, 5, 2);
  assert.is(calls, 7);
  assert.is(t.all.length, 5);
  let slow = 0;
  const s = await timeAsync(async () => { slow++; await new Promise((r) => setTimeout(r, 20)); }, 10, 1, 30);
  assert.is(s.all.length, 3);
  assert.is(slow, 4);
  assert.ok(s.median >= 15, `median ${s.median}`);
});

test('convKey gives forward conv, filter gradient and input gradient of one layer the same key', () => {
  const x = [2, 16, 32, 64];
  const w = [3, 3, 64, 32];
  const y = [2, 16, 32, 32];
  const fwd = convKey(k('Conv2D', 1, [x, w], [y]));
  assert.is(fwd, convKey(k('FusedConv2D', 1, [x, w, [32]], [y])));
  assert.is(fwd, convKey(k('Conv2DBackpropFilter', 1, [x, y], [w])));
  assert.is(fwd, convKey(k('Conv2DBackpropInput', 1, [y, w], [x])));
  assert.is.not(fwd, convKey(k('Conv2D', 1, [x, [1, 1, 64, 32]], [y])));
  assert.is(convKey(k('Relu', 1, [x], [x])), null);
});

test('backwardVsForward: per-call means at matching shapes; nested forward convs count only inside __op scopes', () => {
  const x = [1, 8, 8, 4];
  const w = [3, 3, 4, 4];
  const kernels = [
    k('FusedConv2D', 2, [x, w], [x], 2, 'fusedConv2d__op'), // forward through the fused-op wrapper
    k('FusedConv2D', 4, [x, w], [x], 2, 'fusedConv2d__op'), // a second call: mean 3 ms
    k('Conv2D', 100, [x, w], [x], 2, 'Conv2DBackpropInput'), // inside a JS backward kernel: not a forward
    k('Conv2DBackpropFilter', 9, [x, x], [w]),
    k('Conv2DBackpropInput', 3, [x, w], [x]),
    k('DepthwiseConv2dNativeBackpropFilter', 5, [x, x], [[3, 3, 4, 1]]), // no forward at that shape
  ];
  const pairs = backwardVsForward(kernels);
  const bf = pairs.find((p) => p.kernel === 'Conv2DBackpropFilter')!;
  assert.is(bf.forwardMs, 3);
  assert.is(bf.ratio, 3);
  assert.is(pairs.find((p) => p.kernel === 'Conv2DBackpropInput')!.ratio, 1);
  assert.ok(Number.isNaN(pairs.find((p) => p.kernel.startsWith('Depthwise'))!.forwardMs));
});

test('aggregateKernels sums per name at one depth with shares', () => {
  const agg = aggregateKernels([k('A', 3, [], []), k('B', 1, [], []), k('A', 1, [], []), k('C', 50, [], [], 2)]);
  assert.equal(agg.map((a) => [a.name, a.ms, a.calls, a.share]), [['A', 4, 2, 0.8], ['B', 1, 1, 0.2]]);
});

test('profileKernels tags kernels run inside a custom-gradient op with depth 2 and the op as parent', async () => {
  const prev = tf.getBackend();
  await tf.setBackend('cpu');
  try {
    const sq = tf.customGrad(((x: tf.Tensor) => ({ value: tf.mul(x, x), gradFunc: (dy: tf.Tensor) => tf.mul(dy, tf.mul(x, 2)) })) as unknown as Parameters<typeof tf.customGrad>[0]);
    const x = tf.ones([4, 4]);
    const before = tf.memory().numTensors;
    const { kernels } = await profileKernels(() => tf.tidy(() => tf.add(sq(x) as tf.Tensor, 1)));
    assert.is(tf.memory().numTensors, before, 'profileKernels disposes the result');
    const add = kernels.find((r) => r.name === 'Add')!;
    assert.is(add.depth, 1);
    const inner = kernels.find((r) => r.name === 'Multiply')!;
    assert.is(inner.depth, 2);
    assert.ok(inner.parent !== '', 'nested kernel has a parent');
    x.dispose();
  } finally {
    if (prev) await tf.setBackend(prev);
  }
});

test('checkTargets: PASS/FAIL with the numbers, NOT MEASURED when a figure is missing', () => {
  const base = { backend: 'wasm', threads: 2 };
  const figs: Figure[] = [
    { ...base, name: 'step.256x512', value: 900, unit: 'ms', ratio_vs_torch: 3, torch_ms: 300 },
    { ...base, name: 'step.256x512.images_per_s', value: 8.9, unit: 'images/s' },
    { ...base, name: 'profile.256x512.bwd_vs_fwd.Conv2DBackpropFilter', value: 1.5, unit: 'x', worst_shape_ratio: 2.5, worst_shape: 'k' },
    { ...base, name: 'memory.128x256.tensor_growth', value: 0, unit: 'tensors', max_growth: 0, steps: 200, num_tensors_step2: 10, num_tensors_last: 10 },
  ];
  const c = checkTargets(figs, '256x512');
  assert.equal(c.map((x) => x.verdict), ['FAIL', 'PASS', 'PASS', 'NOT MEASURED']);
  assert.match(c[0].detail, /3\.00× wall time/);
  figs.push({ ...base, name: 'pipeline.images_per_s', value: 60, unit: 'images/s' });
  assert.is(checkTargets(figs, '256x512')[3].verdict, 'PASS');
  const md = markdown(figs, {
    command: 'npm run bench', backend: 'wasm', threads: 2, torch: '1.13',
    machine: { nproc: 2, cpu: 'X', node: 'v20', tfjs: '4.22.0', date: '2026-01-01T00:00:00Z' },
  }, '256x512');
  assert.match(md, /\| KD training step/);
  assert.match(md, /\*\*FAIL\*\*/);
});

test.run();
