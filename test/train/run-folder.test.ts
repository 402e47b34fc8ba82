/**
 * Run folders have one reader (`openRun`) and models one format (lib/models `saveNet` through the file
 * IOHandler, for checkpoints and packages alike); `gitCommit` marks a working tree with changes.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { execSync } from 'child_process';
import * as tf from '@tensorflow/tfjs';
import { buildModel, loadNet, modelConfig } from '../../lib/models';
import { fileIOHandler } from '../../lib/train/checkpoint';
import { loadModelPackage, saveModelPackage } from '../../lib/train/model-package';
import { gitCommit, openRun } from '../../lib/train/run-dir';
import { Trainer } from '../../lib/train/trainer';
import { initBackend } from '../../lib/backend';
import { toyBatch } from './helpers';

/** The smallest real preset (the run's config.json must hold a buildable model config). */
const smallNet = (seed: number) => buildModel({ ...modelConfig('student-r18-0.5'), seed });
const data48 = { batch: (step: number, n: number) => toyBatch(step, n, 48, 48) };

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cwd-runfolder-'));
test.before(async () => { await tf.setBackend(await initBackend({ quiet: true })); });

function logits(net: { model: tf.LayersModel }, x: tf.Tensor4D): number[] {
  return tf.tidy(() => Array.from((net.model.predict(x) as tf.Tensor[])[1].dataSync()));
}

test('openRun: typed config, metrics, eval, newest checkpoint and the trained student', async () => {
  const dir = path.join(tmp, 'run');
  const net = smallNet(3);
  const tr = new Trainer({ student: net, config: { iters: 4, batchSize: 2, lr: 0.05, checkpointEvery: 2 }, data: data48, runDir: dir, log: () => undefined });
  await tr.train();
  tr.dispose();
  const run = openRun(dir);
  assert.is(run.info!.config.train.iters, 4);
  assert.is(run.info!.config.train.optimizer.type, 'sgd');
  assert.is(run.info!.config.student.numClasses, net.config.numClasses);
  assert.equal(run.metrics.map((m) => m.step), [1, 2, 3, 4]);
  assert.is(run.eval, null);
  assert.is(run.finished, false);
  assert.is(run.latestCheckpoint()!.step, 4);
  const batch = toyBatch(9, 2, 48, 48);
  const x = batch.images;
  batch.labels.dispose();
  const want = logits(net, x);
  const { net: loaded, checkpoint } = run.loadStudent();
  assert.is(checkpoint.step, 4);
  assert.equal(logits(loaded, x), want);
  // the checkpoint's student/ is a saveNet folder: loadNet reads it without the run's config.json
  const viaNet = await loadNet(fileIOHandler(path.join(checkpoint.dir, 'student')));
  assert.equal(viaNet.config, net.config);
  assert.equal(logits(viaNet, x), want);
  // eval.json of an earlier step is not a finished run; of the last step it is
  fs.writeFileSync(path.join(dir, 'eval.json'), JSON.stringify({ mIoU: 0.3, perClassIoU: [0.3], step: 2 }));
  assert.is(openRun(dir).finished, false);
  fs.writeFileSync(path.join(dir, 'eval.json'), JSON.stringify({ mIoU: 0.3, perClassIoU: [0.3], step: 4 }));
  assert.is(openRun(dir).finished, true);
  assert.is(openRun(dir).eval!.mIoU, 0.3);
  // a metrics line cut by a kill at the end is left out; one in the middle is an error naming the file
  fs.appendFileSync(path.join(dir, 'metrics.jsonl'), '{"step": 5, "lo');
  assert.is(openRun(dir).metrics.length, 4);
  fs.appendFileSync(path.join(dir, 'metrics.jsonl'), '\n{"step": 6}\n');
  assert.throws(() => openRun(dir).metrics, /metrics.jsonl: line 5 is not JSON/);
  assert.is(openRun(dir).finished, true); // finished needs config.json and eval.json only
  const empty = path.join(tmp, 'empty');
  fs.mkdirSync(empty);
  assert.throws(() => openRun(empty).loadStudent(), /config.json.*missing/);
  assert.throws(() => openRun(path.join(tmp, 'nope')), /does not exist/);
  [loaded, viaNet].forEach((n) => n.model.dispose());
  x.dispose();
});

test('a model package is a saveNet folder plus manifest.json: loadNet and loadModelPackage agree', async () => {
  const net = smallNet(5);
  const dir = path.join(tmp, 'pkg');
  await saveModelPackage(net, dir, { quantization: 'float16', manifest: { note: 'x' } });
  const a = loadModelPackage(dir);
  const b = await loadNet(fileIOHandler(dir));
  assert.equal(b.config, a.net.config);
  const batch = toyBatch(2, 1, 48, 48);
  const x = batch.images;
  batch.labels.dispose();
  assert.equal(logits(b, x), logits(a.net, x));
  assert.is(a.manifest.note, 'x');
  [a.net, b].forEach((n) => n.model.dispose());
  x.dispose();
});

test('gitCommit: HEAD, with -dirty when a tracked file changed (untracked files do not count)', () => {
  const repo = path.join(tmp, 'git');
  fs.mkdirSync(repo);
  const git = (c: string) => execSync(`git -c user.name=t -c user.email=t@t ${c}`, { cwd: repo, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  git('init -q');
  fs.writeFileSync(path.join(repo, 'a.txt'), '1');
  git('add a.txt');
  git('commit -qm one');
  const head = git('rev-parse HEAD');
  assert.is(gitCommit(repo), head);
  fs.writeFileSync(path.join(repo, 'b.txt'), 'untracked');
  assert.is(gitCommit(repo), head);
  fs.writeFileSync(path.join(repo, 'a.txt'), '2');
  assert.is(gitCommit(repo), `${head}-dirty`);
  assert.is(gitCommit(fs.mkdtempSync(path.join(os.tmpdir(), 'cwd-nogit-'))), null);
});

test.run();
