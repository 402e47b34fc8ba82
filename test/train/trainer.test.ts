import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { Trainer } from '../../lib/train/trainer';
import { buildTerms } from '../../lib/train/build-terms';
import { evaluate } from '../../lib/train/evaluate';
import { fileIOHandler, loadWeightsInto } from '../../lib/train/checkpoint';
import { tinyNet, toyData, toyVal } from './helpers';
import { patchCpuBackend } from '../../lib/backend/cpu';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'cd-train-'));
let prevBackend = '';
test.before(async () => { prevBackend = tf.getBackend(); await tf.setBackend('cpu'); patchCpuBackend(); });
test.after(async () => { if (prevBackend) await tf.setBackend(prevBackend); });

test('baseline training: loss decreases, mIoU rises above init, numTensors flat over steps', async () => {
  const net = tinyNet(1);
  const init = await evaluate(net, toyVal());
  const tr = new Trainer({ student: net, config: { iters: 60, batchSize: 4, lr: 0.05, checkpointEvery: 0 }, data: toyData(1) });
  const first = await tr.trainStep();
  const n0 = tf.memory().numTensors;
  const recs = await tr.train();
  assert.is(tf.memory().numTensors, n0, 'no tensor growth over 59 steps');
  const early = first.ce;
  const late = recs.slice(-5).reduce((a, r) => a + r.ce, 0) / 5;
  assert.ok(late < early * 0.6, `CE ${early} → ${late}`);
  const after = await evaluate(net, toyVal());
  assert.ok(after.mIoU > init.mIoU + 0.2, `mIoU ${init.mIoU} → ${after.mIoU}`);
  assert.is(after.perClassIoU.length, 4);
  tr.dispose();
});

test('distillation: CWD on features through a 1×1 aligner (channels differ), PI on logits; terms logged by name; teacher untouched', async () => {
  const teacher = tinyNet(2, 12);
  await new Trainer({ student: teacher, config: { iters: 40, batchSize: 4, lr: 0.05 }, data: toyData(2) }).train();
  const tBefore = teacher.model.getWeights().map((w) => w.dataSync().slice());
  const student = tinyNet(3, 8);
  const termCfg = [
    { method: 'cwd', on: 'feature' as const, weight: 3, temperature: 4 },
    { method: 'pi', on: 'logits' as const, weight: 1, temperature: 1 },
  ];
  const terms = buildTerms(termCfg, { student, teacher, seed: 0 });
  const tr = new Trainer({ student, teacher, terms, config: { iters: 40, batchSize: 4, lr: 0.05, terms: termCfg }, data: toyData(3) });
  const first = await tr.trainStep();
  assert.equal(Object.keys(first.terms), ['cwd@feature', 'pi@logits']);
  const alignerBefore = terms[0].studentVariables()[0].dataSync().slice();
  const n0 = tf.memory().numTensors;
  const recs = await tr.train();
  assert.is(tf.memory().numTensors, n0);
  const last = recs[recs.length - 1];
  assert.ok(last.terms['cwd@feature'] < first.terms['cwd@feature'], `cwd ${first.terms['cwd@feature']} → ${last.terms['cwd@feature']}`);
  assert.ok(last.loss < first.loss);
  close(last.loss, last.ce + 3 * last.terms['cwd@feature'] + last.terms['pi@logits'], 1e-4);
  assert.not.equal(terms[0].studentVariables()[0].dataSync(), alignerBefore, 'aligner trained');
  teacher.model.getWeights().forEach((w, i) => assert.equal(w.dataSync(), tBefore[i], `teacher weight ${i} unchanged`));
  tr.dispose();
});

function close(a: number, b: number, tol: number) {
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b}`);
}

test('holistic term: critic trains with its own optimiser, logged separately', async () => {
  const teacher = tinyNet(2, 12);
  const student = tinyNet(4, 8);
  const cfg = [{ method: 'holistic', on: 'logits' as const, weight: 0.1, discChannels: 4 }];
  const terms = buildTerms(cfg, { student, teacher, seed: 0 });
  const tr = new Trainer({ student, teacher, terms, config: { iters: 6, batchSize: 2, lr: 0.01, terms: cfg }, data: toyData(5) });
  const r = await tr.trainStep();
  assert.ok(Number.isFinite(r.terms['holistic@logits']) && Number.isFinite(r.terms['holistic@logits.d_loss']) && Number.isFinite(r.terms['holistic@logits.gp']));
  const n0 = tf.memory().numTensors;
  await tr.train();
  assert.is(tf.memory().numTensors, n0);
  tr.dispose();
});

test('buildTerms: bad configs fail before training with clear messages', () => {
  const teacher = tinyNet(2, 12);
  const student = tinyNet(4, 8);
  const ctx = { student, teacher, seed: 0 };
  assert.throws(() => buildTerms([{ method: 'cwdd', on: 'feature', weight: 1 }], ctx), /unknown method 'cwdd'; valid: .*cwd/);
  assert.throws(() => buildTerms([{ method: 'cwd', on: 'feature', weight: 1, temprature: 2 }], ctx), /unknown option 'temprature' for method 'cwd'/);
  assert.throws(() => buildTerms([{ method: 'cwd', on: 'feature', weight: 1, aligner: 'none' }], ctx), /8 channels, teacher 12.*aligner/);
  assert.throws(() => buildTerms([{ method: 'holistic', on: 'feature', weight: 1 }], ctx), /on: "logits"/);
  assert.throws(() => buildTerms([{ method: 'holistic', on: 'logits', weight: 1, lambdaGp: 3 }], ctx), /unknown option 'lambdaGp'/);
  assert.throws(() => buildTerms([{ method: 'cwd', on: 'feature', weight: -1 }], ctx), /weight must be a finite number >= 0/);
});

test('checkpoint: model round-trips through the file IOHandler (float32 exact, float16 close); shape mismatch is an error', async () => {
  const dir = tmp();
  const a = tinyNet(5);
  await a.model.save(fileIOHandler(path.join(dir, 'f32')));
  await a.model.save(fileIOHandler(path.join(dir, 'f16'), { quantization: 'float16' }));
  const b = tinyNet(6);
  loadWeightsInto(b.model, path.join(dir, 'f32'));
  a.model.getWeights().forEach((w, i) => assert.equal(b.model.getWeights()[i].dataSync(), w.dataSync()));
  const c = tinyNet(7);
  loadWeightsInto(c.model, path.join(dir, 'f16'));
  a.model.getWeights().forEach((w, i) => {
    const d = tf.max(tf.abs(tf.sub(w, c.model.getWeights()[i]))).dataSync()[0];
    assert.ok(d < 2e-3, `f16 weight ${i} error ${d}`);
  });
  assert.ok(fs.statSync(path.join(dir, 'f16/weights.bin')).size * 2 === fs.statSync(path.join(dir, 'f32/weights.bin')).size);
  assert.throws(() => loadWeightsInto(tinyNet(8, 6).model, path.join(dir, 'f32')), /has shape/);
  const loaded = await tf.loadLayersModel(fileIOHandler(path.join(dir, 'f32')));
  assert.is(loaded.outputs.length, 2);
});

test('run dir: config.json (hash, seed, backend, commit), metrics.jsonl per step, checkpoints; a different config in the same run dir is refused', async () => {
  const dir = path.join(tmp(), 'run');
  const net = tinyNet(1);
  const tr = new Trainer({ student: net, config: { iters: 6, batchSize: 2, checkpointEvery: 3 }, data: toyData(1), runDir: dir });
  await tr.train();
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  assert.ok(/^[0-9a-f]{12}$/.test(cfg.configHash) && cfg.seed === 0 && cfg.backend === 'cpu' && 'gitCommit' in cfg);
  const lines = fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.map((l) => l.step), [1, 2, 3, 4, 5, 6]);
  assert.ok('lr' in lines[0] && 'img_s' in lines[0] && 'ce' in lines[0]);
  assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'checkpoints/latest.json'), 'utf8')).step, 6);
  assert.throws(() => new Trainer({ student: tinyNet(1), config: { iters: 7, batchSize: 2 }, data: toyData(1), runDir: dir }), /different config/);
});

test.run();
