/**
 * A throwaway single-node Slurm for tests: munged, slurmctld and slurmd as local processes of the
 * test, configured for localhost (NodeName=localhost, NodeAddr=127.0.0.1) with the machine's CPUs,
 * every file (key, sockets, state, spool, logs) in one temporary folder, ports chosen free.
 * Nothing is installed or changed outside that folder; `stop()` cancels the jobs, ends the daemons
 * it started (by their process ids) and removes the folder.
 *
 * Needs the Debian packages `slurm-wlm` and `munge` (scripts/apt-packages.txt) and root (slurmd
 * runs jobs as their submitting user; the test submits as itself).
 */
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';

export interface SlurmCluster {
  dir: string;
  /** Environment for Slurm client commands (SLURM_CONF). */
  env: NodeJS.ProcessEnv;
  cpus: number;
  /** Run a Slurm client command (sbatch, squeue, scontrol, ...); throws with its stderr on failure. */
  cmd(args: string[]): string;
  /** Tail of the daemons' logs (for failure messages). */
  logs(): string;
  stop(): Promise<void>;
}

const BINARIES = ['munged', 'slurmctld', 'slurmd', 'sbatch', 'scontrol', 'squeue', 'scancel', 'sinfo'];

function which(bin: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${bin} || ls /usr/sbin/${bin} 2>/dev/null`], { encoding: 'utf8' });
  const p = r.stdout.trim().split('\n')[0];
  return p ? p : null;
}

/** Why a Slurm cannot be started here (missing binaries, not root), or null when it can be tried. */
export function slurmUnavailableReason(): string | null {
  const missing = BINARIES.filter((b) => !which(b));
  if (missing.length) return `missing ${missing.join(', ')} (install the Debian packages slurm-wlm and munge: see scripts/apt-packages.txt)`;
  if (process.getuid && process.getuid() !== 0) return 'slurmd must run as root to start jobs (run the tests as root, as CI does)';
  return null;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function tail(file: string, n = 40): string {
  if (!fs.existsSync(file)) return `(${path.basename(file)}: absent)`;
  const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
  return `--- ${path.basename(file)} (last ${Math.min(n, lines.length)} lines)\n${lines.slice(-n).join('\n')}`;
}

/** Start munge + slurmctld + slurmd; resolves once the node is idle and accepts jobs (or throws saying why). */
export async function startSlurm(opts: { cpus?: number; realMemoryMB?: number; timeoutMs?: number } = {}): Promise<SlurmCluster> {
  const why = slurmUnavailableReason();
  if (why) throw new Error(why);
  const cpus = opts.cpus ?? Math.max(1, os.cpus().length);
  const realMemoryMB = opts.realMemoryMB ?? Math.floor((os.totalmem() / 2 ** 20) * 0.5);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-slurm-'));
  fs.chmodSync(dir, 0o700);
  for (const d of ['state', 'spool', 'munge']) fs.mkdirSync(path.join(dir, d), { mode: 0o700 });
  const procs: ChildProcess[] = [];
  const socket = path.join(dir, 'munge', 'munge.socket');
  const conf = path.join(dir, 'slurm.conf');
  const env: NodeJS.ProcessEnv = { ...process.env, SLURM_CONF: conf };
  const logFiles = ['munged.log', 'slurmctld.log', 'slurmd.log'].map((f) => path.join(dir, f));
  const logs = () => logFiles.map((f) => tail(f)).join('\n');

  const cluster: SlurmCluster = {
    dir, env, cpus,
    cmd(args) {
      const r = spawnSync(args[0], args.slice(1), { env, encoding: 'utf8', timeout: 30_000 });
      if (r.status !== 0) throw new Error(`${args.join(' ')} failed (status ${r.status}): ${r.stderr || r.error?.message || ''}`.trim());
      return r.stdout;
    },
    logs,
    async stop() {
      try {
        spawnSync('scancel', ['--full', '--user', os.userInfo().username], { env, timeout: 10_000 });
        // let slurmd end the job steps it started before it goes
        for (let i = 0; i < 20; i++) {
          const q = spawnSync('squeue', ['-h', '-o', '%i'], { env, encoding: 'utf8', timeout: 5000 });
          if (q.status !== 0 || q.stdout.trim() === '') break;
          await sleep(250);
        }
      } catch { /* daemons may be down already */ }
      for (const p of procs.reverse()) {
        if (p.exitCode === null && p.signalCode === null) {
          p.kill('SIGTERM');
          const t0 = Date.now();
          while (p.exitCode === null && p.signalCode === null && Date.now() - t0 < 5000) await sleep(50);
          if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
        }
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    // munge: a fresh key of our own, our own socket
    const key = path.join(dir, 'munge', 'munge.key');
    fs.writeFileSync(key, require('crypto').randomBytes(1024), { mode: 0o600 });
    const munged = spawn(which('munged')!, ['--foreground', '--force', `--key-file=${key}`, `--socket=${socket}`,
      `--pid-file=${path.join(dir, 'munge', 'munged.pid')}`, `--log-file=${logFiles[0]}`, `--seed-file=${path.join(dir, 'munge', 'munged.seed')}`],
    { stdio: 'ignore' });
    procs.push(munged);
    for (let i = 0; i < 100 && !fs.existsSync(socket); i++) await sleep(50);
    if (!fs.existsSync(socket)) throw new Error(`munged did not create its socket ${socket}`);

    const [ctldPort, slurmdPort] = [await freePort(), await freePort()];
    const user = os.userInfo().username;
    fs.writeFileSync(conf, [
      '# written by test/cli/slurm-cluster.ts: a single-node Slurm on localhost for the tests',
      'ClusterName=cdtest',
      'SlurmctldHost=localhost',
      `SlurmctldPort=${ctldPort}`,
      `SlurmdPort=${slurmdPort}`,
      `SlurmUser=${user}`,
      `SlurmdUser=root`,
      'AuthType=auth/munge',
      'CredType=cred/munge',
      `AuthInfo=socket=${socket}`,
      `StateSaveLocation=${path.join(dir, 'state')}`,
      `SlurmdSpoolDir=${path.join(dir, 'spool')}`,
      `SlurmctldPidFile=${path.join(dir, 'slurmctld.pid')}`,
      `SlurmdPidFile=${path.join(dir, 'slurmd.pid')}`,
      `SlurmctldLogFile=${logFiles[1]}`,
      `SlurmdLogFile=${logFiles[2]}`,
      'SlurmctldDebug=info',
      'SlurmdDebug=info',
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'JobAcctGatherType=jobacct_gather/none',
      'AccountingStorageType=accounting_storage/none',
      'JobCompType=jobcomp/none',
      'SwitchType=switch/none',
      'MpiDefault=none',
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_CPU',
      'SchedulerType=sched/builtin',
      'ReturnToService=2',
      'JobRequeue=1',
      'KillWait=3',
      'MinJobAge=600',
      'InactiveLimit=0',
      `NodeName=localhost NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${realMemoryMB} State=UNKNOWN`,
      'PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP',
      '',
    ].join('\n'));

    const ctld = spawn(which('slurmctld')!, ['-D', '-i', '-f', conf], { env, stdio: 'ignore' });
    procs.push(ctld);
    const slurmd = spawn(which('slurmd')!, ['-D', '-N', 'localhost', '-f', conf], { env, stdio: 'ignore' });
    procs.push(slurmd);

    const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
    let state = '';
    while (Date.now() < deadline) {
      for (const [name, p] of [['munged', munged], ['slurmctld', ctld], ['slurmd', slurmd]] as const) {
        if (p.exitCode !== null || p.signalCode !== null) throw new Error(`${name} exited (${p.exitCode ?? p.signalCode}) while starting`);
      }
      const r = spawnSync('sinfo', ['-h', '-N', '-o', '%T'], { env, encoding: 'utf8', timeout: 5000 });
      state = (r.stdout ?? '').trim();
      if (r.status === 0 && /^idle/.test(state)) return cluster;
      await sleep(250);
    }
    throw new Error(`the node did not become idle within ${(opts.timeoutMs ?? 30_000) / 1000} s (sinfo state '${state}')`);
  } catch (e) {
    const msg = `${(e as Error).message}\n${logs()}`;
    await cluster.stop();
    throw new Error(msg);
  }
}
