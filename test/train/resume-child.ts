/**
 * Child process of the kill/resume test: trains the tiny stand-in net in a run folder (resuming from
 * its checkpoint when there is one) and writes the final weights to <runDir>/final-weights.json.
 *   npx tsx test/train/resume-child.ts <runDir> <iters> <checkpointEvery> <delayMs>
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { patchCpuBackend } from '../../lib/backend/cpu';
import { Trainer } from '../../lib/train/trainer';
import { buildTerms } from '../../lib/train/build-terms';
import { tinyNet, toyData } from './helpers';

(async () => {
  const [runDir, iters, every, delay] = process.argv.slice(2);
  await tf.setBackend('cpu');
  patchCpuBackend();
  const teacher = tinyNet(9, 12);
  const student = tinyNet(1, 8);
  const termCfg = [{ method: 'cwd', on: 'feature' as const, weight: 3, temperature: 4 }, { method: 'holistic', on: 'logits' as const, weight: 0.01, discChannels: 4 }];
  const terms = buildTerms(termCfg, { student, teacher, seed: 0 });
  const base = toyData(4);
  const data = { batch: async (s: number, b: number) => { await new Promise((r) => setTimeout(r, Number(delay))); return base.batch(s, b); } };
  const tr = new Trainer({
    student, teacher, terms, data, runDir,
    config: { iters: Number(iters), batchSize: 2, lr: 0.02, checkpointEvery: Number(every), terms: termCfg },
  });
  const at = await tr.resume();
  process.stdout.write(`resumed ${at}\n`);
  await tr.train();
  const weights = student.model.getWeights().map((w) => Array.from(w.dataSync()));
  const aligner = terms[0].stateTensors().map((w) => Array.from(w.dataSync()));
  fs.writeFileSync(path.join(runDir, 'final-weights.json'), JSON.stringify({ weights, aligner, step: tr.step }));
})();
