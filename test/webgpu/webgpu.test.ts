/**
 * The webgpu subset: run by test/run.ts in its own process with CWD_BACKEND=webgpu (on a machine
 * without a GPU that is Mesa llvmpipe through EGL, ~10× slower than wasm: keep every case tiny).
 * - the ResizeBilinearGrad workaround (1-pixel alignCorners) and every resize-gradient flag vs cpu;
 * - the loss golden cases (value + student gradient) vs the PyTorch float64 reference and vs cpu;
 * - gradient checks: dilated conv2d/depthwise vs the expanded-filter formulation and vs cpu,
 *   central finite differences;
 * - one KD training step of the project's student-r18 ← teacher (CWD, SGD momentum) vs cpu.
 * Every read is `await t.data()`: webgpu has no synchronous reads in Node.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import { patchCpuBackend, probeWebgpuAdapters, webgpuReport, webgpuStockKernel } from '../../lib/backend/index';
import {
  attentionTransfer, channelBhattacharyya, channelMeanMSE, channelNormMSE, channelWiseDivergence,
  getLoss, ifvd, localAffinity, mse, pairwiseAffinity, pixelWiseKD,
} from '../../lib/distill';
import { buildModel, modelConfig } from '../../lib/models';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Trainer } from '../../lib/train/trainer';
import { evaluate } from '../../lib/train/evaluate';
import { tinyNet, toyData, toyVal } from '../train/helpers';
import { buildTerms } from '../../lib/train/build-terms';
import { methodPreset } from '../../lib/train/presets';
import { defaultTrainConfig } from '../../lib/train/config';
import { GoldenCase, inputTensor, loadGolden, relMaxError } from '../distill/helpers';
import { dilateFilter, randomValues, relMaxDiff, undilateFilter } from '../backend/helpers';

type Out = { shape: number[]; values: Float32Array };

/** Run `fn` on `backend` (inputs made inside it), read every output asynchronously. */
async function on(backend: string, fn: () => tf.Tensor | tf.Tensor[]): Promise<Out[]> {
  const prev = tf.getBackend();
  await tf.setBackend(backend);
  try {
    const outs = tf.tidy(fn);
    const list = Array.isArray(outs) ? outs : [outs];
    const res: Out[] = [];
    for (const t of list) res.push({ shape: t.shape.slice(), values: Float32Array.from(await t.data()) });
    tf.dispose(list);
    return res;
  } finally {
    await tf.setBackend(prev);
  }
}

const rand = (shape: number[], seed: number) => tf.tensor(randomValues(shape.reduce((a, b) => a * b, 1), seed), shape);

test.before(async () => {
  if (process.env.CWD_BACKEND !== 'webgpu') throw new Error('test/webgpu runs with CWD_BACKEND=webgpu (test/run.ts starts it so)');
  await initBackend({ quiet: true });
  assert.is(tf.getBackend(), 'webgpu');
  await tf.setBackend('cpu');
  patchCpuBackend();
  await tf.setBackend('webgpu');
});

test('webgpu backend is in use and names its adapter', () => {
  const r = webgpuReport();
  assert.ok(r?.ok && r.adapter, JSON.stringify(r));
  assert.ok((r!.adapter!.device + r!.adapter!.description + r!.adapter!.vendor).length > 0, 'adapter without a name');
  console.log(`    adapter: ${JSON.stringify(r!.adapter)}`);
});

test('a software adapter is used only when forced: without allowSoftware the probe returns none', async () => {
  const r = webgpuReport()!;
  if (!r.adapter!.software) return;   // a GPU machine: nothing to check here
  const p = await probeWebgpuAdapters({ allowSoftware: false, tryOpenGLES: true });
  assert.is(p.adapter, null, `a software adapter was accepted unforced: ${p.probes.join('; ')}`);
  assert.ok(p.info?.software, 'the software adapter is reported');
});

// ---------------------------------------------------------------- ResizeBilinearGrad ----------
test('ResizeBilinearGrad regression: 1-pixel input with alignCorners (1×1→8×8 gives 64, not 0)', async () => {
  const [g] = await on('webgpu', () => tf.grad((x: tf.Tensor) => tf.sum(tf.image.resizeBilinear(x as tf.Tensor4D, [8, 8], true)))(tf.ones([1, 1, 1, 3])));
  assert.equal(Array.from(g.values), [64, 64, 64]);
  // and the stock kernel is still broken (when this fails, upstream fixed it: drop the workaround)
  const stock = webgpuStockKernel('ResizeBilinearGrad');
  assert.ok(stock, 'the stock webgpu ResizeBilinearGrad kernel was not kept');
  const [s] = await on('webgpu', () => {
    const images = tf.ones([1, 1, 1, 3]);
    const dy = tf.ones([1, 8, 8, 3]);
    const b = tf.backend();
    const info = stock!.kernelFunc({ inputs: { images, dy }, attrs: { alignCorners: true, halfPixelCenters: false }, backend: b }) as tf.TensorInfo;
    return tf.engine().makeTensorFromTensorInfo(info);
  });
  assert.equal(Array.from(s.values), [0, 0, 0], 'stock kernel: zeros (the upstream bug)');
});

test('resizeBilinear gradient == cpu for every flag, 1-pixel high/wide and ordinary sizes', async () => {
  const cases: [number, number, number, number, boolean, boolean][] = [
    [1, 1, 8, 8, true, false], [1, 5, 7, 9, true, false], [6, 1, 9, 4, true, false], [3, 5, 8, 9, true, false],
    [5, 7, 10, 13, false, false], [5, 7, 10, 13, false, true], [1, 1, 4, 6, false, true], [8, 8, 1, 1, true, false],
  ];
  for (const [i, [ih, iw, oh, ow, ac, hp]] of cases.entries()) {
    const fn = () => {
      const x = rand([2, ih, iw, 3], 70 + i);
      const m = rand([2, oh, ow, 3], 90 + i);
      return tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.image.resizeBilinear(a as tf.Tensor4D, [oh, ow], ac, hp), m)))(x);
    };
    const [g] = await on('webgpu', fn);
    const [c] = await on('cpu', fn);
    assert.equal(g.shape, [2, ih, iw, 3]);
    const d = relMaxDiff(g.values, c.values);
    assert.ok(d < 1e-5, `${ih}×${iw}→${oh}×${ow} alignCorners ${ac} halfPixel ${hp}: rel diff ${d}`);
  }
});

// ---------------------------------------------------------------- loss golden cases -----------
const golden = loadGolden();
type LossFn = (s: tf.Tensor4D, t: tf.Tensor4D, o: any) => tf.Scalar;
const FNS: Record<string, LossFn> = {
  channelWiseDivergence, pixelWiseKD, attentionTransfer, localAffinity, pairwiseAffinity, ifvd, mse,
  channelNormMSE, channelBhattacharyya, channelMeanMSE,
  'spatial-mse': getLoss('spatial-mse').fn as LossFn,
  'spatial-bhattacharyya': getLoss('spatial-bhattacharyya').fn as LossFn,
};

test('loss golden cases on webgpu: value and student gradient vs the PyTorch reference and vs cpu', async () => {
  const cases = golden.cases.filter((c: GoldenCase) => c.loss in FNS);
  assert.ok(cases.length >= 25, `only ${cases.length} golden cases`);
  const before = tf.memory().numTensors;
  for (const c of cases) {
    const fn = () => {
      const s = inputTensor(golden, c.student) as tf.Tensor4D;
      const t = inputTensor(golden, c.teacher) as tf.Tensor4D;
      const o: Record<string, unknown> = { ...c.options };
      if (typeof o.labels === 'string') o.labels = inputTensor(golden, o.labels, 'int32');
      const { value, grads } = tf.valueAndGrads((x: tf.Tensor) => FNS[c.loss](x as tf.Tensor4D, t, o))([s]);
      return [value, grads[0]];
    };
    const [v, g] = await on('webgpu', fn);
    const [cv, cg] = await on('cpu', fn);
    const large = c.name.includes('large');
    const val = v.values[0];
    assert.ok(Math.abs(val - c.value) <= (large ? 1e-4 : 2e-5) * Math.abs(c.value) + 1e-7, `${c.name}: value ${val} vs reference ${c.value}`);
    assert.ok(Math.abs(val - cv.values[0]) <= 2e-5 * Math.abs(cv.values[0]) + 1e-7, `${c.name}: value ${val} vs cpu ${cv.values[0]}`);
    const gRef = relMaxError(g.values, c.grad_student);
    assert.ok(gRef <= (large ? 1e-3 : 1e-4), `${c.name}: gradient error ${gRef} of its largest entry vs the reference`);
    const gCpu = relMaxError(g.values, cg.values);
    assert.ok(gCpu <= (large ? 1e-3 : 1e-4), `${c.name}: gradient error ${gCpu} vs cpu`);
  }
  assert.is(tf.memory().numTensors, before, 'tensors leaked');
});

// ---------------------------------------------------------------- gradient checks -------------
type Shape4 = [number, number, number, number];
const convCases: { x: Shape4; f: Shape4; pad: 'same' | 'valid'; d: number; dw: boolean; s?: number }[] = [
  { x: [2, 10, 12, 3], f: [3, 3, 3, 4], pad: 'same', d: 2, dw: false },
  { x: [1, 11, 9, 2], f: [3, 3, 2, 3], pad: 'valid', d: 2, dw: false },
  { x: [2, 10, 12, 3], f: [3, 3, 3, 1], pad: 'same', d: 2, dw: true },
  { x: [2, 9, 11, 3], f: [3, 3, 3, 5], pad: 'same', d: 1, dw: false, s: 2 },
];

test('conv gradients (dilated, depthwise, strided) on webgpu == expanded-filter formulation == cpu', async () => {
  for (const [i, c] of convCases.entries()) {
    const op = (d: number) => (x: tf.Tensor4D, w: tf.Tensor4D) => (c.dw
      ? tf.depthwiseConv2d(x, w, c.s ?? 1, c.pad, 'NHWC', d)
      : tf.conv2d(x, w, c.s ?? 1, c.pad, 'NHWC', d));
    const fn = () => {
      const x = rand(c.x, 31 + i) as tf.Tensor4D;
      const w = rand(c.f, 32 + i) as tf.Tensor4D;
      const m = rand(op(c.d)(x, w).shape, 33 + i);
      const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(op(c.d)(a as tf.Tensor4D, b as tf.Tensor4D), m)))([x, w]);
      const we = dilateFilter(w, c.d, c.d);
      const [rdx, rdwe] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(op(1)(a as tf.Tensor4D, b as tf.Tensor4D), m)))([x, we]);
      return [dx, dw, rdx, undilateFilter(rdwe as tf.Tensor4D, c.f[0], c.f[1], c.d, c.d)];
    };
    const [gx, gw, rx, rw] = await on('webgpu', fn);
    const [cx, cw] = await on('cpu', fn);
    const tag = `x ${c.x} f ${c.f} ${c.pad} d ${c.d}${c.dw ? ' depthwise' : ''}${c.s ? ` stride ${c.s}` : ''}`;
    assert.ok(relMaxDiff(gx.values, rx.values) < 1e-5 && relMaxDiff(gw.values, rw.values) < 1e-5, `${tag}: vs expanded filter`);
    assert.ok(relMaxDiff(gx.values, cx.values) < 1e-5, `${tag}: dx vs cpu ${relMaxDiff(gx.values, cx.values)}`);
    assert.ok(relMaxDiff(gw.values, cw.values) < 1e-5, `${tag}: dW vs cpu ${relMaxDiff(gw.values, cw.values)}`);
  }
});

test('dilated conv2d and half-pixel resize gradients on webgpu match central finite differences', async () => {
  const x = rand([1, 7, 8, 2], 41) as tf.Tensor4D;
  const w = rand([3, 3, 2, 3], 42) as tf.Tensor4D;
  const m = rand([1, 11, 13, 2], 43);
  const convLoss = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.sigmoid(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same', 'NHWC', 2)))) as tf.Scalar;
  const resizeLoss = (a: tf.Tensor) => tf.sum(tf.mul(tf.tanh(tf.image.resizeBilinear(a as tf.Tensor4D, [11, 13], false, true)), m)) as tf.Scalar;
  const [gx, gw] = tf.grads(convLoss)([x, w]);
  const gr = tf.grad(resizeLoss)(x);
  const eps = 1e-2;
  const num = async (f: (t: tf.Tensor) => tf.Scalar, t: tf.Tensor, idx: number[]) => {
    const at = async (s: number) => {
      const v = tf.tidy(() => { const b = tf.buffer(t.shape); b.set(s, ...idx); return f(tf.add(t, b.toTensor())); });
      const r = (await v.data())[0];
      v.dispose();
      return r;
    };
    return ((await at(eps)) - (await at(-eps))) / (2 * eps);
  };
  const flat = (shape: number[], idx: number[]) => idx.reduce((a, v, k) => a * shape[k] + v, 0);
  const [gxv, gwv, grv] = [await gx.data(), await gw.data(), await gr.data()];
  for (const idx of [[0, 0, 0, 0], [1, 2, 1, 2], [2, 1, 0, 1]]) {
    const n = await num((t) => convLoss(x, t), w, idx);
    const a = gwv[flat(w.shape, idx)];
    assert.ok(Math.abs(n - a) < 2e-3 + 2e-3 * Math.abs(a), `conv dW[${idx}] numeric ${n} analytic ${a}`);
  }
  for (const idx of [[0, 0, 0, 0], [0, 4, 5, 1], [0, 6, 7, 0]]) {
    const n = await num((t) => convLoss(t, w), x, idx);
    const a = gxv[flat(x.shape, idx)];
    assert.ok(Math.abs(n - a) < 2e-3 + 2e-3 * Math.abs(a), `conv dx[${idx}] numeric ${n} analytic ${a}`);
    const nr = await num(resizeLoss, x, idx);
    const ar = grv[flat(x.shape, idx)];
    assert.ok(Math.abs(nr - ar) < 3e-3 + 1e-3 * Math.abs(ar), `resize dx[${idx}] numeric ${nr} analytic ${ar}`);
  }
  tf.dispose([x, w, m, gx, gw, gr]);
});

// ---------------------------------------------------------------- one KD step -----------------
test('one KD training step (student-r18 ← teacher, CWD, SGD momentum) on webgpu == cpu', async () => {
  const size: [number, number] = [64, 64];
  const batch = 1;
  const terms = methodPreset('cwd-feature');
  const base = defaultTrainConfig();
  const imgs = randomValues(batch * size[0] * size[1] * 3, 5);
  const labs = Int32Array.from(randomValues(batch * size[0] * size[1], 6), (u, i) => (i < size[1] ? 255 : Math.floor((u + 1) * 9.5) % 19));
  // Fresh nets on each backend (same seeds → same initial weights; checked): the classifier's channel
  // dropout counts its calls, and a webgpu → cpu move would need a synchronous read.
  const runStep = async (backend: string) => {
    await tf.setBackend(backend);
    const student = buildModel(modelConfig('student-r18', { inputSize: size }));
    const teacher = buildModel(modelConfig('teacher', { inputSize: size }));
    const read = async (net: typeof student) => {
      const out: Float32Array[] = [];
      for (const t of net.model.getWeights()) out.push(Float32Array.from(await t.data()));
      return out;
    };
    const init = await read(student);
    const teacherInit = await read(teacher);
    const built = buildTerms(terms, { student, teacher, seed: 0 });
    const data = { batch: () => ({ images: tf.tensor4d(imgs, [batch, ...size, 3]), labels: tf.tensor3d(labs, [batch, ...size], 'int32'), ids: [] }) };
    const tr = new Trainer({ student, teacher, terms: built, data, config: { iters: 1, batchSize: batch, terms, checkpointEvery: 0, logEvery: 1_000_000, optimizer: base.optimizer, lr: base.lr } });
    const t0 = performance.now();
    const r = await tr.trainStep();
    const ms = performance.now() - t0;
    const n1 = tf.memory().numTensors;
    const r2 = await tr.trainStep();   // a second step: no tensor may be left behind by a step
    const grew = tf.memory().numTensors - n1;
    const weights = await read(student);
    tr.dispose();
    student.model.dispose();
    teacher.model.dispose();
    return { r, r2, init, teacherInit, weights, ms, grew, names: student.model.weights.map((w) => w.originalName) };
  };
  const c = await runStep('cpu');
  const g = await runStep('webgpu');
  console.log(`    KD step ${size.join('×')}×${batch}: cpu ${c.ms.toFixed(0)} ms, webgpu ${g.ms.toFixed(0)} ms (first step, shaders compiled); loss ${c.r.loss} vs ${g.r.loss}`);
  assert.ok(Math.abs(g.r.loss - c.r.loss) <= 2e-4 * Math.abs(c.r.loss), `loss webgpu ${g.r.loss} vs cpu ${c.r.loss}`);
  assert.ok(Math.abs(g.r.ce - c.r.ce) <= 2e-4 * Math.abs(c.r.ce), `ce webgpu ${g.r.ce} vs cpu ${c.r.ce}`);
  for (const [k, v] of Object.entries(c.r.terms)) assert.ok(Math.abs(g.r.terms[k] - v) <= 2e-4 * Math.abs(v) + 1e-6, `${k}: webgpu ${g.r.terms[k]} vs cpu ${v}`);
  const same = (a: Float32Array[], b: Float32Array[]) => a.length === b.length && a.every((x, i) => relMaxDiff(x, b[i]) === 0);
  assert.ok(same(c.init, g.init) && same(c.teacherInit, g.teacherInit), 'initial weights differ between backends');
  assert.ok(Math.abs(g.r2.loss - c.r2.loss) <= 1e-3 * Math.abs(c.r2.loss), `second step loss webgpu ${g.r2.loss} vs cpu ${c.r2.loss}`);
  // the change of each weight over the two steps, relative to its largest entry
  let worst = 0;
  let worstName = '';
  c.weights.forEach((cw, i) => {
    const du = cw.map((v, j) => v - c.init[i][j]);
    const dg = g.weights[i].map((v, j) => v - c.init[i][j]);
    if (du.every((v) => v === 0)) return;
    const err = relMaxDiff(dg, du);
    if (err > worst) { worst = err; worstName = c.names[i]; }
  });
  assert.ok(worst < 2e-3, `weight updates differ from cpu by ${worst} of their largest entry (${worstName})`);
  assert.is(c.grew, 0, `cpu: a step left ${c.grew} tensors`);
  assert.is(g.grew, 0, `webgpu: a step left ${g.grew} tensors`);
});

// ------------------------------------------------------ the training loop around the step -----
test('training loop on webgpu: CWD + holistic terms, checkpoints, resume, evaluation == cpu', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cwd-webgpu-'));
  const cfg = [{ method: 'cwd', on: 'feature' as const, weight: 3, temperature: 4 }, { method: 'holistic', on: 'logits' as const, weight: 0.1, discChannels: 4 }];
  const run = async (backend: string, runDir: string | undefined, stopAfter?: number) => {
    await tf.setBackend(backend);
    const teacher = tinyNet(2, 12);
    const student = tinyNet(4, 8);
    const terms = buildTerms(cfg, { student, teacher, seed: 0 });
    const tr = new Trainer({ student, teacher, terms, runDir, config: { iters: 4, batchSize: 2, lr: 0.02, terms: cfg, checkpointEvery: 2 }, data: toyData(9) });
    const resumed = runDir ? await tr.resume() : null;
    const n0 = tf.memory().numTensors;
    let recs;
    if (stopAfter) {
      // a run killed after its checkpoint at step `stopAfter`
      recs = [];
      for (let i = 0; i < stopAfter; i++) recs.push(await tr.trainStep());
      await tr.saveCheckpoint();
    } else recs = await tr.train();
    const grew = tf.memory().numTensors - n0;
    const ev = await evaluate(student, toyVal(2, 2));
    const w: Float32Array[] = [];
    for (const t of student.model.getWeights()) w.push(Float32Array.from(await t.data()));
    tr.dispose();
    teacher.model.dispose();
    student.model.dispose();
    return { recs, ev, w, grew, resumed };
  };
  try {
    const c = await run('cpu', undefined);
    const g1 = await run('webgpu', path.join(dir, 'r'), 2);          // stops after step 2 (a checkpoint)
    assert.ok(fs.readdirSync(path.join(dir, 'r')).length > 0, 'nothing written to the run folder');
    const g = await run('webgpu', path.join(dir, 'r'));              // resumes at 2, trains 2 more
    assert.is(g.resumed, 2, `resumed at ${g.resumed}`);
    const gl = [...g1.recs, ...g.recs].map((r) => r.loss);
    const cl = c.recs.map((r) => r.loss);
    assert.is(gl.length, 4);
    gl.forEach((l, i) => assert.ok(Math.abs(l - cl[i]) <= 1e-3 * Math.abs(cl[i]), `step ${i}: loss webgpu ${l} vs cpu ${cl[i]}`));
    assert.ok(Number.isFinite(g.recs[1].terms['holistic@logits.d_loss']), 'critic loss logged');
    assert.ok(Math.abs(g.ev.mIoU - c.ev.mIoU) < 1e-6, `mIoU webgpu ${g.ev.mIoU} vs cpu ${c.ev.mIoU}`);
    const worst = Math.max(...c.w.map((v, i) => relMaxDiff(g.w[i], v)));
    assert.ok(worst < 1e-3, `final weights differ from cpu by ${worst}`);
    assert.is(g.grew, 0, `webgpu: ${g.grew} tensors left by training`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
