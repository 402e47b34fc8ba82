/**
 * The shipped teacher (data/teacher): loads, and reproduces its recorded val mIoU on a val split
 * generated afresh by the synthetic generator (written as PNGs and read back like any dataset).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import { generateSyntheticCityscapes, SYNTHETIC_VERSION } from '../../lib/cityscapes/synthetic';
import { evaluate } from '../../lib/train/evaluate';
import { frameBatches, loadSplitFrames } from '../../lib/train/frames';
import { loadModelPackage } from '../../lib/train/model-package';

const TEACHER = path.resolve(__dirname, '..', '..', 'data', 'teacher');

test('shipped teacher reproduces its recorded val mIoU on a freshly generated val split', async () => {
  await tf.setBackend(await initBackend({ quiet: true }));
  assert.ok(fs.existsSync(path.join(TEACHER, 'manifest.json')), 'data/teacher/manifest.json is committed');
  const { net, manifest } = loadModelPackage(TEACHER);
  const m = manifest as Record<string, any>;
  assert.ok(fs.statSync(path.join(TEACHER, 'weights.bin')).size < 8e6, 'a few MB at most');
  assert.ok(typeof m.valMIoU === 'number' && m.valMIoU > 0.2, `recorded val mIoU ${m.valMIoU}`);
  assert.ok(typeof m.command === 'string' && m.command.includes('train-teacher'));
  const ds = m.dataset as { version: number; options: Record<string, number> };
  assert.is(ds.version, SYNTHETIC_VERSION, `the synthetic generator changed (version ${SYNTHETIC_VERSION}, teacher trained on ${ds.version}): retrain the teacher with the command in its manifest`);
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-teacher-val-'));
  await generateSyntheticCityscapes({ ...ds.options, out, train: 0, test: 0 } as never);
  const frames = await loadSplitFrames(out, 'val', { downsample: m.data.downsample });
  assert.is(frames.length, m.valImages);
  const r = await evaluate(net, frameBatches(frames, 4));
  assert.ok(Math.abs(r.mIoU - m.valMIoU) < 0.003, `val mIoU ${r.mIoU} vs recorded ${m.valMIoU}`);
  // The research bar of the shipped teacher: at least 55 val mIoU and every class learned.
  assert.ok(r.mIoU >= 0.55, `val mIoU ${r.mIoU} below the 55 the research protocol needs`);
  const recorded = m.valPerClassIoU as number[];
  r.perClassIoU.forEach((iou, c) => {
    assert.ok(iou > 0, `class ${c} has 0 IoU`);
    assert.ok(Math.abs(iou - recorded[c]) < 0.01, `class ${c}: IoU ${iou} vs recorded ${recorded[c]}`);
  });
  if (typeof m.baselineStudent?.valMIoU === 'number') {
    assert.ok(m.valMIoU - m.baselineStudent.valMIoU > 0.05, `teacher ${m.valMIoU} clearly above the student trained alone ${m.baselineStudent.valMIoU}`);
  }
  net.model.dispose();
  fs.rmSync(out, { recursive: true, force: true });
});

test('real models: a student distils from the shipped teacher (CWD on features through an aligner + holistic) without tensor growth', async () => {
  await tf.setBackend(await initBackend({ quiet: true }));
  const { tinyDataset } = await import('../cli/fixtures');
  const { runExperiment } = await import('../../lib/train/experiment');
  const runs = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-real-distill-'));
  const counts: number[] = [];
  const r = await runExperiment({
    name: 'd', runsDir: runs, dataRoot: await tinyDataset(), downsample: 1, model: 'student-r18-0.5', teacherDir: TEACHER, valLimit: 1,
    train: { iters: 4, batchSize: 1, lr: 0.001, optimizer: { type: 'adam', weightDecay: 0 },
      terms: [{ method: 'cwd', on: 'feature', weight: 3, temperature: 4 }, { method: 'holistic', on: 'logits', weight: 0.1, discChannels: 8 }] },
  }, { onStep: (rec) => { counts.push(tf.memory().numTensors); assert.ok(Number.isFinite(rec.terms['cwd@feature']) && Number.isFinite(rec.terms['holistic@logits.d_loss'])); } });
  assert.is(r.steps, 4);
  assert.is(counts[3], counts[1], `numTensors ${counts}`);
  assert.ok(r.eval && r.eval.perClassIoU.length === 19);
  r.student.model.dispose();
  fs.rmSync(runs, { recursive: true, force: true });
});

test.run();
