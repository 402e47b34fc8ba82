/**
 * The command line cannot destroy data or use the wrong data: run names stay inside --runs,
 * --fresh deletes only a run folder and says what, bad data fails before the first step, eval --run
 * uses the run's own data, and the messages name the option at fault.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { main } from '../../lib/cli/main';
import { buildModel, modelConfig } from '../../lib/models';
import { buildTerms } from '../../lib/train/build-terms';
import { deleteRun, runDirOf } from '../../lib/train/run-dir';
import { capture, tinyDataset } from './fixtures';

let data = '';
test.before(async () => {
  data = await tinyDataset();
});

/** A scratch tree: T/data (precious), T/clone/.git, T/clone/runs/{other, notarun}, T/clone/runs/link -> T/data. */
function scratch(): { root: string; runs: string; files: string[] } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-paths-'));
  const files = [
    path.join(root, 'data', 'teacher', 'weights.bin'),
    path.join(root, 'clone', '.git', 'HEAD'),
    path.join(root, 'clone', 'runs', 'other', 'config.json'),
    path.join(root, 'clone', 'runs', 'notarun', 'notes.txt'),
  ];
  for (const f of files) {
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, 'precious');
  }
  fs.symlinkSync(path.join(root, 'data'), path.join(root, 'clone', 'runs', 'link'));
  return { root, runs: path.join(root, 'clone', 'runs'), files };
}

test('traversal attempts in run names fail with a clear error and delete nothing', async () => {
  const { runs, files } = scratch();
  const attempts: [string[], RegExp][] = [
    [['train-student', '--name', '../../data', '--fresh'], /run name '..\/..\/data' has a '..' segment/],
    [['train-student', '--name', '../../clone', '--fresh'], /has a '..' segment/],
    [['train-student', '--name', 'a/../../../data', '--fresh'], /has a '..' segment/],
    [['train-student', '--name', '.', '--fresh'], /run name '.' has a '.' segment/],
    [['train-student', '--name', path.join(path.dirname(runs), '..', 'data'), '--fresh'], /is absolute/],
    [['train-student', '--name', 'a//b', '--fresh'], /empty path segment/],
    [['train-student', '--name', 'other/', '--fresh'], /empty path segment/],
    [['train-student', '--name', '.hidden', '--fresh'], /no segment may start with \./],
    [['train-student', '--name', 'link', '--fresh'], /runs\/link leads to .*\/data \(through a symbolic link\), outside the runs folder/],
    [['train-student', '--name', 'link/teacher', '--fresh'], /link\/teacher leads to .*\/data\/teacher \(through a symbolic link\), outside the runs folder/],
    [['distill', '--method', 'cwd', '--name', '../../data', '--fresh'], /has a '..' segment/],
    [['sweep', '--name', '../../data', '--seeds', '0'], /sweep.*'..\/..\/data' has a '..' segment|run name '..\/..\/data'/],
    [['merge', '--name', '../..'], /has a '..' segment/],
  ];
  for (const [argv, pattern] of attempts) {
    const extra = argv[0] === 'merge' ? [] : ['--data', data, '--no-eval'];
    const r = await capture(() => main([...argv, '--runs', runs, ...extra]));
    assert.ok(r.code !== 0, `${argv.join(' ')} must fail`);
    assert.match(r.err, pattern, `${argv.join(' ')}\n  got: ${r.err}`);
  }
  for (const f of files) assert.is(fs.readFileSync(f, 'utf8'), 'precious', `${f} intact`);
  assert.equal(fs.readdirSync(path.join(path.dirname(runs), '..', 'data')).sort(), ['teacher']);
  assert.equal(fs.readdirSync(runs).sort(), ['link', 'notarun', 'other'], 'nothing created or deleted under --runs');
});

test('deleteRun (--fresh) deletes only a run folder inside --runs and says what it deleted', () => {
  const { runs, files } = scratch();
  const run = path.join(runs, 'exp', 'cwd');
  fs.mkdirSync(path.join(run, 'checkpoints', 'step-000010'), { recursive: true });
  fs.mkdirSync(path.join(run, 'checkpoints', 'step-000020'), { recursive: true });
  fs.writeFileSync(path.join(run, 'config.json'), '{}');
  fs.writeFileSync(path.join(run, 'metrics.jsonl'), '{"step":1}\n{"step":2}\n{"step":3}\n');
  fs.writeFileSync(path.join(run, 'eval.json'), '{}');
  const what = deleteRun(runs, 'exp/cwd');
  assert.is(what, `${run} (metrics.jsonl with 3 step(s), 2 checkpoint(s) up to step 20, eval.json)`);
  assert.equal(fs.readdirSync(run), [], 'emptied');
  assert.is(deleteRun(runs, 'exp/never'), null);
  assert.throws(() => deleteRun(runs, 'notarun'), /notarun is not a run folder \(no config.json; it holds notes.txt\): not deleting it/);
  assert.throws(() => deleteRun(runs, '..'), /has a '..' segment/);
  assert.throws(() => runDirOf(runs, ''), /is empty/);
  for (const f of files) assert.is(fs.readFileSync(f, 'utf8'), 'precious', `${f} intact`);
});

test('corrupt or unsuitable data fails before the first step, naming the file or the option', async () => {
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-baddata-'));
  fs.cpSync(data, copy, { recursive: true });
  const valDir = path.join(copy, 'leftImg8bit', 'val');
  const city = fs.readdirSync(valDir)[0];
  const img = path.join(valDir, city, fs.readdirSync(path.join(valDir, city))[0]);
  const runs = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-baddata-runs-'));
  const bytes = fs.readFileSync(img);
  fs.writeFileSync(img, bytes.subarray(0, Math.floor(bytes.length / 2)));
  let r = await capture(() => main(['train-student', '--data', copy, '--runs', runs, '--name', 'x', '--iters', '2', '--downsample', '1']));
  assert.ok(r.code !== 0);
  assert.match(r.err, new RegExp(`image ${img.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is not a valid PNG: truncated`));
  assert.not.ok(fs.existsSync(path.join(runs, 'x')), 'no run folder: it failed before any step');
  // flipped bytes inside a chunk: the CRC check names the file
  const flipped = Buffer.from(bytes);
  flipped[flipped.length - 40] ^= 0xff;
  fs.writeFileSync(img, flipped);
  r = await capture(() => main(['train-student', '--data', copy, '--runs', runs, '--name', 'x', '--iters', '2', '--downsample', '1']));
  assert.match(r.err, /is not a valid PNG: chunk \w+ at byte \d+ fails its CRC/);
  fs.writeFileSync(img, bytes);
  // --downsample too large for the model names the option and the largest usable value
  r = await capture(() => main(['train-student', '--data', copy, '--runs', runs, '--name', 'x', '--downsample', '300']));
  assert.match(r.err, /downsample 300 \(--downsample\) shrinks the 128x64 train frames of .* to 0x0, below the 41-pixel side that model 'student-r18' needs \(its pyramid pooling has a 6x6 grid on the stride-8 map\): use a downsample of 1 or less/);
  r = await capture(() => main(['train-student', '--data', copy, '--runs', runs, '--name', 'x', '--downsample', '1', '--crop', '32x64']));
  assert.match(r.err, /crop 32x64 \(--crop HxW\) is below the 41-pixel side/);
  assert.not.match(r.err, /ppm_pool|pooling grid \(use a larger/);
  assert.not.ok(fs.existsSync(path.join(runs, 'x')));
});

test('the channel-mismatch message names student and teacher in the right order', async () => {
  let prev = '';
  try { prev = tf.getBackend(); } catch { /* none yet */ }
  await tf.setBackend('cpu');
  const student = buildModel({ ...modelConfig('student-r18-0.5'), numClasses: 19 });
  const teacher = buildModel({ ...modelConfig('student-r18-0.5'), numClasses: 10, seed: 2 });
  // an aligner maps the 19 student channels to the teacher's 10: this must build (it failed with swapped counts)
  const terms = buildTerms([{ method: 'cwd', on: 'logits', weight: 3, temperature: 4 }], { student, teacher, seed: 0 });
  terms.forEach((t) => t.dispose());
  assert.throws(
    () => buildTerms([{ method: 'cwd', on: 'logits', weight: 3, aligner: 'none' }], { student, teacher, seed: 0 }),
    /student logits has 19 channels, teacher 10/,
  );
  student.model.dispose();
  teacher.model.dispose();
  if (prev) await tf.setBackend(prev);
});

test('--fresh says what it deletes; eval --run uses the run\'s recorded data root and downsample unless overridden, and says which', async () => {
  const runs = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-evalrun-'));
  const args = ['train-student', '--data', data, '--runs', runs, '--name', 'r', '--model', 'student-r18-0.5', '--iters', '2', '--batch', '1', '--downsample', '1', '--crop', '48x64'];
  let r = await capture(() => main(args));
  assert.is(r.code, 0, r.err);
  const run = path.join(runs, 'r');
  assert.not.ok(fs.existsSync(path.join(run, '.lock')), 'lock released');
  r = await capture(() => main([...args, '--fresh']));
  assert.is(r.code, 0, r.err);
  const recorded = JSON.parse(fs.readFileSync(path.join(run, 'eval.json'), 'utf8'));
  assert.match(r.err, new RegExp(`fresh: deleted the previous run ${run.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\(metrics.jsonl with 2 step\\(s\\), 1 checkpoint\\(s\\) up to step 2, eval.json\\)`));

  // no --data / --downsample: the run's own (the defaults would be data/synthetic-cityscapes at downsample 2 with 60 val frames)
  r = await capture(() => main(['eval', '--run', run, '--resolution', 'input']));
  assert.is(r.code, 0, r.err);
  assert.match(r.err, new RegExp(`eval: --run .*: data ${data.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\(recorded in .*config.json\\), downsample 1 \\(recorded in .*config.json\\)`));
  assert.match(r.err, /eval: checkpoint .*step-000002 \(step 2\)/);
  const m = /mIoU ([\d.]+) on (\d+) images/.exec(r.out)!;
  assert.is(Number(m[2]), 2);
  assert.is(m[1], (100 * recorded.mIoU).toFixed(2), 'the same score the run recorded');
  r = await capture(() => main(['eval', '--run', run, '--data', data, '--downsample', '1', '--limit', '1', '--resolution', 'input']));
  assert.is(r.code, 0, r.err);
  assert.match(r.err, /\(--data\), downsample 1 \(--downsample\)/);
  assert.match(r.out, /on 1 images/);
});

test.run();
