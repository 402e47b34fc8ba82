/**
 * Config hashes must not change: run folders resume only under the same hash, checkpoints check it, and
 * data/results cells are keyed by the protocol hash. The values below were computed BEFORE the
 * configuration was given one owner (lib/train/config.ts, lib/train/recipes.ts, the CLI's one
 * flags-to-spec mapping), with the code of commit 24c1d3a, or read from run folders it wrote:
 * data/teacher-training/teacher-r1/config.json (committed) and the r2 pilot sweep of protocol r2
 * (runs/research/r2-pilot/sweep.json and its cell 0's config.json, data/results/r2-pilot/protocol.json).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseOptions } from '../../lib/cli/args';
import { COMMANDS, experimentFromOptions, sweepGridFromOptions } from '../../lib/cli/main';
import { configHash, resolveTrainConfig } from '../../lib/train/config';
import { defaultDemoOptions, demoSpecs } from '../../lib/train/demo';
import { resolveExperiment } from '../../lib/train/experiment';
import { RESEARCH_RECIPES, recipeFlags } from '../../lib/train/recipes';
import { protocolOf } from '../../lib/train/results';
import { expandGrid } from '../../lib/train/sweep';
import { BUDGETS, baseExperiment, budgetProtocol, methodTerms } from '../../notebooks/common';

const DATA = path.join('data', 'synthetic-cityscapes');

function spec(argv: string[], dataRoot = DATA) {
  const [command, ...rest] = argv;
  return experimentFromOptions(command as never, parseOptions(command, rest, COMMANDS[command].options), dataRoot);
}

test('CLI flags -> train config: the same partial config and the same checkpoint hash as before', () => {
  const cases: [string[], Record<string, unknown>, string][] = [
    [['train-student'], {}, '3267f9c564f9'],
    [['train-teacher', ...'--name teacher-r1 --runs /work/teacher-runs --downsample 1 --crop 256x512 --scale 0.5-2 --iters 4000 --batch 4 --optimizer adam --lr 0.002 --weight-decay 0 --seed 0 --checkpoint-every 100 --log-every 10'.split(' ')],
      { iters: 4000, batchSize: 4, lr: 0.002, seed: 0, checkpointEvery: 100, logEvery: 10, optimizer: { type: 'adam', weightDecay: 0 } }, '5d42f32dbf42'],
    [['distill', '--method', 'cwd', '--temperature', '4'], { terms: [{ method: 'cwd', on: 'feature', weight: 3, temperature: 4 }] }, '5a30dbb80e20'],
    [['distill', '--method', 'cwd', '--on', 'logits', '--weight', '1', '--loss-mode', 'downsample', '--warmup', '5', '--momentum', '0.8'],
      { warmupIters: 5, lossMode: 'downsample', optimizer: { momentum: 0.8 }, terms: [{ method: 'cwd', on: 'logits', weight: 1 }] }, 'e49418027d10'],
    [['distill', '--terms', '[{"method":"at","on":"feature","weight":100}]', '--optimizer', 'adam', '--lr', '0.002', '--weight-decay', '0', '--iters', '50', '--batch', '2'],
      { iters: 50, batchSize: 2, lr: 0.002, optimizer: { type: 'adam', weightDecay: 0 }, terms: [{ method: 'at', on: 'feature', weight: 100 }] }, '2f02edd65b3a'],
  ];
  for (const [argv, train, hash] of cases) {
    const s = spec(argv);
    assert.equal(s.train, train, argv.join(' '));
    assert.is(configHash(resolveTrainConfig(s.train as never)), hash, argv.join(' '));
  }
});

test('the teacher-r1 run folder hash (data/teacher-training, data/teacher) from its recorded command', () => {
  const rec = JSON.parse(fs.readFileSync('data/teacher-training/teacher-r1/config.json', 'utf8'));
  const argv = String(rec.command).split(' ').slice(1);
  const x = resolveExperiment(spec(argv, rec.data.root));
  assert.is(x.configHash, 'ac19fd9c1eef');
  assert.is(rec.configHash, 'ac19fd9c1eef');
  assert.is(JSON.parse(fs.readFileSync('data/teacher/manifest.json', 'utf8')).configHash, 'ac19fd9c1eef');
  assert.equal(x.hashExtra, rec.hashExtra);
});

test('protocol r2: the recipe is r2.sh, and its sweep, protocol and cell hashes are the recorded ones', () => {
  const sh = fs.readFileSync('data/results/r2.sh', 'utf8');
  const common = /COMMON=\(([\s\S]*?)\)/.exec(sh)![1].replace('"$ITERS"', '300').split(/\s+/).filter(Boolean);
  assert.equal(recipeFlags(RESEARCH_RECIPES.r2), common);
  assert.ok(/ITERS=\$\{R2_ITERS:-300\}/.test(sh));

  // the pilot: sweep --name research/r2-pilot --methods baseline --seeds 0,1,2 COMMON (data root as it resolved there)
  const argv = ['sweep', '--name', 'research/r2-pilot', '--methods', 'baseline', '--seeds', '0,1,2', ...common];
  const o = parseOptions('sweep', argv.slice(1), COMMANDS.sweep.options);
  const { name: _n, ...base } = experimentFromOptions('sweep', o, '/work/main/data/synthetic-cityscapes');
  const grid = sweepGridFromOptions(o);
  assert.is(configHash({ base, grid }), '9773a163de84');

  // the protocol reads the teacher's manifest and the synthetic generator's options
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cwd-proto-'));
  fs.writeFileSync(path.join(root, 'synthetic-cityscapes.json'), JSON.stringify({ version: 2, options: {
    out: '/anywhere', seed: 1, train: 300, val: 60, test: 0, width: 512, height: 256, cities: 3, writeTrainIds: false, writeColor: false, writeInstanceIds: true, compressionLevel: 6, concurrency: 4,
  } }));
  assert.is(protocolOf({ ...base, dataRoot: root }).hash, 'd58afd9bd2a2');

  // cell 0's run folder hash (its init package's manifest holds configHash 610e21fe823d)
  const init = fs.mkdtempSync(path.join(os.tmpdir(), 'cwd-init-'));
  fs.writeFileSync(path.join(init, 'manifest.json'), JSON.stringify({ model: 'student-r18', configHash: '610e21fe823d' }));
  const cell = expandGrid({ name: 'research/r2-pilot', base, grid })[0];
  assert.is(cell.id, 'method=baseline,seed=0');
  assert.is(resolveExperiment({ ...cell.spec, init }).configHash, 'bd1ea58c78f5');
});

test('sweep honours --loss-mode and refuses --fresh and --stop-at with a clear message', () => {
  const o = (extra: string[]) => parseOptions('sweep', ['--name', 's', '--methods', 'baseline', ...extra], COMMANDS.sweep.options);
  assert.is(experimentFromOptions('sweep', o(['--loss-mode', 'downsample']), DATA).train.lossMode, 'downsample');
  assert.throws(() => experimentFromOptions('sweep', o(['--fresh']), DATA), /sweep: --fresh is not supported/);
  assert.throws(() => experimentFromOptions('sweep', o(['--stop-at', '5']), DATA), /sweep: --stop-at is not supported/);
});

test('the demo is one cell pair of protocol r2; the notebook recipes give the same specs and hashes as before', () => {
  // The demo was changed on purpose (commit 6f5be9e, before this test existed) from the 400-step setup at
  // 256x128 (hashes df3206ff0076 / 02ca05ea1686) to protocol r2's budget, init and searched CWD weight.
  const d = demoSpecs({ ...defaultDemoOptions(), dataRoot: DATA });
  const r2 = RESEARCH_RECIPES.r2;
  for (const s of [d.baseline, d.distilled]) {
    assert.equal([s.model, s.init, s.downsample, s.crop, s.scale], [r2.model, r2.init, r2.downsample, r2.crop, r2.scale]);
    assert.equal([s.train.iters, s.train.batchSize, s.train.lr, s.train.optimizer], [r2.iters, r2.batchSize, r2.lr, { type: r2.optimizer, weightDecay: r2.weightDecay }]);
  }
  assert.is(configHash(d.baseline), '578c611e12f5');
  assert.is(configHash(d.distilled), '6261b7bc8c37');
  // The notebooks' quick profile is unchanged. Their full profile (the b400 budget) became protocol r2's cells on
  // purpose (issue 15): medium and full must record r2's protocol hash, the one of every committed r2 cell.
  const want: Record<string, [string, string]> = {
    'quick.baseline': ['f1d52d5ce847', '2b577d5ee875'], 'quick.cwd-feature': ['f10f68dac08b', 'e78b2f124609'],
  };
  for (const [k, [specHash, trainHash]] of Object.entries(want)) {
    const [p, m] = k.split('.');
    const e = baseExperiment(BUDGETS[p as 'quick'], { root: DATA }, methodTerms(m));
    assert.is(configHash(e), specHash, k);
    assert.is(configHash(resolveTrainConfig(e.train as never)), trainHash, k);
  }
  const pilot = JSON.parse(fs.readFileSync(path.join('data', 'results', 'r2-pilot', 'protocol.json'), 'utf8')).hash;
  for (const p of ['medium', 'full'] as const) assert.is(budgetProtocol(BUDGETS[p], { root: DATA }), pilot, p);
  assert.is.not(budgetProtocol(BUDGETS.quick, { root: DATA }), pilot);
});

test.run();
