/**
 * Memory over many training steps: `tf.memory().numTensors` after every step must stay flat
 * (no tensor growth), and the peak resident set size of the process is reported.
 * Runs lib/train's Trainer.trainStep on the default teacher/student with a fixed random batch.
 */
import * as tf from '@tensorflow/tfjs';
import { Recorder, backendThreads, errorMessage, progress } from './common';
import { loadTraining, StepSetup } from './step';

export interface MemoryBenchOptions {
  setup: StepSetup;
  teacher: string;
  student: string;
  batch: number;
  size: [number, number];
  steps: number;
  tag: string;
}

export interface MemoryResult {
  growth: number | null;
  numTensors: number[];
}

function peakRssMB(): number {
  return process.resourceUsage().maxRSS / 1024; // maxRSS is in kilobytes
}

export async function benchMemory(rec: Recorder, o: MemoryBenchOptions): Promise<MemoryResult> {
  const shape = { input: [o.batch, o.size[0], o.size[1], 3] };
  const res: MemoryResult = { growth: null, numTensors: [] };
  const api = loadTraining();
  const student = api.buildNet(o.student, o.size);
  const teacher = api.buildNet(o.teacher, o.size);
  const made = api.makeTrainer(student, teacher, o.batch, o.size, o.setup);
  const rss: number[] = [];
  const bytes: number[] = [];
  try {
    progress(`memory: ${o.steps} steps of batch ${o.batch} at ${o.size.join('x')}`);
    const t0 = performance.now();
    for (let i = 0; i < o.steps; i++) {
      await made.trainer.trainStep();
      const m = tf.memory();
      res.numTensors.push(m.numTensors);
      bytes.push(m.numBytes);
      rss.push(process.memoryUsage().rss / 2 ** 20);
      if ((i + 1) % Math.max(1, Math.floor(o.steps / 10)) === 0) {
        progress(`  memory step ${i + 1}/${o.steps}: numTensors ${m.numTensors}, rss ${rss[rss.length - 1].toFixed(0)} MB, ${((performance.now() - t0) / (i + 1)).toFixed(0)} ms/step`);
      }
    }
    // growth after the first step (the first step creates optimiser slots)
    const base = res.numTensors[Math.min(1, res.numTensors.length - 1)];
    res.growth = res.numTensors[res.numTensors.length - 1] - base;
    const maxGrowth = Math.max(...res.numTensors.slice(1).map((n) => n - base));
    const th = backendThreads();
    rec.add({
      name: `memory.${o.tag}.tensor_growth`, value: res.growth, unit: 'tensors', backend: tf.getBackend(), threads: th, shape,
      steps: o.steps, num_tensors_step1: res.numTensors[0], num_tensors_step2: base,
      num_tensors_last: res.numTensors[res.numTensors.length - 1], max_growth: maxGrowth,
    });
    rec.add({
      name: `memory.${o.tag}.tf_bytes_growth`, value: (bytes[bytes.length - 1] - bytes[Math.min(1, bytes.length - 1)]) / 2 ** 20, unit: 'MB',
      backend: tf.getBackend(), threads: th, shape, tf_bytes_last_mb: bytes[bytes.length - 1] / 2 ** 20,
    });
    rec.add({
      name: `memory.${o.tag}.peak_rss`, value: peakRssMB(), unit: 'MB', backend: tf.getBackend(), threads: th, shape,
      rss_step1_mb: rss[0], rss_last_mb: rss[rss.length - 1], steps: o.steps,
    });
  } catch (e) {
    rec.unavailable(`memory.${o.tag}.tensor_growth`, 'tensors', `failed: ${errorMessage(e)}`, { shape });
  } finally {
    made.dispose();
    student.model.dispose();
    teacher.model.dispose();
  }
  return res;
}
