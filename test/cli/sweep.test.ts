import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import { expandGrid, mergeSweep, parseShard, runSweep, shardCells, SweepSpec } from '../../lib/train/sweep';
import { main } from '../../lib/cli/main';
import { capture, tinyDataset } from './fixtures';

let data = '';
test.before(async () => {
  await tf.setBackend(await initBackend({ quiet: true }));
  data = await tinyDataset();
});

function spec(runsDir: string): SweepSpec {
  return {
    name: 'grid',
    base: {
      runsDir, dataRoot: data, downsample: 1, model: 'student-r18-0.5', valLimit: 1,
      train: { iters: 2, batchSize: 1, lr: 0.001, optimizer: { type: 'adam', weightDecay: 0 } },
    },
    grid: { 'train.seed': [0, 1], 'train.lr': [0.001, 0.002] },
  };
}

test('grid expansion: deterministic order and ids; shards are disjoint and cover the grid', () => {
  const cells = expandGrid(spec('/tmp/x'));
  assert.equal(cells.map((c) => c.id), ['seed=0,lr=0.001', 'seed=0,lr=0.002', 'seed=1,lr=0.001', 'seed=1,lr=0.002']);
  assert.is(cells[3].spec.train.seed, 1);
  assert.is(cells[3].spec.train.lr, 0.002);
  for (const n of [1, 2, 3, 5]) {
    const seen = new Map<number, number>();
    for (let i = 0; i < n; i++) for (const c of shardCells(cells, { index: i, count: n })) seen.set(c.index, (seen.get(c.index) ?? 0) + 1);
    assert.equal([...seen.keys()].sort(), [0, 1, 2, 3], `n=${n} covers`);
    assert.ok([...seen.values()].every((v) => v === 1), `n=${n} disjoint`);
  }
  assert.equal(shardCells(cells, parseShard('1/2')).map((c) => c.index), [1, 3]);
  // method presets set train.terms; a later key can override one of their values
  const m = expandGrid({ ...spec('/tmp/x'), base: { ...spec('/tmp/x').base, teacherDir: '/t' }, grid: { method: ['baseline', 'cwd-logits'], 'train.terms.0.temperature': [2] } });
  assert.equal(m[1].spec.train.terms, [{ method: 'cwd', on: 'logits', weight: 3, temperature: 2 }]);
});

test('sweep shards run separately, merge reports missing cells, a rerun skips finished cells', async () => {
  const runs = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-sweep-'));
  const s = spec(runs);
  const a = await runSweep(s, { index: 0, count: 2 });
  assert.equal(a.ran.map((r) => r.id), ['seed=0,lr=0.001', 'seed=1,lr=0.001']);
  assert.ok(a.ran.every((r) => r.steps === 2 && typeof r.mIoU === 'number' && r.perClassIoU!.length === 19));
  const partial = mergeSweep(runs, 'grid');
  assert.equal(partial.missing, ['seed=0,lr=0.002', 'seed=1,lr=0.002']);
  const b = await runSweep(s, { index: 1, count: 2 });
  assert.is(b.ran.length, 2);
  const again = await runSweep(s);
  assert.is(again.ran.length, 0, 'finished cells are skipped');
  assert.is(again.skipped.length, 4);
  const merged = mergeSweep(runs, 'grid');
  assert.is(merged.missing.length, 0);
  const csv = fs.readFileSync(merged.csv, 'utf8').trim().split('\n');
  assert.is(csv.length, 5);
  assert.match(csv[0], /^index,id,train.seed,train.lr,mIoU,steps/);
  assert.match(csv[2], /^1,"seed=0,lr=0.002",0,0.002,/);
  const json = JSON.parse(fs.readFileSync(merged.json, 'utf8'));
  assert.is(json.complete, true);
  assert.is(merged.groups.length, 2, 'grouped over seeds by lr');
  const g = merged.groups[0];
  assert.equal(g.params, { 'train.lr': 0.001 });
  assert.is(g.n, 2);
  const vals = merged.results.filter((r) => r.params['train.lr'] === 0.001).map((r) => r.mIoU as number);
  assert.ok(Math.abs(g.mean - (vals[0] + vals[1]) / 2) < 1e-12);
  assert.ok(Math.abs(g.std - Math.abs(vals[0] - vals[1]) / Math.SQRT2) < 1e-12);
  // a different grid under the same name is refused
  await assert.not.throws(() => expandGrid({ ...s, grid: { 'train.seed': [5] } }));
  let err = '';
  try { await runSweep({ ...s, grid: { 'train.seed': [5] } }); } catch (e) { err = (e as Error).message; }
  assert.match(err, /exists with a different grid/);
  // the CLI merge agrees
  const r = await capture(() => main(['merge', '--runs', runs, '--name', 'grid']));
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /merged 4 cell\(s\)/);
});

test.run();
