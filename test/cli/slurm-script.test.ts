/**
 * `sweep --slurm`: the scripts it writes (--dry-run output), the resources from flags / config /
 * defaults, the checks before submission, and that the array script, run as Slurm would run it,
 * hands the sweep's own options to the CLI intact with --shard i/n from the array variables.
 * (The live single-node Slurm test is test/cli/slurm-live.test.ts.)
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { COMMANDS, main } from '../../lib/cli/main';
import { parseOptions, stripOptions } from '../../lib/cli/args';
import { checkRunsDir, localStorageWarnings, planSlurmSweep, shellQuote, slurmResources, SLURM_DEFAULTS } from '../../lib/train/slurm';
import { capture, tinyDataset } from './fixtures';

let data = '';
let tmp = '';
test.before(async () => {
  data = await tinyDataset();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-slurm-script-'));
});
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const GRID = '{"train.lr": [0.001, 0.002], "model": ["student-r18-0.5"]}';
function sweepArgs(runs: string): string[] {
  return ['sweep', '--name', 'tw+1', '--runs', runs, '--data', data, '--downsample', '1', '--model', 'student-r18-0.5', '--val-limit', '1',
    '--iters', '3', '--batch', '1', '--optimizer', 'adam', '--weight-decay=0', '--no-eval', '--seeds', '0,1,2', '--grid', GRID];
}

/** Split the --dry-run output into its two scripts. */
function scripts(out: string): { array: string; merge: string } {
  const parts = out.split(/^# \/.*\.sbatch$/m);
  assert.is(parts.length, 3, out);
  return { array: parts[1].split(/^# submit with:/m)[0].trim() + '\n', merge: parts[2].split(/^# submit with:/m)[0].trim() + '\n' };
}

test('--dry-run prints both scripts with default resources and submits nothing', async () => {
  const runs = path.join(tmp, 'runs-dry');
  const r = await capture(() => main([...sweepArgs(runs), '--slurm', '--dry-run']));
  assert.is(r.code, 0, r.err);
  assert.not.ok(fs.existsSync(runs), 'a dry run writes nothing');
  const { array, merge } = scripts(r.out);
  assert.match(r.out, /6 cell\(s\) in 6 array task\(s\); nothing submitted/);
  const d = SLURM_DEFAULTS;
  for (const line of ['#SBATCH --array=0-5', `#SBATCH --cpus-per-task=${d.cpus}`, `#SBATCH --mem=${d.mem}`, `#SBATCH --time=${d.time}`,
    '#SBATCH --requeue', '#SBATCH --open-mode=append', `#SBATCH --chdir=${process.cwd()}`, `#SBATCH --output=${path.join(path.resolve(runs), 'tw+1', 'slurm', '%A_%a.out')}`]) {
    assert.ok(array.split('\n').includes(line), `array script has '${line}'\n${array}`);
  }
  assert.not.match(array, /--gres|--partition|--array=0-5%/);
  assert.match(array, /--shard "\$\{SLURM_ARRAY_TASK_ID\}\/\$\{SLURM_ARRAY_TASK_COUNT\}"$/m);
  const exec = array.split('\n').find((l) => l.startsWith('exec '))!;
  assert.not.match(exec, /--slurm|--dry-run/);
  assert.ok(merge.split('\n').includes(`#SBATCH --mem=${d.mergeMem}`));
  assert.match(merge, new RegExp(`merge --runs ${path.resolve(runs).replace(/[/.]/g, '\\$&')} --name tw\\+1$`, 'm'));
  assert.match(r.out, /^sbatch --parsable --dependency=afterok:<array job id> --kill-on-invalid-dep=yes /m);
  for (const s of [array, merge]) {
    const syntax = spawnSync('bash', ['-n'], { input: s, encoding: 'utf8' });
    assert.is(syntax.status, 0, `bash -n: ${syntax.stderr}`);
  }
  assert.match(r.err, /warning: the data folder .* usually local to this machine/);
});

test('resources: a --slurm-config file under flags; array task count, throttle, GPUs, setup lines', async () => {
  const runs = path.join(tmp, 'runs-res');
  const cfg = path.join(tmp, 'slurm.json');
  fs.writeFileSync(cfg, JSON.stringify({ cpus: 8, mem: '32G', partition: 'gpu', gpus: 1, tasks: 2, account: 'proj42', setup: ['module load nodejs/20'], sbatchOptions: ['--constraint=a100'] }));
  const r = await capture(() => main([...sweepArgs(runs), '--slurm', '--dry-run', '--slurm-config', cfg, '--slurm-cpus', '2', '--slurm-time', '2-00:00:00', '--slurm-max-parallel', '1', '--slurm-setup', 'source ~/env.sh']));
  assert.is(r.code, 0, r.err);
  const { array, merge } = scripts(r.out);
  const lines = array.split('\n');
  for (const line of ['#SBATCH --array=0-1%1', '#SBATCH --cpus-per-task=2', '#SBATCH --mem=32G', '#SBATCH --time=2-00:00:00', '#SBATCH --gres=gpu:1',
    '#SBATCH --partition=gpu', '#SBATCH --account=proj42', '#SBATCH --constraint=a100', 'module load nodejs/20', 'source ~/env.sh']) {
    assert.ok(lines.includes(line), `array script has '${line}'\n${array}`);
  }
  assert.ok(lines.indexOf('source ~/env.sh') < lines.indexOf('set -euo pipefail'), 'setup runs before set -u');
  assert.ok(merge.split('\n').includes('#SBATCH --partition=gpu'), 'the merge job goes to the same partition');
  assert.not.match(merge, /--gres/);
  assert.match(array, /if \[ "\$SLURM_ARRAY_TASK_COUNT" != 2 \]/);
});

test('the array script, run with Slurm\'s variables, passes the sweep options through intact with --shard i/n', async () => {
  const runs = path.join(tmp, 'runs-exec');
  const fakeNode = path.join(tmp, 'fake-node.sh');
  const argsOut = path.join(tmp, 'args.json');
  // stands in for node: records its argv as JSON (one word per line is not enough: words hold spaces and quotes)
  fs.writeFileSync(fakeNode, `#!/bin/sh\n"${process.execPath}" -e 'require("fs").writeFileSync(process.argv[1], JSON.stringify(process.argv.slice(2)))' "${argsOut}" "$@"\n`, { mode: 0o755 });
  const cfg = path.join(tmp, 'node.json');
  fs.writeFileSync(cfg, JSON.stringify({ node: fakeNode }));
  const r = await capture(() => main([...sweepArgs(runs), '--slurm', '--dry-run', '--slurm-config', cfg, '--slurm-tasks', '4']));
  assert.is(r.code, 0, r.err);
  const { array, merge } = scripts(r.out);
  const env = { ...process.env, SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '4', SLURM_ARRAY_JOB_ID: '77' };
  const run = spawnSync('bash', ['-c', array], { env, encoding: 'utf8' });
  assert.is(run.status, 0, run.stderr);
  assert.match(run.stdout, /array job 77 task 3\/4, start 0/);
  const argv = JSON.parse(fs.readFileSync(argsOut, 'utf8')) as string[];
  assert.is(argv[0], path.resolve('bin/channel-distill.cjs'));
  assert.is(argv[1], 'sweep');
  assert.equal(argv.slice(2), [...sweepArgs(runs).slice(1), '--shard', '3/4']);
  const o = parseOptions('sweep', argv.slice(2), COMMANDS.sweep.options);
  assert.equal(o.grid, JSON.parse(GRID));
  assert.is(o.name, 'tw+1');
  assert.is(o.shard, '3/4');
  // a task outside an array, or in an array of the wrong size, refuses to run
  const noArray = spawnSync('bash', ['-c', array], { env: { ...process.env, SLURM_ARRAY_TASK_ID: '', SLURM_ARRAY_TASK_COUNT: '' }, encoding: 'utf8' });
  assert.is.not(noArray.status, 0);
  assert.match(noArray.stderr, /SLURM_ARRAY_TASK_ID: not set: submit this script with sbatch/);
  const wrong = spawnSync('bash', ['-c', array], { env: { ...env, SLURM_ARRAY_TASK_COUNT: '3' }, encoding: 'utf8' });
  assert.is(wrong.status, 2);
  assert.match(wrong.stderr, /this array must have 4 tasks.*Slurm says 3/);
  fs.rmSync(argsOut);
  const m = spawnSync('bash', ['-c', merge], { encoding: 'utf8' });
  assert.is(m.status, 0, m.stderr);
  assert.equal(JSON.parse(fs.readFileSync(argsOut, 'utf8')).slice(1), ['merge', '--runs', path.resolve(runs), '--name', 'tw+1']);
});

test('bad options are refused before anything is written or submitted', async () => {
  const runs = path.join(tmp, 'runs-bad');
  const cases: [string[], RegExp][] = [
    [['--slurm', '--shard', '0/2'], /--slurm decides the shards itself/],
    [['--slurm-mem', '4G'], /--slurm-mem needs --slurm/],
    [['--slurm', '--slurm-time', '3 days'], /time must be a Slurm time like 24:00:00/],
    [['--slurm', '--slurm-mem', '4GB'], /mem must be a Slurm memory size/],
    [['--slurm', '--slurm-tasks', '7'], /7 array tasks for 6 cell\(s\)/],
    [['--slurm', '--slurm-partition', 'a b'], /partition must be a name/],
  ];
  for (const [extra, re] of cases) {
    const r = await capture(() => main([...sweepArgs(runs), ...extra, '--dry-run']));
    assert.is(r.code, 2, `${extra.join(' ')}: ${r.err}`);
    assert.match(r.err, re);
  }
  const cfg = path.join(tmp, 'typo.json');
  fs.writeFileSync(cfg, JSON.stringify({ cpu: 4 }));
  const r = await capture(() => main([...sweepArgs(runs), '--slurm', '--slurm-config', cfg]));
  assert.is(r.code, 2);
  assert.match(r.err, /--slurm-config .*typo.json: unknown field 'cpu'/);
  assert.not.ok(fs.existsSync(runs));
  // a runs folder that cannot be created is refused before sbatch is looked for
  const file = path.join(tmp, 'a-file');
  fs.writeFileSync(file, '');
  const nw = await capture(() => main([...sweepArgs(path.join(file, 'runs')), '--slurm']));
  assert.is(nw.code, 1);
  assert.match(nw.err, /the runs folder .*a-file\/runs is not writable .*storage every node sees/);
});

test('checkRunsDir: creates and probes the folder, leaves nothing behind, warns for node-local places', () => {
  const d = path.join(tmp, 'probe', 'runs');
  const w = checkRunsDir(d);
  assert.ok(fs.statSync(d).isDirectory());
  assert.equal(fs.readdirSync(d), []);
  assert.is(w.length, 1);
  assert.match(w[0], /under a temporary folder/);
  // a path outside the temporary folders is not flagged (the checkout itself may live under /tmp, as in a CI clone)
  assert.equal(localStorageWarnings('/srv/shared/cityscapes-runs', 'runs folder'), [], 'a shared-looking path is not flagged');
});

test('stripOptions drops named options in every spelling and keeps the rest in order', () => {
  const specs = COMMANDS.sweep.options;
  const argv = ['--name', 'x', '--slurm', '--slurm-mem=4G', '--no-eval', '--slurm-cpus', '2', '--shard', '0/2', '--dry-run', '--grid', '{"a": [1]}', '--no-slurm'];
  assert.equal(stripOptions(argv, specs, (n) => n.startsWith('slurm') || n === 'shard' || n === 'dry-run'), ['--name', 'x', '--no-eval', '--grid', '{"a": [1]}']);
  assert.is(shellQuote("a'b c"), `'a'\\''b c'`);
  const echo = spawnSync('bash', ['-c', `printf %s ${shellQuote("a'b \"c\" $HOME")}`], { encoding: 'utf8' });
  assert.is(echo.stdout, "a'b \"c\" $HOME");
});

test('planSlurmSweep refuses paths #SBATCH lines cannot hold', () => {
  const resources = slurmResources({}, {});
  assert.throws(() => planSlurmSweep({ name: 's', runsDir: '/my runs', cells: 2, resources, command: ['node'], sweepArgs: [] }), /contains whitespace/);
});

test.run();
