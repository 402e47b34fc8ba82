import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn, spawnSync } from 'child_process';

const ROOT = path.resolve(__dirname, '..', '..');
// node --import tsx runs the child in ONE process (the tsx CLI would fork a grandchild that SIGKILL misses)
const NODE_ARGS = ['--import', 'tsx'];
const CHILD = path.join(__dirname, 'resume-child.ts');
const ITERS = 40;
const EVERY = 10;
const env = { ...process.env, CWD_QUIET_BACKEND: '1' };

function latestStep(runDir: string): number {
  try {
    return JSON.parse(fs.readFileSync(path.join(runDir, 'checkpoints', 'latest.json'), 'utf8')).step;
  } catch {
    return -1;
  }
}

test('a run killed with SIGKILL resumes from its last checkpoint and ends bit-identical to an uninterrupted run', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-resume-'));
  const ref = path.join(tmp, 'ref');
  const r = spawnSync(process.execPath, [...NODE_ARGS, CHILD, ref, String(ITERS), String(EVERY), '0'], { env, encoding: 'utf8', cwd: ROOT });
  assert.is(r.status, 0, r.stderr);

  const run = path.join(tmp, 'killed');
  const child = spawn(process.execPath, [...NODE_ARGS, CHILD, run, String(ITERS), String(EVERY), '30'], { env, stdio: 'ignore', cwd: ROOT });
  const killedAt = await new Promise<number>((resolve, reject) => {
    const timer = setInterval(() => {
      const s = latestStep(run);
      if (s >= 20) {
        clearInterval(timer);
        child.kill('SIGKILL');
        resolve(s);
      }
    }, 20);
    child.on('exit', () => { clearInterval(timer); if (latestStep(run) >= ITERS) reject(new Error('child finished before it could be killed')); });
  });
  await new Promise<void>((res) => (child.exitCode !== null || child.signalCode !== null ? res() : child.once('exit', () => res())));
  assert.is(child.signalCode, 'SIGKILL');
  assert.ok(killedAt < ITERS, `killed at checkpoint ${killedAt}`);
  assert.not.ok(fs.existsSync(path.join(run, 'final-weights.json')));
  const linesBefore = fs.readFileSync(path.join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').length;
  assert.ok(linesBefore >= killedAt, 'metrics were written up to the kill');

  // the killed process left its run lock behind: stale (its pid is gone), so the resuming process takes it over
  assert.is(JSON.parse(fs.readFileSync(path.join(run, '.lock'), 'utf8')).pid, child.pid);
  const r2 = spawnSync(process.execPath, [...NODE_ARGS, CHILD, run, String(ITERS), String(EVERY), '0'], { env, encoding: 'utf8', cwd: ROOT });
  assert.is(r2.status, 0, r2.stderr);
  assert.match(r2.stderr, new RegExp(`removed a stale lock of pid ${child.pid} .*no longer running`));
  assert.not.ok(fs.existsSync(path.join(run, '.lock')), 'released at exit');
  const resumed = Number(/resumed (\d+)/.exec(r2.stdout)?.[1]);
  assert.ok(resumed >= killedAt && resumed % EVERY === 0, `resumed at ${resumed} (kill after checkpoint ${killedAt})`);

  const a = JSON.parse(fs.readFileSync(path.join(ref, 'final-weights.json'), 'utf8'));
  const b = JSON.parse(fs.readFileSync(path.join(run, 'final-weights.json'), 'utf8'));
  assert.is(b.step, ITERS);
  assert.equal(b.weights, a.weights, 'student weights identical');
  assert.equal(b.aligner, a.aligner, 'aligner + critic + their optimiser state identical');
  const ma = fs.readFileSync(path.join(ref, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const mb = fs.readFileSync(path.join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(mb.map((m) => m.step), ma.map((m) => m.step), 'one metrics line per step, no duplicates after resume');
  assert.equal(mb.map((m) => m.loss), ma.map((m) => m.loss), 'identical loss curve');
  fs.rmSync(tmp, { recursive: true, force: true });
});

test.run();
