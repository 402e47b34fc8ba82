/**
 * Sweeps on a Slurm cluster: one job array (task i of n runs `sweep --shard i/n`) plus a `merge` job
 * that runs after every array task has succeeded (`--dependency=afterok:<array job>`).
 *
 * - The runs folder must be on storage every node sees (NFS, Lustre, GPFS, BeeGFS, CephFS, ...):
 *   array tasks write their cells there and the merge job reads them back. `checkRunsDir` refuses
 *   a folder that cannot be written and warns about node-local places (/tmp, /dev/shm, tmpfs).
 * - Preemption and requeue: array tasks are submitted with `--requeue` and `--open-mode=append`. A
 *   requeued or restarted task runs the same shard again: finished cells (with `result.json`) are
 *   skipped, an interrupted cell resumes from its last checkpoint (`train.checkpointEvery` steps).
 *   Checkpoints are written atomically, so a task killed at any moment (SIGKILL after Slurm's
 *   KillWait included) loses at most the steps since its last checkpoint.
 * - Scripts run from the submission folder (`--chdir`), so relative --runs/--data/--teacher paths
 *   mean the same on the nodes, with the same Node.js and project paths (shared storage again).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export interface SlurmResources {
  /** CPUs per array task (`--cpus-per-task`). */
  cpus: number;
  /** Memory per array task (`--mem`, e.g. 16G). */
  mem: string;
  /** Wall-clock limit per array task (`--time`, e.g. 24:00:00 or 1-12:00:00). */
  time: string;
  /** Partition (`--partition`); the cluster default when absent. */
  partition?: string;
  /** GPUs per array task (`--gres=gpu:N`); 0 for none. */
  gpus: number;
  /** At most this many array tasks at once (`--array=0-(n-1)%k`). */
  maxParallel?: number;
  account?: string;
  qos?: string;
  /** Shell lines run before the command in both scripts (e.g. `module load nodejs/20`). */
  setup: string[];
  /** Extra sbatch options for the array job, each one `--option=value` (e.g. `--constraint=avx2`). */
  sbatchOptions: string[];
  /** The merge job's memory and time limit. */
  mergeMem: string;
  mergeTime: string;
  /** Node.js executable the jobs run (default: the one running this command; `node` takes it from PATH). */
  node: string;
}

export const SLURM_DEFAULTS: Omit<SlurmResources, 'node'> = {
  cpus: 4, mem: '16G', time: '24:00:00', gpus: 0, setup: [], sbatchOptions: [], mergeMem: '4G', mergeTime: '00:30:00',
};

const TIME_RE = /^(\d+-\d{1,2}(:\d{1,2}(:\d{1,2})?)?|\d+(:\d{1,2}(:\d{1,2})?)?)$/;
const MEM_RE = /^\d+[KMGT]?$/i;

/**
 * Resources from a config object (e.g. a `--slurm-config` JSON file) overlaid by flags (undefined
 * flags are ignored), over `SLURM_DEFAULTS`. Every value is checked; errors name the field and `source`.
 */
export function slurmResources(config: Record<string, unknown>, flags: Partial<SlurmResources>, source = 'slurm config'): SlurmResources {
  const known = ['cpus', 'mem', 'time', 'partition', 'gpus', 'maxParallel', 'account', 'qos', 'setup', 'sbatchOptions', 'mergeMem', 'mergeTime', 'node', 'tasks'];
  for (const k of Object.keys(config)) if (!known.includes(k)) throw new Error(`${source}: unknown field '${k}' (known: ${known.join(', ')})`);
  const r: Record<string, unknown> = { ...SLURM_DEFAULTS, node: process.execPath };
  for (const [k, v] of Object.entries(config)) if (k !== 'tasks' && v !== undefined) r[k] = v;
  for (const [k, v] of Object.entries(flags)) if (v !== undefined) r[k] = v;
  const bad = (k: string, what: string) => new Error(`${source}: ${k} must be ${what}, got ${JSON.stringify(r[k])}`);
  const int = (k: string, min: number) => { if (!Number.isInteger(r[k]) || (r[k] as number) < min) throw bad(k, `an integer >= ${min}`); };
  int('cpus', 1);
  int('gpus', 0);
  if (r.maxParallel !== undefined) int('maxParallel', 1);
  for (const k of ['mem', 'mergeMem']) if (typeof r[k] !== 'string' || !MEM_RE.test(r[k] as string)) throw bad(k, 'a Slurm memory size like 16G or 4000M');
  for (const k of ['time', 'mergeTime']) if (typeof r[k] !== 'string' || !TIME_RE.test(r[k] as string)) throw bad(k, 'a Slurm time like 24:00:00, 90 or 1-12:00:00');
  for (const k of ['partition', 'account', 'qos']) {
    if (r[k] !== undefined && (typeof r[k] !== 'string' || !/^[A-Za-z0-9_.,-]+$/.test(r[k] as string))) throw bad(k, 'a name (letters, digits, _ . , -)');
  }
  if (typeof r.node !== 'string' || r.node === '') throw bad('node', 'a path to node (or "node")');
  for (const k of ['setup', 'sbatchOptions']) {
    if (!Array.isArray(r[k]) || !(r[k] as unknown[]).every((x) => typeof x === 'string')) throw bad(k, 'a list of strings');
  }
  for (const o of r.sbatchOptions as string[]) {
    if (!/^--[a-z][a-z-]*(=\S.*)?$/.test(o) || /[\n\r]/.test(o)) throw new Error(`${source}: sbatchOptions entries must look like --option=value, got ${JSON.stringify(o)}`);
  }
  if ((r.setup as string[]).some((l) => /[\n\r]/.test(l))) throw new Error(`${source}: setup must be a list of single lines`);
  return r as unknown as SlurmResources;
}

/** Quote one word for bash (single quotes). */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface SlurmSweepPlan {
  name: string;
  /** Absolute runs folder, sweep folder and the folder of the scripts and job logs. */
  runsDir: string;
  sweepDir: string;
  slurmDir: string;
  tasks: number;
  cells: number;
  arrayScript: string;
  mergeScript: string;
  arrayScriptFile: string;
  mergeScriptFile: string;
  /** The sbatch command lines (the merge's dependency id is filled in at submission). */
  arraySubmit: string[];
  mergeSubmit: string[];
}

/**
 * The two sbatch scripts of a sweep.
 * @param o.command the command that runs the CLI (e.g. [node, bin/channel-distill.cjs])
 * @param o.sweepArgs the `sweep` options without --slurm*, --shard and --dry-run
 */
export function planSlurmSweep(o: {
  name: string; runsDir: string; cells: number; tasks?: number; resources: SlurmResources;
  command: string[]; sweepArgs: string[]; cwd?: string;
}): SlurmSweepPlan {
  const tasks = o.tasks ?? o.cells;
  if (!Number.isInteger(tasks) || tasks < 1) throw new Error(`slurm: the number of array tasks must be >= 1, got ${tasks}`);
  if (tasks > o.cells) throw new Error(`slurm: ${tasks} array tasks for ${o.cells} cell(s): tasks past the last cell would have nothing to run (use at most ${o.cells})`);
  const r = o.resources;
  const cwd = path.resolve(o.cwd ?? process.cwd());
  const runsDir = path.resolve(cwd, o.runsDir);
  const sweepDir = path.join(runsDir, o.name);
  const slurmDir = path.join(sweepDir, 'slurm');
  for (const [what, p] of [['working folder', cwd], ['runs folder', sweepDir]]) {
    if (/\s/.test(p)) throw new Error(`slurm: the ${what} '${p}' contains whitespace, which #SBATCH lines cannot hold: use a path without spaces`);
  }
  const jobName = `cd-${o.name}`.replace(/[^A-Za-z0-9_.-]+/g, '_');
  const q = (a: string[]) => a.map(shellQuote).join(' ');
  const common = [
    ...(r.partition ? [`#SBATCH --partition=${r.partition}`] : []),
    ...(r.account ? [`#SBATCH --account=${r.account}`] : []),
    ...(r.qos ? [`#SBATCH --qos=${r.qos}`] : []),
    `#SBATCH --chdir=${cwd}`,
  ];
  // setup lines run before `set -u`: environment modules (Lmod) often read unset variables
  const setup = r.setup.length ? ['# setup (--slurm-setup / setup in --slurm-config)', ...r.setup] : [];
  const arrayScript = [
    '#!/bin/bash',
    `# channel-distill sweep '${o.name}' as a Slurm job array: ${tasks} task(s) over ${o.cells} cell(s).`,
    '# Written by `channel-distill sweep --slurm`. Array task i of n runs the cells k with k mod n = i',
    '# (`sweep --shard i/n`). A requeued or restarted task skips its finished cells and resumes an',
    '# interrupted one from its last checkpoint. The runs folder must be on storage every node sees.',
    `#SBATCH --job-name=${jobName}`,
    `#SBATCH --array=0-${tasks - 1}${r.maxParallel ? `%${r.maxParallel}` : ''}`,
    '#SBATCH --ntasks=1',
    `#SBATCH --cpus-per-task=${r.cpus}`,
    `#SBATCH --mem=${r.mem}`,
    `#SBATCH --time=${r.time}`,
    ...(r.gpus > 0 ? [`#SBATCH --gres=gpu:${r.gpus}`] : []),
    ...common,
    `#SBATCH --output=${path.join(slurmDir, '%A_%a.out')}`,
    '#SBATCH --open-mode=append',
    '#SBATCH --requeue',
    ...r.sbatchOptions.map((x) => `#SBATCH ${x}`),
    ...setup,
    'set -euo pipefail',
    ': "${SLURM_ARRAY_TASK_ID:?not set: submit this script with sbatch (it is a job array)}"',
    ': "${SLURM_ARRAY_TASK_COUNT:?not set: submit this script with sbatch (it is a job array)}"',
    `if [ "$SLURM_ARRAY_TASK_COUNT" != ${tasks} ]; then`,
    `  echo "error: this array must have ${tasks} tasks (the sweep's shards), Slurm says $SLURM_ARRAY_TASK_COUNT: submit it with --array=0-${tasks - 1}" >&2`,
    '  exit 2',
    'fi',
    'echo "$(date -Is) $(hostname): array job ${SLURM_ARRAY_JOB_ID} task ${SLURM_ARRAY_TASK_ID}/${SLURM_ARRAY_TASK_COUNT}, start ${SLURM_RESTART_COUNT:-0}"',
    `exec ${q([...o.command, 'sweep', ...o.sweepArgs])} --shard "\${SLURM_ARRAY_TASK_ID}/\${SLURM_ARRAY_TASK_COUNT}"`,
    '',
  ].join('\n');
  const mergeScript = [
    '#!/bin/bash',
    `# channel-distill: merge sweep '${o.name}' after its array job has succeeded (submitted with`,
    '# --dependency=afterok:<array job id> by `channel-distill sweep --slurm`).',
    `#SBATCH --job-name=${jobName}-merge`,
    '#SBATCH --ntasks=1',
    '#SBATCH --cpus-per-task=1',
    `#SBATCH --mem=${r.mergeMem}`,
    `#SBATCH --time=${r.mergeTime}`,
    ...common,
    `#SBATCH --output=${path.join(slurmDir, 'merge_%j.out')}`,
    ...setup,
    'set -euo pipefail',
    `exec ${q([...o.command, 'merge', '--runs', runsDir, '--name', o.name])}`,
    '',
  ].join('\n');
  const arrayScriptFile = path.join(slurmDir, 'sweep-array.sbatch');
  const mergeScriptFile = path.join(slurmDir, 'merge.sbatch');
  return {
    name: o.name, runsDir, sweepDir, slurmDir, tasks, cells: o.cells, arrayScript, mergeScript, arrayScriptFile, mergeScriptFile,
    arraySubmit: ['sbatch', '--parsable', arrayScriptFile],
    mergeSubmit: ['sbatch', '--parsable', '--dependency=afterok:<array job id>', '--kill-on-invalid-dep=yes', mergeScriptFile],
  };
}

const LOCAL_FS: Record<number, string> = { 0x01021994: 'tmpfs', 0x858458f6: 'ramfs' };
const SHARED_FS: Record<number, string> = {
  0x6969: 'nfs', 0x0bd00bd0: 'lustre', 0x47504653: 'gpfs', 0x19830326: 'beegfs', 0x00c36400: 'ceph', 0xff534d42: 'cifs',
  0xfe534d42: 'smb2', 0x65735546: 'fuse', 0x013111a8: 'ibrix', 0x6b414653: 'afs', 0x5346414f: 'afs',
};

/** Where a folder's filesystem is (best effort): 'shared (nfs)', 'node-local (tmpfs)', or 'unknown'. */
export function describeStorage(dir: string): { kind: 'shared' | 'local' | 'unknown'; fs?: string } {
  try {
    const t = (fs.statfsSync(dir).type >>> 0);
    if (SHARED_FS[t]) return { kind: 'shared', fs: SHARED_FS[t] };
    if (LOCAL_FS[t]) return { kind: 'local', fs: LOCAL_FS[t] };
  } catch { /* statfs unavailable */ }
  return { kind: 'unknown' };
}

/**
 * Check the runs folder before submitting: it is created if needed and must be writable (a probe
 * file is written, read back and removed). Returns warnings for places that are usually local to
 * one machine (/tmp, /var/tmp, /dev/shm, tmpfs): compute nodes would not see them.
 */
export function checkRunsDir(dir: string, what = 'runs folder'): string[] {
  const abs = path.resolve(dir);
  try {
    fs.mkdirSync(abs, { recursive: true });
    const probe = path.join(abs, `.slurm-write-check-${os.hostname()}-${process.pid}`);
    fs.writeFileSync(probe, 'ok\n');
    if (fs.readFileSync(probe, 'utf8') !== 'ok\n') throw new Error('a probe file read back different contents');
    fs.unlinkSync(probe);
  } catch (e) {
    throw new Error(`slurm: the ${what} ${abs} is not writable (${(e as Error).message}); array tasks write their cells there, so it must be a writable folder on storage every node sees`);
  }
  return localStorageWarnings(abs, what);
}

/** Warnings for paths that compute nodes usually do not share (no checks that write). */
export function localStorageWarnings(dir: string, what: string): string[] {
  const abs = path.resolve(dir);
  const out: string[] = [];
  const st = fs.existsSync(abs) ? describeStorage(abs) : { kind: 'unknown' as const };
  if (/^\/(tmp|var\/tmp|dev\/shm)(\/|$)/.test(abs) || st.kind === 'local') {
    out.push(`the ${what} ${abs} is ${st.kind === 'local' ? `on ${st.fs}` : 'under a temporary folder'}, usually local to this machine: other nodes will not see it (fine on a single-node cluster)`);
  }
  return out;
}

export interface SlurmSubmission {
  arrayJobId: string;
  mergeJobId: string;
  plan: SlurmSweepPlan;
}

function sbatch(args: string[], sbatchBin: string): string {
  const r = spawnSync(sbatchBin, args, { encoding: 'utf8' });
  if (r.error) {
    const missing = (r.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new Error(missing ? `slurm: ${sbatchBin} not found: run this on a Slurm login node (or add --dry-run to print the scripts)` : `slurm: ${sbatchBin} failed: ${r.error.message}`);
  }
  if (r.status !== 0) throw new Error(`slurm: ${[sbatchBin, ...args].join(' ')} exited with status ${r.status}: ${r.stderr.trim()}`);
  const id = r.stdout.trim().split('\n').pop()!.split(';')[0];
  if (!/^\d+$/.test(id)) throw new Error(`slurm: sbatch printed no job id (stdout '${r.stdout.trim()}')`);
  return id;
}

/** Write both scripts into `<sweep>/slurm/`, submit the array, then the merge job after it; record `jobs.json`. */
export function submitSlurmSweep(plan: SlurmSweepPlan, opts: { sbatch?: string } = {}): SlurmSubmission {
  const bin = opts.sbatch ?? 'sbatch';
  fs.mkdirSync(plan.slurmDir, { recursive: true });
  fs.writeFileSync(plan.arrayScriptFile, plan.arrayScript, { mode: 0o755 });
  fs.writeFileSync(plan.mergeScriptFile, plan.mergeScript, { mode: 0o755 });
  const arrayJobId = sbatch(plan.arraySubmit.slice(1), bin);
  let mergeJobId: string;
  try {
    mergeJobId = sbatch(['--parsable', `--dependency=afterok:${arrayJobId}`, '--kill-on-invalid-dep=yes', plan.mergeScriptFile], bin);
  } catch (e) {
    throw new Error(`${(e as Error).message}\nthe array job ${arrayJobId} was submitted; submit the merge yourself when it has finished: sbatch --dependency=afterok:${arrayJobId} ${plan.mergeScriptFile}`);
  }
  const record = { arrayJobId, mergeJobId, tasks: plan.tasks, cells: plan.cells, submittedAt: new Date().toISOString(), arrayScript: plan.arrayScriptFile, mergeScript: plan.mergeScriptFile };
  const jobsFile = path.join(plan.slurmDir, 'jobs.jsonl');
  fs.appendFileSync(jobsFile, JSON.stringify(record) + '\n');
  return { arrayJobId, mergeJobId, plan };
}
