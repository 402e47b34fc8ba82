/**
 * Measures the model presets: params, GFLOPs (2·MACs) at 256×512 and 128×256, forward ms and
 * train-step ms (batch 4 at 128×256, SGD on softmax cross-entropy of upsampled logits) on the
 * backend picked by initBackend (CWD_BACKEND=wasm to force). Prints a markdown table.
 *   npx tsx test/models/measure-presets.ts [preset ...] [--steps N] [--batch B] [--size HxW]
 *   npx tsx test/models/measure-presets.ts --counts   # params / FLOPs of every preset, no timing
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import { PRESETS, countFlops, countMacs, countParams, createModel, forward, trainableVariables, upsampleLogits } from '../../lib/models';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function printCounts(): void {
  console.log('| preset | arch | feature ch | params (M) | GFLOPs 256×512 | GFLOPs 128×256 | GMACs 512×1024 | paper: params (M) / "FLOPs" (G MACs, 512×1024) |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const name of Object.keys(PRESETS)) {
    const net = createModel(name);
    const p = PRESETS[name].paper;
    console.log(`| ${name} | ${net.config.arch} | ${net.featureChannels} | ${(countParams(net) / 1e6).toFixed(3)} | `
      + `${(countFlops(net, [256, 512]) / 1e9).toFixed(2)} | ${(countFlops(net, [128, 256]) / 1e9).toFixed(2)} | `
      + `${(countMacs(net, [512, 1024]) / 1e9).toFixed(1)} | ${p ? `${p.name}: ${p.paramsM} / ${p.gflops}` : ''} |`);
    net.model.dispose();
  }
}

async function main(): Promise<void> {
  if (process.argv.includes('--counts')) { printCounts(); return; }
  const backend = await initBackend();
  const steps = Number(arg('--steps', '3'));
  const batch = Number(arg('--batch', '4'));
  const [h, w] = arg('--size', '128x256').split('x').map(Number);
  const names = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && !(all[i - 1] ?? '').startsWith('--'));
  const presets = names.length ? names : Object.keys(PRESETS).filter((n) => !n.startsWith('paper-'));
  console.log(`backend ${backend}, batch ${batch} at ${h}x${w}, median of ${steps} steps after 1 warm-up; ${new Date().toISOString()}`);
  console.log('| preset | params (M) | GFLOPs 256×512 | GFLOPs 128×256 | forward ms | train-step ms | loss first→last |');
  console.log('|---|---|---|---|---|---|---|');
  for (const name of presets) {
    const net = createModel(name, { inputSize: [h, w] });
    const x = tf.randomNormal([batch, h, w, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const labels = tf.oneHot(tf.randomUniform([batch, h, w], 0, net.config.numClasses, 'int32', 2), net.config.numClasses);
    const fwd: number[] = [];
    for (let i = 0; i <= steps; i++) {
      const t0 = performance.now();
      const out = tf.tidy(() => forward(net, x).logits);
      await out.data();
      out.dispose();
      if (i > 0) fwd.push(performance.now() - t0);
    }
    const opt = tf.train.momentum(0.01, 0.9);
    const vars = trainableVariables(net);
    const train: number[] = [];
    const losses: number[] = [];
    for (let i = 0; i <= steps; i++) {
      const t0 = performance.now();
      const loss = opt.minimize(() => {
        const { logits } = forward(net, x, { training: true });
        return tf.losses.softmaxCrossEntropy(labels, upsampleLogits(logits, [h, w])) as tf.Scalar;
      }, true, vars) as tf.Scalar;
      losses.push((await loss.data())[0]);
      loss.dispose();
      if (i > 0) train.push(performance.now() - t0);
    }
    console.log(`| ${name} | ${(countParams(net) / 1e6).toFixed(3)} | ${(countFlops(net, [256, 512]) / 1e9).toFixed(2)} | `
      + `${(countFlops(net, [128, 256]) / 1e9).toFixed(2)} | ${median(fwd).toFixed(0)} | ${median(train).toFixed(0)} | `
      + `${losses[0].toFixed(3)}→${losses[losses.length - 1].toFixed(3)} |`);
    tf.dispose([x, labels]);
    opt.dispose();
    net.model.dispose();
  }
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
