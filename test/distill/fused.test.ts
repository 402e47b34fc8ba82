/**
 * The fused native loss kernels (lib/backend/loss-kernels.ts, lib/backend/native/loss_kernels.cc) that
 * lib/distill selects on wasm, against the composed tf ops of the same losses (the path every other
 * backend runs, held to the PyTorch goldens): values and student gradients at odd shapes (batch 1, C = 1,
 * one pixel, odd H×W, more channels than one kernel block, student/teacher channel counts that differ),
 * several temperatures, ±1e4 activations, all-zero maps and tied maxima; finite-difference checks of
 * the fused gradients; zero teacher gradient; tf.memory().numTensors flat over repeated fwd+bwd.
 * With CWD_NATIVE=0 (no addon) it checks that the composed path is the one in use.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { nativeKernelsStatus, startWasmBackend } from '../../lib/backend/index';
import { fusedLossesActive, setFusedLosses } from '../../lib/backend/loss-kernels';
import { getLoss } from '../../lib/distill';
import { relMaxError, seededNormal } from './helpers';

type Opts = Record<string, unknown>;
interface Case { loss: string; options?: Opts; s: number[]; t?: number[]; magnitude?: number; ties?: boolean; zeros?: boolean }

const SOFTMAX = ['cwd', 'pi', 'channel-mse', 'bhattacharyya', 'spatial-mse', 'spatial-bhattacharyya'];
const FUSED = [...SOFTMAX, 'channel-mean-mse', 'at', 'pa', 'mse', 'local'];
const SHAPES = [[1, 5, 7, 3], [2, 9, 11, 1], [3, 4, 6, 19], [1, 1, 1, 4], [2, 5, 6, 70], [2, 70, 3, 2]];

const CASES: Case[] = [
  ...[...SOFTMAX, 'channel-mean-mse', 'at', 'mse'].flatMap((loss) => SHAPES.map((s) => ({ loss, s }))),
  ...SHAPES.filter((s) => s[1] * s[2] > 1).map((s) => ({ loss: 'local', s })),
  { loss: 'local', s: [1, 1, 5, 3] },
  { loss: 'local', s: [2, 5, 4, 3], t: [2, 5, 4, 9] },
  { loss: 'local', s: [2, 5, 4, 3], zeros: true },                           // all distances 0: gradient 0 there
  { loss: 'mse', options: { reduction: 'pixel' }, s: [2, 5, 7, 6] },
  { loss: 'mse', options: { reduction: 'sum' }, s: [2, 5, 7, 6] },
  { loss: 'cwd', options: { temperature: 1 }, s: [2, 5, 7, 6] },
  { loss: 'cwd', options: { temperature: 0.5 }, s: [1, 8, 3, 5] },
  { loss: 'pi', options: { temperature: 2 }, s: [2, 5, 7, 6] },
  { loss: 'channel-mse', options: { temperature: 3 }, s: [2, 5, 7, 6] },
  { loss: 'bhattacharyya', options: { temperature: 2 }, s: [2, 5, 7, 6] },
  { loss: 'spatial-mse', options: { temperature: 0.7 }, s: [2, 5, 7, 6] },
  { loss: 'spatial-bhattacharyya', options: { temperature: 0.7 }, s: [2, 5, 7, 6] },
  ...SOFTMAX.map((loss) => ({ loss, s: [2, 6, 5, 4], magnitude: 1e4 })),
  { loss: 'at', s: [2, 5, 7, 3], t: [2, 5, 7, 8] },
  { loss: 'at', s: [2, 5, 7, 3], zeros: true },
  { loss: 'pa', s: [2, 9, 11, 3] },                                           // scale 0.5: 4×5 windows, partial last ones
  { loss: 'pa', s: [2, 9, 11, 3], t: [2, 9, 11, 7], options: { detachNorm: false } },
  { loss: 'pa', s: [1, 5, 7, 3], options: { window: [2, 2] } },
  { loss: 'pa', s: [3, 6, 6, 1], options: { window: [2, 3], detachNorm: false } },
  { loss: 'pa', s: [1, 2, 1, 4], options: { window: [1, 1] } },                // two 1-pixel nodes
  { loss: 'pa', s: [2, 8, 8, 5], options: { window: [3, 3] }, ties: true },   // integer maps: tied maxima split the gradient
  { loss: 'pa', s: [2, 8, 8, 5], options: { window: [2, 2], detachNorm: false }, zeros: true },
];

/** Value and student gradient of `weight · loss(s, t)` (weight ≠ 1 checks the upstream gradient dy). */
function evaluate(c: Case, fused: boolean, seed: number): { value: number; grad: Float32Array; numTensors: number } {
  const prev = setFusedLosses(fused);
  try {
    const mk = (shape: number[], k: number) => {
      if (c.zeros && k === 0) return tf.zeros(shape as [number, number, number, number]) as tf.Tensor4D;
      const x = seededNormal(shape, seed + k, c.magnitude ?? 1);
      if (!c.ties) return x;
      const r = tf.round(tf.mul(x, 1.5)) as tf.Tensor4D;
      x.dispose();
      return r;
    };
    const s = mk(c.s, 0);
    const t = mk(c.t ?? c.s, 1);
    const fn = getLoss(c.loss).fn;
    const options: Opts = { ...(getLoss(c.loss).defaultConfig() as Opts), ...(c.options ?? {}) };
    const { value, grads } = tf.valueAndGrads((x: tf.Tensor) => tf.mul(fn(x as tf.Tensor4D, t, options), 3.7) as tf.Scalar)([s]);
    const out = { value: value.dataSync()[0], grad: Float32Array.from(grads[0].dataSync()), numTensors: 0 };
    tf.dispose([s, t, value, grads[0]]);
    out.numTensors = tf.memory().numTensors;
    return out;
  } finally {
    setFusedLosses(prev);
  }
}

let previousBackend = '';
let native = false;

test.before(async () => {
  previousBackend = tf.getBackend();
  if (!(await startWasmBackend())) throw new Error('the wasm backend did not start');
  await tf.setBackend('wasm');
  native = nativeKernelsStatus()?.loaded === true;
});

test.after(async () => {
  if (previousBackend) await tf.setBackend(previousBackend);
});

test('fused losses are in use exactly when wasm runs with the native addon (CWD_NATIVE=0: composed)', () => {
  assert.is(fusedLossesActive(), native && process.env.CWD_NATIVE_LOSSES !== '0', `native addon: ${nativeKernelsStatus()?.note || 'loaded'}`);
  if (process.env.CWD_NATIVE !== '0') assert.ok(native, `the native addon should build and load here: ${nativeKernelsStatus()?.note}`);
});

test('every fused loss of the registry is covered by a case below', () => {
  for (const name of FUSED) assert.ok(CASES.some((c) => c.loss === name), name);
});

CASES.forEach((c, i) => {
  const label = `${c.loss} ${JSON.stringify(c.options ?? {})} s${JSON.stringify(c.s)}${c.t ? ` t${JSON.stringify(c.t)}` : ''}`
    + `${c.magnitude ? ` ×${c.magnitude}` : ''}${c.ties ? ' (ties)' : ''}${c.zeros ? ' (student all zero)' : ''}`;
  test(`fused = composed, value and gradient: ${label}`, () => {
    if (!fusedLossesActive()) return;
    const composed = evaluate(c, false, 100 + i);
    const fused = evaluate(c, true, 100 + i);
    const large = (c.magnitude ?? 1) > 100;
    const vTol = large ? 1e-4 : 1e-5;
    assert.ok(Number.isFinite(fused.value), `${label}: fused value ${fused.value}`);
    assert.ok(Math.abs(fused.value - composed.value) <= vTol * Math.abs(composed.value) + 1e-7,
      `${label}: fused ${fused.value} vs composed ${composed.value}`);
    // relative to the largest entry, plus 1e-7 absolute: degenerate cases (one-hot softmaxes at ±1e4, a 1×1 PA
    // map) have float32 gradients of exactly 0 where the double-accumulated fused ones are ~1e-8
    const gMax = composed.grad.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const gDiff = relMaxError(fused.grad, composed.grad, 1) * Math.max(gMax, 1);
    assert.ok(gDiff <= (large ? 1e-3 : 1e-4) * gMax + 1e-7,
      `${label}: gradient max difference ${gDiff} (largest entry ${gMax})`);
  });
});

test('fused gradients match central finite differences along random directions', () => {
  if (!fusedLossesActive()) return;
  const checks: Case[] = [
    ...FUSED.filter((l) => l !== 'pa').map((loss) => ({ loss, s: [2, 5, 6, 4] })),
    { loss: 'cwd', options: { temperature: 1 }, s: [1, 7, 3, 2] },
    { loss: 'at', s: [2, 5, 6, 4], t: [2, 5, 6, 9] },
    { loss: 'pa', s: [2, 6, 6, 4], options: { window: [3, 3], detachNorm: false } },
    { loss: 'pa', s: [2, 6, 6, 4], options: { window: [2, 2] } },  // detached norm: d/ds of the value with ‖f‖ held fixed
  ];
  checks.forEach((c, k) => {
    tf.tidy(() => {
      const s = seededNormal(c.s, 500 + k);
      const t = seededNormal(c.t ?? c.s, 600 + k);
      const v = seededNormal(c.s, 700 + k, 1);
      const fn = getLoss(c.loss).fn;
      const options: Opts = { ...(getLoss(c.loss).defaultConfig() as Opts), ...(c.options ?? {}) };
      const g = tf.grad((x: tf.Tensor) => fn(x as tf.Tensor4D, t, options))(s);
      const analytic = tf.sum(tf.mul(g, v)).dataSync()[0];
      if (c.loss === 'pa' && options.detachNorm) {
        // the SKD gradient treats the norm as a constant: compare with the composed (autodiff) gradient instead
        const prev = setFusedLosses(false);
        const gc = tf.grad((x: tf.Tensor) => fn(x as tf.Tensor4D, t, options))(s);
        setFusedLosses(prev);
        assert.ok(relMaxError(g.dataSync(), gc.dataSync()) < 1e-4, 'pa detachNorm: fused vs composed gradient');
        return;
      }
      const eps = 2e-3;
      const at = (sign: number) => fn(tf.add(s, tf.mul(v, sign * eps)) as tf.Tensor4D, t, options).dataSync()[0];
      const numeric = (at(1) - at(-1)) / (2 * eps);
      const scale = Math.abs(analytic) + Math.abs(fn(s, t, options).dataSync()[0]) * 1e-2 + 1e-6;
      assert.ok(Math.abs(numeric - analytic) <= 3e-3 * scale,
        `${c.loss} ${JSON.stringify(c.options ?? {})}: directional derivative ${analytic} vs finite difference ${numeric}`);
    });
  });
});

test('fused losses: the teacher gets an all-zero gradient, and a forward pass alone allocates nothing else', () => {
  if (!fusedLossesActive()) return;
  for (const loss of FUSED) {
    const s = seededNormal([2, 6, 6, 3], 11);
    const t = seededNormal([2, 6, 6, 3], 12);
    const fn = getLoss(loss).fn;
    const gt = tf.grad((x: tf.Tensor) => fn(s, x as tf.Tensor4D))(t);
    assert.equal(gt.shape, t.shape);
    assert.ok(gt.dataSync().every((x) => x === 0), `${loss}: teacher gradient must be zero`);
    const before = tf.memory().numTensors;
    const v = fn(s, t);
    assert.is(tf.memory().numTensors, before + 1, `${loss}: forward pass leaves only its scalar`);
    tf.dispose([s, t, gt, v]);
  }
});

test('fused losses: tf.memory().numTensors stays flat over 30 fwd+bwd of each loss', () => {
  if (!fusedLossesActive()) return;
  const s = seededNormal([2, 8, 8, 5], 21);
  const t = seededNormal([2, 8, 8, 5], 22);
  const step = (loss: string) => {
    const fn = getLoss(loss).fn;
    const { value, grads } = tf.valueAndGrads((x: tf.Tensor) => fn(x as tf.Tensor4D, t))([s]);
    value.dataSync();
    tf.dispose([value, grads[0]]);
  };
  for (const loss of FUSED) step(loss);
  const before = tf.memory().numTensors;
  for (let r = 0; r < 30; r++) for (const loss of FUSED) step(loss);
  assert.is(tf.memory().numTensors, before, 'numTensors after 30 × every fused loss');
  tf.dispose([s, t]);
});

test.run();
