/**
 * GPU check for the `webgpu` backend: which adapter Dawn finds, whether it computes what the cpu
 * backend computes, and how long the KD training step takes. No network, no weights: random init.
 *
 *   npm run gpu-check                          # hardware adapter required
 *   npm run gpu-check -- --allow-software      # also on Mesa llvmpipe (tiny sizes unless --sizes)
 *   npm run gpu-check -- --sizes 128x128x4,256x512x8 --steps 5 --budget-s 540 --json-out FILE
 *   node gpu-check.cjs [same options]          # the packed folder (npm run gpu-check:pack)
 *
 * Sections:
 * 1. machine: Node, CPU, `nvidia-smi`, the Vulkan/EGL loaders and driver manifests it can see;
 * 2. adapters: every Dawn probe (Vulkan/Metal/D3D12 default, then OpenGL ES through EGL) and the one used;
 * 3. agreement with cpu: matMul, conv forward and gradients (strided, dilated, depthwise), the
 *    bilinear-resize gradient (incl. the 1-pixel alignCorners case), int→float casts, rank-6 pads,
 *    the task loss and CWD with gradients, and two KD training steps (student-r18 ← teacher, 64×64);
 * 4. step times: the KD step (bench/step.ts's setup: CWD on the feature map, SGD) at each size
 *    (H×W×batch; default 128x128x4,256x512x8 on hardware, 64x64x1,64x128x2 on a software adapter):
 *    2 warm-up steps (shader compilation), then the median of `--steps`; sizes that would not fit in
 *    `--budget-s` (default 540 s, counted from the start) are skipped and reported as such.
 * Prints one line per result, writes a JSON report (default gpu-check-<date>.json in the current
 * directory) and exits 1 if a check failed or no acceptable adapter was found.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { execFileSync } from 'child_process';

// Packed (esbuild bundle + dawn.node side by side): use that dawn.node.
if (!process.env.CWD_DAWN_NODE && fs.existsSync(path.join(__dirname, 'dawn.node'))) {
  process.env.CWD_DAWN_NODE = path.join(__dirname, 'dawn.node');
}
process.env.CWD_QUIET_BACKEND = '1';

import * as tf from '@tensorflow/tfjs';
import { probeWebgpuAdapters, startWebgpuBackend, describeAdapter, libraryFindable, type WebgpuAdapterInfo } from '../lib/backend/webgpu';
import { patchCpuBackend } from '../lib/backend/cpu';
import { registerDilatedConvGradients } from '../lib/backend/gradients';
import { channelWiseDivergence } from '../lib/distill/cwd';
import { crossEntropy2d } from '../lib/train/loss';
import { loadTraining, defaultSetup } from '../bench/step';
import { EXPERIMENT_DEFAULTS } from '../lib/train/config';

interface Options { sizes: [number, number, number][] | null; steps: number; budgetS: number; jsonOut: string; allowSoftware: boolean; skipAgreement: boolean }

function parseArgs(argv: string[]): Options {
  const o: Options = { sizes: null, steps: 5, budgetS: 540, jsonOut: `gpu-check-${new Date().toISOString().replace(/[:.]/g, '-')}.json`, allowSoftware: false, skipAgreement: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${a} needs a value`);
      return x;
    };
    if (a === '--sizes') {
      o.sizes = v().split(',').map((s) => {
        const m = /^(\d+)x(\d+)x(\d+)$/.exec(s.trim());
        if (!m) throw new Error(`--sizes: '${s}' is not HxWxBATCH (e.g. 256x512x8)`);
        return [Number(m[1]), Number(m[2]), Number(m[3])] as [number, number, number];
      });
    } else if (a === '--steps') o.steps = Math.max(1, parseInt(v(), 10));
    else if (a === '--budget-s') o.budgetS = Number(v());
    else if (a === '--json-out') o.jsonOut = v();
    else if (a === '--allow-software') o.allowSoftware = true;
    else if (a === '--skip-agreement') o.skipAgreement = true;
    else if (a === '--help' || a === '-h') {
      // packed: the bundle's source comes along as gpu-check.ts.txt
      const src = fs.existsSync(path.join(__dirname, 'gpu-check.ts.txt')) ? path.join(__dirname, 'gpu-check.ts.txt') : __filename;
      console.log(fs.readFileSync(src, 'utf8').split('*/')[0].replace(/^\/\*\*?|^ \* ?/gm, ''));
      process.exit(0);
    } else throw new Error(`unknown option '${a}' (see --help)`);
  }
  if (!(o.budgetS > 0)) throw new Error('--budget-s must be > 0');
  return o;
}

const t0 = performance.now();
const elapsedS = () => (performance.now() - t0) / 1000;
const report: Record<string, unknown> = { date: new Date().toISOString(), command: process.argv.slice(1).join(' ') };
const failures: string[] = [];
const line = (s: string) => console.log(s);

function sh(cmd: string, args: string[]): string | null {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

function machine(): Record<string, unknown> {
  const manifests = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/share/glvnd/egl_vendor.d', '/etc/glvnd/egl_vendor.d']
    .flatMap((d) => (fs.existsSync(d) ? fs.readdirSync(d).map((f) => path.join(d, f)) : []));
  const libs = ['libvulkan.so.1', 'libEGL.so', 'libEGL.so.1', 'libEGL_nvidia.so.0', 'libGLX_nvidia.so.0', 'libnvidia-glcore.so']
    .map((l) => ({ [l]: process.platform === 'linux' ? libraryFindable(l) : null }));
  const m = {
    node: process.version, platform: `${process.platform}-${process.arch}`, cpu: os.cpus()[0]?.model ?? '?', cores: os.cpus().length,
    memGiB: Math.round(os.totalmem() / 2 ** 30), tfjs: tf.version.tfjs,
    nvidiaSmi: sh('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader']),
    libraries: Object.assign({}, ...libs), driverManifests: manifests,
    env: Object.fromEntries(['NVIDIA_DRIVER_CAPABILITIES', 'NVIDIA_VISIBLE_DEVICES', 'VK_ICD_FILENAMES', 'VK_DRIVER_FILES', 'EGL_PLATFORM', 'LD_LIBRARY_PATH', 'CWD_DAWN_NODE']
      .filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]])),
  };
  return m;
}

// ------------------------------------------------------------------------------ agreement ------
function rng(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(1664525, x) + 1013904223) >>> 0;
    a[i] = x / 2 ** 32 - 0.5;
  }
  return a;
}
const R = (shape: number[], seed: number) => tf.tensor(rng(shape.reduce((a, b) => a * b, 1), seed), shape);

async function onBackend(name: string, fn: () => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(name);
  const out = tf.tidy(fn);
  const list = Array.isArray(out) ? out : [out];
  const vals: Float32Array[] = [];
  for (const t of list) vals.push(Float32Array.from(await t.data()));
  tf.dispose(list);
  return vals;
}

function relErr(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return Number.isFinite(d) ? d / Math.max(m, 1e-12) : Infinity;
}

const CHECKS: { name: string; tol: number; fn: () => tf.Tensor | tf.Tensor[] }[] = [
  { name: 'matMul 256×256', tol: 1e-5, fn: () => tf.matMul(R([256, 256], 1), R([256, 256], 2)) },
  { name: 'conv2d 3×3 forward [2,32,32,8]→16', tol: 1e-5, fn: () => tf.conv2d(R([2, 32, 32, 8], 3) as tf.Tensor4D, R([3, 3, 8, 16], 4) as tf.Tensor4D, 1, 'same') },
  { name: 'conv2d stride-2 gradients (dx, dW)', tol: 1e-5, fn: () => tf.grads((x: tf.Tensor, w: tf.Tensor) => tf.sum(tf.square(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, 'same'))))([R([2, 32, 32, 8], 3), R([3, 3, 8, 16], 4)]) },
  { name: 'dilated conv2d (rate 2) gradients', tol: 1e-5, fn: () => tf.grads((x: tf.Tensor, w: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same', 'NHWC', 2), R([2, 20, 24, 6], 7))))([R([2, 20, 24, 5], 5), R([3, 3, 5, 6], 6)]) },
  { name: 'depthwise conv2d gradients', tol: 1e-5, fn: () => tf.grads((x: tf.Tensor, w: tf.Tensor) => tf.sum(tf.square(tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'))))([R([2, 16, 20, 8], 8), R([3, 3, 8, 1], 9)]) },
  { name: 'resizeBilinear gradient, 1-pixel input, alignCorners (PSPNet 1×1 bin)', tol: 1e-5, fn: () => tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.image.resizeBilinear(x as tf.Tensor4D, [8, 8], true), R([2, 8, 8, 4], 10))))(R([2, 1, 1, 4], 11)) },
  { name: 'resizeBilinear gradient, halfPixelCenters 5×7→40×56', tol: 1e-5, fn: () => tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.image.resizeBilinear(x as tf.Tensor4D, [40, 56], false, true), R([2, 40, 56, 3], 12))))(R([2, 5, 7, 3], 13)) },
  { name: 'cast int32→float32 of a one-hot, then transpose', tol: 0, fn: () => tf.transpose(tf.cast(tf.oneHot(tf.tensor2d([0, 3, 2, 1, 1, 0], [2, 3], 'int32'), 5), 'float32'), [0, 2, 1]) },
  { name: 'pad rank 6', tol: 0, fn: () => tf.pad(R([2, 3, 1, 4, 1, 2], 14), [[0, 0], [0, 0], [0, 1], [0, 0], [0, 1], [0, 0]]) },
  { name: 'softmax cross-entropy (upsampled logits, ignore 255) + gradient', tol: 1e-5, fn: () => {
    const labels = tf.tensor3d(Int32Array.from(rng(2 * 32 * 32, 15), (u, i) => (i % 17 === 0 ? 255 : Math.floor((u + 0.5) * 19) % 19)), [2, 32, 32], 'int32');
    const { value, grads } = tf.valueAndGrads((l: tf.Tensor) => crossEntropy2d(l as tf.Tensor4D, labels))([R([2, 8, 8, 19], 16)]);
    return [value, grads[0]];
  } },
  { name: 'CWD (T=4) value + gradient', tol: 1e-5, fn: () => {
    const { value, grads } = tf.valueAndGrads((s: tf.Tensor) => channelWiseDivergence(s as tf.Tensor4D, R([2, 16, 16, 32], 17) as tf.Tensor4D, { temperature: 4 }))([R([2, 16, 16, 32], 18)]);
    return [value, grads[0]];
  } },
];

async function agreement(): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for (const c of CHECKS) {
    let err = Infinity;
    let why = '';
    try {
      const g = await onBackend('webgpu', c.fn);
      const cpu = await onBackend('cpu', c.fn);
      err = Math.max(...g.map((v, i) => relErr(v, cpu[i])));
    } catch (e) {
      why = (e as Error).message;
    }
    const ok = err <= Math.max(c.tol, 1e-7);
    if (!ok) failures.push(`agreement: ${c.name}: ${why || `rel err ${err}`}`);
    line(`  ${ok ? 'PASS' : 'FAIL'}  ${c.name}: max |webgpu − cpu| / max |cpu| = ${Number.isFinite(err) ? err.toExponential(2) : why}`);
    rows.push({ name: c.name, relErr: Number.isFinite(err) ? err : null, tol: c.tol, ok, ...(why ? { error: why } : {}) });
  }
  rows.push(await kdAgreement());
  return rows;
}

/** Two KD steps (student-r18 ← teacher, 64×64×1) on cpu and on webgpu from the same init. */
async function kdAgreement(): Promise<Record<string, unknown>> {
  const name = 'KD training step ×2, student-r18 ← teacher 64×64×1: losses and weight updates';
  try {
    const api = loadTraining();
    const { setup } = defaultSetup('paper');
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const student = api.buildNet(EXPERIMENT_DEFAULTS.student, [64, 64]);
      const teacher = api.buildNet(EXPERIMENT_DEFAULTS.teacher, [64, 64]);
      const w0: Float32Array[] = [];
      for (const t of student.model.getWeights()) w0.push(Float32Array.from(await t.data()));
      const { trainer, dispose } = api.makeTrainer(student, teacher, 1, [64, 64], setup);
      const losses = [(await trainer.trainStep()).loss, (await trainer.trainStep()).loss];
      const dw: Float32Array[] = [];
      const ws = student.model.getWeights();
      for (let i = 0; i < ws.length; i++) dw.push((await ws[i].data()).map((v, j) => v - w0[i][j]) as Float32Array);
      dispose();
      student.model.dispose();
      teacher.model.dispose();
      return { losses, dw };
    };
    const c = await run('cpu');
    const g = await run('webgpu');
    const lossErr = Math.max(...c.losses.map((l, i) => Math.abs(g.losses[i] - l) / Math.abs(l)));
    const updErr = Math.max(...c.dw.map((d, i) => (d.some((v) => v !== 0) ? relErr(g.dw[i], d) : 0)));
    const ok = lossErr < 2e-4 && updErr < 2e-3;
    if (!ok) failures.push(`agreement: ${name}: loss rel ${lossErr}, update rel ${updErr}`);
    line(`  ${ok ? 'PASS' : 'FAIL'}  ${name}: loss rel ${lossErr.toExponential(2)} (tol 2e-4), worst weight update rel ${updErr.toExponential(2)} (tol 2e-3); losses cpu ${c.losses.map((l) => l.toFixed(6))} webgpu ${g.losses.map((l) => l.toFixed(6))}`);
    return { name, ok, lossRelErr: lossErr, updateRelErr: updErr, lossesCpu: c.losses, lossesWebgpu: g.losses };
  } catch (e) {
    failures.push(`agreement: ${name}: ${(e as Error).message}`);
    line(`  FAIL  ${name}: ${(e as Error).message}`);
    return { name, ok: false, error: (e as Error).message };
  }
}

// ------------------------------------------------------------------------------ step times -----
async function stepTimes(sizes: [number, number, number][], steps: number, budgetS: number): Promise<Record<string, unknown>[]> {
  const api = loadTraining();
  const { setup } = defaultSetup('paper');
  await tf.setBackend('webgpu');
  const rows: Record<string, unknown>[] = [];
  let msPerPixel: number | null = null;
  for (const [h, w, b] of sizes) {
    const tag = `${h}x${w}x${b}`;
    const left = budgetS - elapsedS();
    const projected = msPerPixel === null ? null : (msPerPixel * h * w * b * (steps + 2)) / 1000 * 1.5 + 30;
    if (projected !== null && projected > left) {
      line(`  SKIP  ${tag}: projected ${projected.toFixed(0)} s (from the previous size) > ${left.toFixed(0)} s left of --budget-s ${budgetS}`);
      rows.push({ size: tag, skipped: `projected ${projected.toFixed(0)} s > ${left.toFixed(0)} s left` });
      continue;
    }
    const n0 = tf.memory().numTensors;
    try {
      const tb = performance.now();
      const student = api.buildNet(EXPERIMENT_DEFAULTS.student, [h, w]);
      const teacher = api.buildNet(EXPERIMENT_DEFAULTS.teacher, [h, w]);
      const { trainer, dispose } = api.makeTrainer(student, teacher, b, [h, w], setup);
      const warm: number[] = [];
      for (let i = 0; i < 2; i++) {
        const s = performance.now();
        await trainer.trainStep();
        warm.push(performance.now() - s);
      }
      const times: number[] = [];
      let loss = NaN;
      for (let i = 0; i < steps; i++) {
        const s = performance.now();
        loss = (await trainer.trainStep()).loss;
        times.push(performance.now() - s);
      }
      const med = [...times].sort((x, y) => x - y)[Math.floor(times.length / 2)];
      const mem = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number; numBytesInGPUAllocated?: number };
      dispose();
      student.model.dispose();
      teacher.model.dispose();
      msPerPixel = med / (h * w * b);
      const row = {
        size: tag, medianMs: Math.round(med), imagesPerSec: +(b / (med / 1000)).toFixed(3), stepsMs: times.map(Math.round),
        warmupMs: warm.map(Math.round), buildAndWarmupS: +((performance.now() - tb) / 1000 - times.reduce((a, c) => a + c, 0) / 1000).toFixed(1),
        lastLoss: loss, gpuBytesAllocated: mem.numBytesInGPUAllocated ?? mem.numBytesInGPU ?? null, tensorsLeft: tf.memory().numTensors - n0,
      };
      line(`  TIME  KD step ${tag} (student-r18 ← teacher, ${setup.label}): median ${row.medianMs} ms over ${steps} (${row.imagesPerSec} img/s); warm-up ${row.warmupMs.join(', ')} ms; loss ${loss.toFixed(4)}`);
      if (!Number.isFinite(loss)) failures.push(`step ${tag}: loss ${loss}`);
      rows.push(row);
    } catch (e) {
      const msg = (e as Error).message;
      failures.push(`step ${tag}: ${msg}`);
      line(`  FAIL  KD step ${tag}: ${msg}`);
      rows.push({ size: tag, error: msg });
    }
  }
  return rows;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  line('== machine');
  const m = machine();
  report.machine = m;
  line(`  node ${m.node} ${m.platform}, ${m.cores} × ${m.cpu}, ${m.memGiB} GiB, tfjs ${m.tfjs}`);
  line(`  nvidia-smi: ${m.nvidiaSmi ?? 'not found / no NVIDIA GPU'}`);
  line(`  libraries found: ${Object.entries(m.libraries as Record<string, boolean>).map(([k, v]) => `${k} ${v ? 'yes' : 'no'}`).join(', ')}`);
  line(`  driver manifests: ${(m.driverManifests as string[]).join(', ') || 'none'}`);

  line('== adapters');
  const probe = await probeWebgpuAdapters({ allowSoftware: true, tryOpenGLES: true });
  probe.probes.forEach((p) => line(`  probe ${p}`));
  const started = await startWebgpuBackend({ allowSoftware: o.allowSoftware, tryOpenGLES: true });
  report.adapters = { probes: probe.probes, used: started.adapter, started: started.ok, why: started.why };
  if (!started.ok) {
    failures.push(`no acceptable adapter: ${started.why}`);
    line(`  FAIL  ${started.why}`);
    if (probe.info?.software && !o.allowSoftware) line('  (only a software adapter: --allow-software runs the check on it, for correctness only)');
    line('  Hints: Vulkan needs libvulkan.so.1 (Debian/Ubuntu: libvulkan1) and the driver\'s ICD manifest (NVIDIA: nvidia_icd.json; in containers NVIDIA_DRIVER_CAPABILITIES must include graphics); EGL needs libEGL.so (libegl-dev) and the driver\'s EGL vendor library.');
    return finish(o);
  }
  const a = started.adapter as WebgpuAdapterInfo;
  line(`  USING ${describeAdapter(a)}; maxBufferSize ${(a.limits.maxBufferSize / 2 ** 20).toFixed(0)} MiB, maxStorageBufferBindingSize ${(a.limits.maxStorageBufferBindingSize / 2 ** 20).toFixed(0)} MiB`);
  await tf.setBackend('cpu');
  patchCpuBackend();
  registerDilatedConvGradients();

  if (!o.skipAgreement) {
    line('== agreement with the cpu backend');
    report.agreement = await agreement();
  }

  const sizes = o.sizes ?? (a.software ? [[64, 64, 1], [64, 128, 2]] as [number, number, number][] : [[128, 128, 4], [256, 512, 8]] as [number, number, number][]);
  line(`== KD step times on webgpu${!o.sizes && a.software ? ' (software adapter: small default sizes; --sizes to change)' : ''}`);
  report.steps = await stepTimes(sizes, o.steps, o.budgetS);
  return finish(o);
}

function finish(o: Options): void {
  report.failures = failures;
  report.elapsedS = +elapsedS().toFixed(1);
  fs.writeFileSync(o.jsonOut, JSON.stringify(report, null, 1));
  line(`== ${failures.length ? `FAILED (${failures.length})` : 'OK'} in ${elapsedS().toFixed(0)} s; report: ${path.resolve(o.jsonOut)}`);
  failures.forEach((f) => line(`  - ${f}`));
  process.exit(failures.length ? 1 : 0);
}

main().catch((e) => {
  console.error(`gpu-check: ${(e as Error).stack ?? e}`);
  process.exit(2);
});
