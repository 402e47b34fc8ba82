/**
 * Runs that cannot save garbage or resume wrongly: finite-state checks, exact resume with a real
 * preset that has dropout, verified checkpoints with fallback, checked writes, run locks.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn, spawnSync } from 'child_process';
import * as tf from '@tensorflow/tfjs';
import { patchCpuBackend } from '../../lib/backend/cpu';
import { buildModel, modelConfig } from '../../lib/models';
import { ChannelDropout, dropoutCounters } from '../../lib/models/layers';
import { buildTerms } from '../../lib/train/build-terms';
import { CheckpointDir, fileIOHandler, readJSONFile, writeFileAtomic } from '../../lib/train/checkpoint';
import { ArrayFrameSource, TrainLoader } from '../../lib/data/loader';
import { renderSplitFrames } from '../../lib/train/frames';
import { loadModelPackage, saveModelPackage } from '../../lib/train/model-package';
import { RunLock } from '../../lib/train/run-dir';
import { Trainer } from '../../lib/train/trainer';
import { tinyNet, toyBatch, toyData } from './helpers';

const ROOT = path.resolve(__dirname, '..', '..');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'cd-rel-'));
let prevBackend = '';
test.before(async () => { prevBackend = tf.getBackend(); await tf.setBackend('cpu'); patchCpuBackend(); });
test.after(async () => { if (prevBackend) await tf.setBackend(prevBackend); });

function weightsOf(model: tf.LayersModel): number[][] {
  return model.getWeights().map((w) => Array.from(w.dataSync()));
}

function allCheckpointWeightsFinite(runDir: string): { step: number; bad: number }[] {
  const ck = new CheckpointDir(path.join(runDir, 'checkpoints'));
  return ck.list().map((c) => {
    const b = fs.readFileSync(path.join(c.dir, 'student', 'weights.bin'));
    const v = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    let bad = 0;
    for (const x of v) if (!Number.isFinite(x)) bad++;
    return { step: c.step, bad };
  });
}

test('stop and resume on cpu with student-r18 (channel dropout): bit-identical to an uninterrupted run', async () => {
  const frames = renderSplitFrames({ seed: 5, split: 'train', count: 4, width: 96, height: 48 });
  const cfg = { ...modelConfig('student-r18'), seed: 3 };
  assert.ok(cfg.dropout > 0, 'the preset has dropout');
  const train = { iters: 4, batchSize: 2, lr: 0.01, seed: 3, checkpointEvery: 2 };
  const data = () => new TrainLoader(new ArrayFrameSource(frames), { seed: 3, batchSize: 2, cropSize: [48, 96] });
  const root = tmp();

  const refNet = buildModel(cfg);
  const ref = new Trainer({ student: refNet, config: train, data: data(), runDir: path.join(root, 'ref'), log: () => undefined });
  const refRecs = await ref.train();
  const refWeights = weightsOf(refNet.model);
  assert.equal(dropoutCounters(refNet.model), [4], 'one training-mode dropout call per step');
  ref.dispose();

  const aNet = buildModel(cfg);
  const a = new Trainer({ student: aNet, config: train, data: data(), runDir: path.join(root, 'split'), log: () => undefined });
  await a.train(2); // stop at step 2 (the end of train() checkpoints)
  a.dispose();
  aNet.model.dispose();
  const state = readJSONFile<{ dropoutCounters: number[] }>(path.join(root, 'split', 'checkpoints', 'step-000002', 'state.json'));
  assert.equal(state.dropoutCounters, [2], 'the checkpoint holds the dropout call counter');

  const bNet = buildModel(cfg); // a fresh model, as in a new process: its counter starts at 0
  const b = new Trainer({ student: bNet, config: train, data: data(), runDir: path.join(root, 'split'), log: () => undefined });
  assert.is(await b.resume(), 2);
  assert.equal(dropoutCounters(bNet.model), [2]);
  const bRecs = await b.train();
  b.dispose();
  assert.equal(bRecs.map((r) => r.loss), refRecs.slice(2).map((r) => r.loss), 'losses of steps 3-4 identical');
  assert.equal(weightsOf(bNet.model), refWeights, 'final weights (BatchNorm statistics included) identical');
  refNet.model.dispose();
  bNet.model.dispose();
});

test('a stateful data source (state/setState) is checkpointed and restored: the resumed run sees the same batches', async () => {
  const stream = () => {
    let drawn = 0; // a stream position, not a function of the step
    return {
      batch: (_step: number, bs: number) => toyBatch(1000 + drawn++, bs),
      state: () => ({ drawn }),
      setState: (st: unknown) => { drawn = (st as { drawn: number }).drawn; },
    };
  };
  const root = tmp();
  const cfg = { iters: 4, batchSize: 2, lr: 0.05, checkpointEvery: 2 };
  const refNet = tinyNet(1);
  const ref = new Trainer({ student: refNet, config: cfg, data: stream(), runDir: path.join(root, 'ref'), log: () => undefined });
  await ref.train();
  ref.dispose();
  const a = new Trainer({ student: tinyNet(1), config: cfg, data: stream(), runDir: path.join(root, 'run'), log: () => undefined });
  await a.train(2);
  a.dispose();
  assert.equal(readJSONFile<{ data: unknown }>(path.join(root, 'run', 'checkpoints', 'step-000002', 'state.json')).data, { drawn: 2 });
  const bNet = tinyNet(1);
  const b = new Trainer({ student: bNet, config: cfg, data: stream(), runDir: path.join(root, 'run'), log: () => undefined });
  await b.resume();
  await b.train();
  b.dispose();
  assert.equal(weightsOf(bNet.model), weightsOf(refNet.model));
});

test('--weight 1e30: training stops naming the cause, no checkpoint holds a non-finite weight, export and teacher loading refuse NaN', async () => {
  const teacher = tinyNet(9, 12);
  const student = tinyNet(1, 8);
  const termCfg = [{ method: 'cwd', on: 'feature' as const, weight: 1e30, temperature: 4 }];
  const terms = buildTerms(termCfg, { student, teacher, seed: 0 });
  const runDir = path.join(tmp(), 'w1e30');
  const tr = new Trainer({ student, teacher, terms, data: toyData(2), runDir, log: () => undefined, config: { iters: 20, batchSize: 2, lr: 0.01, checkpointEvery: 1, terms: termCfg } });
  let err: Error | null = null;
  try {
    await tr.train();
  } catch (e) {
    err = e as Error;
  }
  assert.ok(err, 'training must not succeed');
  assert.match(err!.message, /not finite|is NaN|is Infinity|overflows/);
  assert.match(err!.message, /weight 1e\+30/, `the hint names the term weight: ${err!.message}`);
  assert.not.match(err!.message, /learning rate/);
  assert.ok(tr.step < 20);
  for (const c of allCheckpointWeightsFinite(runDir)) assert.is(c.bad, 0, `checkpoint of step ${c.step} holds ${c.bad} non-finite weights`);
  // a weight that has become NaN (as after an update that overflowed) is never saved
  const saved = new CheckpointDir(path.join(runDir, 'checkpoints')).list().map((c) => c.step);
  const v0 = student.model.weights[0];
  const bad = v0.read().dataSync().slice();
  bad[0] = NaN;
  bad[1] = Infinity;
  v0.write(tf.tensor(bad, v0.shape as number[]));
  let saveErr = '';
  try { await tr.saveCheckpoint(); } catch (e) { saveErr = (e as Error).message; }
  assert.match(saveErr, new RegExp(`step ${tr.step}: 2 of \\d+ values of the training state are not finite .*first: student .*: NOT saved \\(the last saved checkpoint, .*step-0+${saved[0]} \\(step ${saved[0]}\\), is kept\\)`));
  assert.equal(new CheckpointDir(path.join(runDir, 'checkpoints')).list().map((c) => c.step), saved, 'no checkpoint written');
  tr.dispose();

  // export refuses a network with a NaN weight; a NaN package written by other means is refused as a teacher
  const net = buildModel({ ...modelConfig('student-r18-0.5'), seed: 1 });
  const w = net.model.weights[0];
  const vals = w.read().dataSync().slice();
  vals[7] = NaN;
  w.write(tf.tensor(vals, w.shape as number[]));
  const pkg = path.join(tmp(), 'pkg');
  let exportErr = '';
  try { await saveModelPackage(net, pkg); } catch (e) { exportErr = (e as Error).message; }
  assert.match(exportErr, /1 of \d+ values of the network to export .* are not finite/);
  assert.not.ok(fs.existsSync(path.join(pkg, 'manifest.json')), 'nothing written');
  await net.model.save(fileIOHandler(pkg));
  writeFileAtomic(path.join(pkg, 'manifest.json'), JSON.stringify({ modelConfig: net.config, quantization: 'none' }));
  assert.throws(() => loadModelPackage(pkg), /1 of \d+ values of model package .*pkg are not finite .*re-export it/);
  net.model.dispose();
});

test('a term with a huge temperature stops with a temperature hint; a tiny one warns once that the term is exactly 0', async () => {
  const teacher = tinyNet(9, 12);
  const student = tinyNet(1, 8);
  const hot = [{ method: 'cwd', on: 'feature' as const, weight: 3, temperature: 1e30 }];
  const t1 = new Trainer({ student, teacher, terms: buildTerms(hot, { student, teacher, seed: 0 }), data: toyData(2), log: () => undefined, config: { iters: 3, batchSize: 2, checkpointEvery: 0, terms: hot } });
  const before = weightsOf(student.model);
  let msg = '';
  try { await t1.train(); } catch (e) { msg = (e as Error).message; }
  assert.match(msg, /step 1: term 'cwd@feature' is (Infinity|NaN)/);
  assert.match(msg, /temperature 1e\+30/);
  assert.not.match(msg, /lower --lr|learning rate/);
  assert.equal(weightsOf(student.model), before, 'the non-finite step changed no weight, BatchNorm statistics included');
  t1.dispose();

  const cold = [{ method: 'cwd', on: 'feature' as const, weight: 3, temperature: 1e-30 }];
  const logs: string[] = [];
  const t2 = new Trainer({ student, teacher, terms: buildTerms(cold, { student, teacher, seed: 0 }), data: toyData(2), log: (m) => logs.push(m), config: { iters: 3, batchSize: 2, checkpointEvery: 0, terms: cold } });
  const recs = await t2.train();
  assert.ok(recs.every((r) => r.terms['cwd@feature'] === 0), 'the term underflows to exactly 0');
  const warnings = logs.filter((l) => /exactly 0/.test(l));
  assert.is(warnings.length, 1, 'reported once');
  assert.match(warnings[0], /term 'cwd@feature' is exactly 0.*temperature 1e-30/);
  t2.dispose();
});

test('a diverging run (Adam, lr 1e6) is reported: a warning while the loss explodes, a learning-rate hint when it stops', async () => {
  const student = tinyNet(1, 8);
  const logs: string[] = [];
  const tr = new Trainer({ student, data: toyData(3), log: (m) => logs.push(m), config: { iters: 30, batchSize: 2, lr: 1e6, optimizer: { type: 'adam', weightDecay: 0 } as never, checkpointEvery: 0 } });
  let msg = '';
  try { await tr.train(); } catch (e) { msg = (e as Error).message; }
  const warned = logs.find((l) => /training is diverging/.test(l));
  assert.ok(warned || msg, 'either a divergence warning or a non-finite stop');
  for (const text of [warned, msg].filter(Boolean) as string[]) assert.match(text, /learning rate 1000000 is high for adam: lower --lr/);
  assert.ok(warned, `warned before any stop (logs: ${logs.join(' | ')}; error: ${msg})`);
  tr.dispose();
});

test('a truncated latest checkpoint is named and the previous intact one is used; the resumed run ends identical', async () => {
  const root = tmp();
  const cfg = { iters: 6, batchSize: 2, lr: 0.05, checkpointEvery: 2, keepCheckpoints: 3 };
  const refNet = tinyNet(1);
  const ref = new Trainer({ student: refNet, config: cfg, data: toyData(4), runDir: path.join(root, 'ref'), log: () => undefined });
  await ref.train();
  ref.dispose();

  const run = path.join(root, 'run');
  const a = new Trainer({ student: tinyNet(1), config: cfg, data: toyData(4), runDir: run, log: () => undefined });
  await a.train(4);
  a.dispose();
  const ck = new CheckpointDir(path.join(run, 'checkpoints'));
  assert.is(ck.latest()!.step, 4);
  const wfile = path.join(run, 'checkpoints', 'step-000004', 'student', 'weights.bin');
  const size = fs.statSync(wfile).size;
  fs.truncateSync(wfile, size - 100);
  assert.match(CheckpointDir.verify(path.dirname(path.dirname(wfile))).problem!, /weights\.bin has \d+ bytes, the manifest says \d+ \(truncated\)/);

  const logs: string[] = [];
  const bNet = tinyNet(1);
  const b = new Trainer({ student: bNet, config: cfg, data: toyData(4), runDir: run, log: (m) => logs.push(m) });
  assert.is(await b.resume(), 2, 'fell back to step 2');
  assert.match(logs.join('\n'), /step-000004 is damaged: .*student\/weights\.bin has \d+ bytes/);
  assert.match(logs.join('\n'), /resuming from .*step-000002 \(step 2\), the newest intact checkpoint, instead/);
  await b.train();
  b.dispose();
  assert.equal(weightsOf(bNet.model), weightsOf(refNet.model), 'identical to the uninterrupted run');
  const steps = fs.readFileSync(path.join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
  assert.equal(steps, [1, 2, 3, 4, 5, 6], 'one metrics line per step');
  assert.ok(CheckpointDir.verify(path.join(run, 'checkpoints', 'step-000004')).ok, 'step 4 rewritten intact');

  // overwritten bytes (same size) are caught by the checksum; an invalid latest.json is named; all damaged is an error
  const w6 = path.join(run, 'checkpoints', 'step-000006', 'student', 'weights.bin');
  const fd = fs.openSync(w6, 'r+');
  fs.writeSync(fd, Buffer.from([1, 2, 3, 4]), 0, 4, 40);
  fs.closeSync(fd);
  assert.match(CheckpointDir.verify(path.join(run, 'checkpoints', 'step-000006')).problem!, /does not match its sha256 checksum/);
  fs.writeFileSync(path.join(run, 'checkpoints', 'latest.json'), '{"step": 6, "dir": ');
  const warns: string[] = [];
  const cands = new CheckpointDir(path.join(run, 'checkpoints')).newestIntact((m) => warns.push(m));
  assert.is(cands!.step, 4);
  assert.match(warns.join('\n'), /checkpoint pointer .*latest\.json is not valid JSON/);
  for (const s of ['000002', '000004']) fs.truncateSync(path.join(run, 'checkpoints', `step-${s}`, 'state.json'), 3);
  const c = new Trainer({ student: tinyNet(1), config: cfg, data: toyData(4), runDir: run, log: () => undefined });
  let err = '';
  try { await c.resume(); } catch (e) { err = (e as Error).message; }
  assert.match(err, /no intact checkpoint to resume from .*step-000006: .*sha256.*--fresh/);
  c.dispose();
});

test('stale temp folders are cleaned; a failed checkpoint write removes its temp folder and keeps the previous one', async () => {
  const root = path.join(tmp(), 'checkpoints');
  const ck = new CheckpointDir(root);
  await ck.write(1, async (d) => { fs.writeFileSync(path.join(d, 'a.txt'), 'one'); });
  // a temp folder left by a process whose id this process now has (ids are reused in containers), and one of a dead process
  fs.mkdirSync(path.join(root, `.tmp-step-000002-${process.pid}`));
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  fs.mkdirSync(path.join(root, `.tmp-step-000002-${dead.stdout}`));
  fs.writeFileSync(path.join(root, `latest.json.tmp-${dead.stdout}-abc123`), '{');
  let err = '';
  try {
    await ck.write(2, async (d) => {
      fs.writeFileSync(path.join(d, 'a.txt'), 'two');
      throw new Error('ENOSPC: no space left on device, write');
    });
  } catch (e) { err = (e as Error).message; }
  assert.match(err, /checkpoint of step 2 was not written \(ENOSPC.*\); the previous checkpoint .*step-000001 \(step 1\) is untouched/);
  assert.equal(fs.readdirSync(root).sort(), ['latest.json', 'step-000001'], 'every temp entry removed');
  assert.is(ck.latest()!.step, 1);
  assert.ok(CheckpointDir.verify(path.join(root, 'step-000001')).ok);
});

test('writeFileAtomic detects a short write (file size limit) and names the file; the target is untouched', () => {
  const dir = tmp();
  const file = path.join(dir, 'big.bin');
  fs.writeFileSync(file, 'previous');
  const script = `require(${JSON.stringify(path.join(ROOT, 'lib/train/checkpoint.ts'))}).writeFileAtomic(${JSON.stringify(file)}, new Uint8Array(1536000)); console.log('returned normally');`;
  // ulimit -f 1024: at most 1 MiB per file, as on a full disk the first write call stores only part of the data
  const r = spawnSync('bash', ['-c', `ulimit -f 1024; exec "${process.execPath}" --import tsx -e "$0"`, script], { encoding: 'utf8', cwd: ROOT });
  assert.not.match(r.stdout, /returned normally/);
  assert.match(r.stderr, /writing .*big\.bin: 1048576 of 1536000 bytes written/);
  assert.is(fs.readFileSync(file, 'utf8'), 'previous');
  assert.equal(fs.readdirSync(dir), ['big.bin'], 'no temp file left');
});

test('readJSONFile and every checkpoint JSON read name the file', () => {
  const dir = tmp();
  const f = path.join(dir, 'state.json');
  fs.writeFileSync(f, '{"step": 3,');
  assert.throws(() => readJSONFile(f, 'checkpoint state'), new RegExp(`checkpoint state ${f.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is not valid JSON`));
  const missing = path.join(dir, 'nope.json');
  assert.throws(() => readJSONFile(missing), /nope\.json cannot be read/);
});

test('two processes on the same run: the second refuses naming the holder, the first writes one metrics line per step; a stale lock is taken over', async () => {
  const run = path.join(tmp(), 'same');
  const child = path.join(__dirname, 'resume-child.ts');
  const env = { ...process.env, CWD_QUIET_BACKEND: '1' };
  const start = () => spawn(process.execPath, ['--import', 'tsx', child, run, '12', '4', '600'], { env, cwd: ROOT });
  const collect = (p: ReturnType<typeof start>) => new Promise<{ code: number | null; err: string }>((res) => {
    let err = '';
    p.stderr!.on('data', (d) => { err += String(d); });
    p.on('exit', (code) => res({ code, err }));
  });
  const first = start();
  const firstDone = collect(first);
  // start the second once the first holds the lock
  for (let i = 0; i < 400 && !fs.existsSync(path.join(run, '.lock')); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(fs.existsSync(path.join(run, '.lock')), 'the first process locked the run');
  const owner = JSON.parse(fs.readFileSync(path.join(run, '.lock'), 'utf8'));
  assert.is(owner.pid, first.pid);
  assert.is(owner.host, os.hostname());
  assert.ok(!Number.isNaN(Date.parse(owner.startedAt)));
  const second = await collect(start());
  assert.is.not(second.code, 0);
  assert.match(second.err, new RegExp(`is in use by pid ${first.pid} on host ${os.hostname()} since`));
  const r1 = await firstDone;
  assert.is(r1.code, 0, r1.err);
  const steps = fs.readFileSync(path.join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
  assert.equal(steps, Array.from({ length: 12 }, (_, i) => i + 1));
  assert.not.ok(fs.existsSync(path.join(run, '.lock')), 'released at exit');

  // a lock of a dead process is stale: taken over with a note
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  fs.writeFileSync(path.join(run, '.lock'), JSON.stringify({ pid: Number(dead.stdout), host: os.hostname(), startedAt: '2020-01-01T00:00:00.000Z' }));
  const notes: string[] = [];
  const lock = RunLock.acquire(run, { log: (m) => notes.push(m) });
  assert.match(notes.join('\n'), new RegExp(`removed a stale lock of pid ${dead.stdout} .*no longer running`));
  assert.is(JSON.parse(fs.readFileSync(path.join(run, '.lock'), 'utf8')).pid, process.pid);
  lock.release();
  assert.not.ok(fs.existsSync(path.join(run, '.lock')));
});

test('a lock held on another host: live while refreshed, stale when not refreshed for 10 min or when it is an earlier attempt of this Slurm task', () => {
  const run = path.join(tmp(), 'remote');
  fs.mkdirSync(run, { recursive: true });
  const lockFile = path.join(run, '.lock');
  const write = (extra: Record<string, unknown> = {}) => fs.writeFileSync(lockFile, JSON.stringify({ pid: 12345, host: 'node-b', startedAt: '2026-01-01T00:00:00.000Z', command: 'train', ...extra }));
  write();
  assert.throws(() => RunLock.acquire(run), /is in use by pid 12345 on host node-b since 2026-01-01T00:00:00.000Z \(train\) \[held on another host \(refreshed \d+ s ago; it counts as gone after 600 s/);
  const old = new Date(Date.now() - 20 * 60 * 1000);
  fs.utimesSync(lockFile, old, old);
  const notes: string[] = [];
  let lock = RunLock.acquire(run, { log: (m) => notes.push(m) });
  assert.match(notes.join('\n'), /removed a stale lock of pid 12345 on host node-b .*not refreshed for \d+ s/);
  lock.release();
  const saved = process.env.SLURM_JOB_ID;
  process.env.SLURM_JOB_ID = '4242';
  try {
    write({ task: 'slurm:4242' });
    lock = RunLock.acquire(run, { log: (m) => notes.push(m) });
    assert.match(notes.join('\n'), /earlier attempt of this scheduler task \(slurm:4242, requeued\)/);
    assert.is(JSON.parse(fs.readFileSync(lockFile, 'utf8')).task, 'slurm:4242');
    lock.release();
    write({ task: 'slurm:999' });
    assert.throws(() => RunLock.acquire(run), /is in use by pid 12345 on host node-b/);
  } finally {
    if (saved === undefined) delete process.env.SLURM_JOB_ID;
    else process.env.SLURM_JOB_ID = saved;
  }
});

test('checkpoints of older versions (no manifest, no dropout counters) still load; the counters are then the step', async () => {
  const frames = renderSplitFrames({ seed: 5, split: 'train', count: 2, width: 96, height: 48 });
  const cfg = { ...modelConfig('student-r18-0.5'), seed: 1 };
  const run = path.join(tmp(), 'old');
  const train = { iters: 3, batchSize: 1, checkpointEvery: 0 };
  const a = new Trainer({ student: buildModel(cfg), config: train, data: new TrainLoader(new ArrayFrameSource(frames), { seed: 0, batchSize: 1, cropSize: [48, 96] }), runDir: run, log: () => undefined });
  await a.train(2);
  a.dispose();
  const dir = path.join(run, 'checkpoints', 'step-000002');
  fs.rmSync(path.join(dir, 'manifest.json'));
  const state = readJSONFile<Record<string, unknown>>(path.join(dir, 'state.json'));
  delete state.dropoutCounters;
  fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify(state));
  const logs: string[] = [];
  const net = buildModel(cfg);
  const b = new Trainer({ student: net, config: train, data: new TrainLoader(new ArrayFrameSource(frames), { seed: 0, batchSize: 1, cropSize: [48, 96] }), runDir: run, log: (m) => logs.push(m) });
  assert.is(await b.resume(), 2);
  assert.match(logs.join('\n'), /has no manifest \(written by an older version\): loaded without checksums/);
  assert.equal(net.model.layers.filter((l) => l instanceof ChannelDropout).map((l) => (l as ChannelDropout).calls), [2]);
  b.dispose();
});

test.run();
