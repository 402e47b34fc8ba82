/**
 * `sweep --slurm` on a real Slurm: the test starts a single-node Slurm on localhost (munged,
 * slurmctld, slurmd as its own processes, test/cli/slurm-cluster.ts), submits a tiny 2-shard sweep
 * as a job array plus its merge job, requeues one array task in the middle of its cell
 * (`scontrol requeue`, then releases it from Slurm's fixed 121 s requeue delay), and checks that
 * - the requeued task started again and resumed its cell from a checkpoint (step > 0),
 * - the merge job ran after the array and its results equal those of the same sweep run locally
 *   (cell ids, parameters, steps, mIoU and per-class IoU, exactly),
 * - Slurm is gone afterwards (daemons ended, its folder removed).
 * Without Slurm (packages missing, not root) or when it cannot start, the test says why and is
 * skipped, except in CI (CI=true), where that is a failure: .ci/run installs slurm-wlm and munge.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { main } from '../../lib/cli/main';
import { capture, tinyDataset } from './fixtures';
import { slurmUnavailableReason, startSlurm, SlurmCluster } from './slurm-cluster';

const IN_CI = /^(1|true|yes)$/i.test(process.env.CI ?? '');
const ITERS = 24;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CLI = path.resolve(__dirname, '..', '..', 'bin', 'channel-distill.cjs');

function sweepArgs(data: string, runs: string): string[] {
  // 2 cells (seeds 0, 1), tiny crops, a checkpoint every 3 steps so a requeue lands between checkpoints
  return ['sweep', '--name', 'live', '--runs', runs, '--data', data, '--downsample', '1', '--model', 'student-r18-0.5',
    '--val-limit', '2', '--iters', String(ITERS), '--batch', '1', '--crop', '48x64', '--optimizer', 'adam', '--lr', '0.002',
    '--weight-decay', '0', '--checkpoint-every', '3', '--seeds', '0,1'];
}

interface Row { id: string; params: unknown; steps: number; mIoU: number; perClassIoU: (number | null)[] }
function rows(file: string): Row[] {
  const j = JSON.parse(fs.readFileSync(file, 'utf8')) as { complete: boolean; results: Row[] };
  assert.ok(j.complete, `${file}: complete`);
  return j.results.map((r) => ({ id: r.id, params: r.params, steps: r.steps, mIoU: r.mIoU, perClassIoU: r.perClassIoU }));
}

function jobField(c: SlurmCluster, id: string, field: string): string {
  const out = c.cmd(['scontrol', '-o', 'show', 'job', id]);
  return new RegExp(`\\b${field}=(\\S*)`).exec(out)?.[1] ?? '';
}

const why = slurmUnavailableReason();
const NAME = 'a 2-shard sweep as a Slurm job array + merge equals a local run; a requeued task resumes from its checkpoint';

if (why && !IN_CI) {
  console.error(`test/cli/slurm-live.test.ts: skipped: ${why}`);
  test.skip(NAME, () => {});
} else {
  test(NAME, async () => {
    if (why) throw new Error(`Slurm is required in CI (CI=true) but: ${why}`);
    const t0 = Date.now();
    const data = await tinyDataset();
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-slurm-live-'));
    let cluster: SlurmCluster | null = null;
    try {
      try {
        cluster = await startSlurm({ realMemoryMB: 8000 });
      } catch (e) {
        if (IN_CI) throw new Error(`Slurm could not start (required in CI): ${(e as Error).message}`);
        console.error(`test/cli/slurm-live.test.ts: skipped: Slurm could not start: ${(e as Error).message}`);
        return;
      }
      const c = cluster;
      const tStart = Date.now();

      // submit: the CLI in this process, Slurm's clients find the test cluster through SLURM_CONF
      const slurmRuns = path.join(tmp, 'slurm-runs');
      const prevConf = process.env.SLURM_CONF;
      process.env.SLURM_CONF = c.env.SLURM_CONF;
      let sub;
      try {
        sub = await capture(() => main([...sweepArgs(data, slurmRuns), '--slurm', '--slurm-cpus', '1', '--slurm-mem', '1G', '--slurm-time', '10']));
      } finally {
        if (prevConf === undefined) delete process.env.SLURM_CONF;
        else process.env.SLURM_CONF = prevConf;
      }
      assert.is(sub.code, 0, sub.err);
      const arrayId = /^array job: (\d+)$/m.exec(sub.out)?.[1];
      const mergeId = /^merge job: (\d+)/m.exec(sub.out)?.[1];
      assert.ok(arrayId && mergeId, sub.out);
      assert.match(jobField(c, mergeId!, 'Dependency'), new RegExp(`afterok:${arrayId}`));

      // requeue task 0 once its cell has a checkpoint and is not finished
      const cell0 = path.join(slurmRuns, 'live', 'cells', 'seed=0');
      const latest = path.join(cell0, 'checkpoints', 'latest.json');
      let requeuedAt = -1;
      for (const deadline = Date.now() + 90_000; Date.now() < deadline;) {
        if (fs.existsSync(path.join(cell0, 'result.json'))) break;
        if (fs.existsSync(latest)) {
          const step = (JSON.parse(fs.readFileSync(latest, 'utf8')) as { step: number }).step;
          if (step > 0 && step < ITERS) {
            c.cmd(['scontrol', 'requeue', `${arrayId}_0`]);
            requeuedAt = step;
            break;
          }
        }
        await sleep(100);
      }
      assert.ok(requeuedAt > 0, `task 0 was requeued in the middle of its cell (its cell finished or never checkpointed first)\n${c.logs()}`);
      // Slurm holds a requeued job for 121 s (Reason=BeginTime) before it may start again, time for
      // the node to finish off its first run; the test releases it at once, but only after slurmd
      // has ended that first run (its `[<job id>.batch] done with job` line)
      const rawId = jobField(c, `${arrayId}_0`, 'JobId');
      const slurmdLog = path.join(c.dir, 'slurmd.log');
      let released = false;
      for (const deadline = Date.now() + 30_000; !released && Date.now() < deadline; await sleep(200)) {
        if (jobField(c, `${arrayId}_0`, 'JobState') !== 'PENDING') continue;
        if (!fs.readFileSync(slurmdLog, 'utf8').includes(`[${rawId}.batch] done with job`)) continue;
        try {
          c.cmd(['scontrol', 'update', `JobId=${arrayId}_0`, 'StartTime=now']);
          released = true;
        } catch { /* not ready yet */ }
      }
      assert.ok(released, `requeued task 0 became pending and could be released\n${c.logs()}`);

      // meanwhile, the same sweep locally (one process, no shards)
      const localRuns = path.join(tmp, 'local-runs');
      const local = spawnSync(process.execPath, [CLI, ...sweepArgs(data, localRuns)], { encoding: 'utf8', timeout: 120_000 });
      assert.is(local.status, 0, local.stderr);

      let state = '';
      for (const deadline = Date.now() + 120_000; Date.now() < deadline; await sleep(500)) {
        state = jobField(c, mergeId!, 'JobState');
        if (!['PENDING', 'RUNNING', 'CONFIGURING', 'COMPLETING'].includes(state)) break;
      }
      const slurmDir = path.join(slurmRuns, 'live', 'slurm');
      const outs = () => fs.readdirSync(slurmDir).filter((f) => f.endsWith('.out')).map((f) => `--- ${f}\n${fs.readFileSync(path.join(slurmDir, f), 'utf8').split('\n').slice(-12).join('\n')}`).join('\n');
      assert.is(state, 'COMPLETED', `merge job ${mergeId}: ${state}\n${outs()}\n${c.logs()}`);
      for (const t of [0, 1]) assert.is(jobField(c, `${arrayId}_${t}`, 'JobState'), 'COMPLETED');
      assert.is(jobField(c, `${arrayId}_0`, 'Restarts'), '1', 'task 0 ran twice');
      assert.is(jobField(c, `${arrayId}_1`, 'Restarts'), '0');

      // the requeued task's log (appended across starts): started twice, resumed its cell from a checkpoint
      const log0 = fs.readFileSync(path.join(slurmDir, `${arrayId}_0.out`), 'utf8');
      assert.match(log0, /task 0\/2, start 0/);
      assert.match(log0, /task 0\/2, start 1/);
      const resumed = /resuming \S*seed=0 at step (\d+)\/(\d+)/.exec(log0);
      assert.ok(resumed, `task 0 resumed its cell from a checkpoint:\n${log0}`);
      assert.ok(Number(resumed![1]) >= requeuedAt && Number(resumed![1]) < ITERS, `resumed at step ${resumed![1]} (requeued at checkpoint step ${requeuedAt})`);
      assert.match(fs.readFileSync(path.join(slurmDir, `merge_${mergeId}.out`), 'utf8'), /merged 2 cell\(s\)/);

      // the merged results equal the local run's
      const fromSlurm = rows(path.join(slurmRuns, 'live', 'results.json'));
      const fromLocal = rows(path.join(localRuns, 'live', 'results.json'));
      assert.is(fromSlurm.length, 2);
      assert.equal(fromSlurm, fromLocal);
      assert.ok(fromSlurm.every((r) => r.steps === ITERS && r.mIoU > 0), JSON.stringify(fromSlurm));
      console.error(`slurm-live: Slurm up in ${((tStart - t0) / 1000).toFixed(1)} s, test ${((Date.now() - t0) / 1000).toFixed(1)} s, requeued at step ${requeuedAt}, resumed at ${resumed![1]}`);
    } finally {
      if (cluster) {
        const dir = cluster.dir;
        const pids = ['slurmctld.pid', 'slurmd.pid', path.join('munge', 'munged.pid')].map((f) => path.join(dir, f)).filter((f) => fs.existsSync(f)).map((f) => Number(fs.readFileSync(f, 'utf8').trim()));
        await cluster.stop();
        assert.not.ok(fs.existsSync(dir), 'Slurm folder removed');
        for (const pid of pids) {
          let alive = true;
          try { process.kill(pid, 0); } catch { alive = false; }
          assert.not.ok(alive, `daemon ${pid} ended`);
        }
      }
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
}

test.run();
