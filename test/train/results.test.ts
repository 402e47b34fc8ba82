/**
 * Results that span sessions: a sweep with a results folder stores each finished cell at once and skips
 * cells stored there (same protocol) on another machine; `poolResults` / `merge --from` pool several
 * sweeps of one protocol (mean ± sample std over seeds, per class, Δ vs baseline) and refuse to mix protocols.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import { runSweep, SweepSpec } from '../../lib/train/sweep';
import { bestWeights, poolResults, protocolOf, writePooled, cellFileName, readPooled, effectReading } from '../../lib/train/results';
import { main } from '../../lib/cli/main';
import { capture, tinyDataset } from '../cli/fixtures';

let data = '';
test.before(async () => {
  await tf.setBackend(await initBackend({ quiet: true }));
  data = await tinyDataset();
});

function spec(runsDir: string, seeds: number[], resultsDir: string, name = 'p'): SweepSpec {
  return {
    name, resultsDir,
    base: {
      runsDir, dataRoot: data, downsample: 1, model: 'student-r18-0.5', valLimit: 1, crop: [48, 64],
      train: { iters: 2, batchSize: 1, lr: 0.001, optimizer: { type: 'adam', weightDecay: 0 } },
    },
    grid: { 'train.seed': seeds, 'train.lr': [0.001] },
  };
}

test('protocol: seeds, run folders and data/teacher paths do not change it; budget does', () => {
  const a = protocolOf(spec('/a', [0], '/r').base);
  const b = protocolOf({ ...spec('/b', [1], '/q').base, train: { ...spec('/b', [1], '/q').base.train, seed: 7 } });
  assert.is(a.hash, b.hash);
  const c = protocolOf({ ...spec('/a', [0], '/r').base, train: { ...spec('/a', [0], '/r').base.train, iters: 3 } });
  assert.is.not(a.hash, c.hash);
});

test('two sweeps (two machines) of one protocol fill one results folder; a third skips stored cells; pooling = mean ± std', async () => {
  const runsA = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-res-a-'));
  const runsB = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-res-b-'));
  const results = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-res-store-'));
  const a = await runSweep(spec(runsA, [0], results, 'first'));
  assert.is(a.ran.length, 1);
  assert.ok(fs.existsSync(path.join(results, cellFileName('seed=0,lr=0.001'))), `stored the moment it finished: ${fs.readdirSync(results)}`);
  // "another machine": other runs folder, seeds 0 and 1: seed 0 is taken from the results folder, not re-run
  const b = await runSweep(spec(runsB, [0, 1], results, 'second'));
  assert.equal(b.ran.map((r) => r.id), ['seed=1,lr=0.001']);
  assert.equal(b.skipped, ['seed=0,lr=0.001']);
  const p = poolResults([results]);
  assert.is(p.rows.length, 1);
  const r = p.rows[0];
  assert.is(r.n, 2);
  const v = [a.ran[0].mIoU as number, b.ran[0].mIoU as number];
  assert.ok(Math.abs(r.mean - (v[0] + v[1]) / 2) < 1e-12);
  assert.ok(Math.abs(r.std - Math.abs(v[0] - v[1]) / Math.SQRT2) < 1e-12);
  assert.is(r.perClassMean.length, 19);
  // a merged results.json of the same cells pools to the same row (same run counted once)
  const again = poolResults([results, path.join(runsB, 'second', 'results.json')].filter((f) => fs.existsSync(f)));
  assert.is(again.rows[0].n, 2);
  // the CLI writes json/csv/md
  const out = path.join(results, '..', `pooled-${path.basename(results)}`);
  const c = await capture(() => main(['merge', '--from', results, '--out', out]));
  assert.is(c.code, 0, c.err);
  assert.match(fs.readFileSync(`${out}.md`, 'utf8'), /\| lr=0.001 \| 2 \| 0,1 \|/);
  assert.is(fs.readFileSync(`${out}.csv`, 'utf8').trim().split('\n').length, 2);
  for (const d of [runsA, runsB, results]) fs.rmSync(d, { recursive: true, force: true });
});

test('pooling: Δ vs baseline, per-class std over seeds, mixed protocols refused, bad files named', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-pool-'));
  const cell = (method: string, seed: number, m: number, pc: number[], protocol = 'P1') => ({
    index: 0, id: `method=${method},seed=${seed}`, params: { method, 'train.seed': seed }, mIoU: m, perClassIoU: pc,
    classNames: ['a', 'b'], steps: 1, trainSeconds: 1, meanStepSeconds: 0.5, runDir: 'x', protocol, sweep: 's', finishedAt: '',
  });
  const cells = [cell('baseline', 0, 0.2, [0.1, 0.3]), cell('baseline', 1, 0.4, [0.3, 0.5]), cell('cwd', 0, 0.5, [0.4, 0.6]), cell('cwd', 1, 0.6, [0.5, 0.7]), cell('cwd', 2, 0.7, [0.6, 0.8])];
  for (const c of cells) fs.writeFileSync(path.join(dir, cellFileName(c.id)), JSON.stringify(c));
  const p = poolResults([dir]);
  const base = p.rows.find((r) => r.label === 'baseline')!;
  const cwd = p.rows.find((r) => r.label === 'cwd')!;
  assert.ok(Math.abs(base.mean - 0.3) < 1e-12 && Math.abs(base.std - Math.sqrt(0.02)) < 1e-12);
  assert.ok(Math.abs(cwd.mean - 0.6) < 1e-12 && Math.abs(cwd.std - 0.1) < 1e-12);
  assert.ok(Math.abs(cwd.delta - 0.3) < 1e-12);
  assert.ok(Math.abs(cwd.perClassMean[1] - 0.7) < 1e-12 && Math.abs(cwd.perClassStd[0] - 0.1) < 1e-12);
  const w = writePooled(p, path.join(dir, 'out', 't'));
  assert.match(fs.readFileSync(w.md, 'utf8'), /\| cwd \| 3 \| 0,1,2 \| 60.00 ± 10.00 \| 50.00, 60.00, 70.00 \| \+30.00 \|/);
  fs.writeFileSync(path.join(dir, 'other.json'), JSON.stringify(cell('cwd', 5, 0.1, [0, 0], 'P2')));
  assert.throws(() => poolResults([dir]), /mix 2 protocols \(P1, P2\)/);
  fs.writeFileSync(path.join(dir, 'other.json'), JSON.stringify({ protocol: 'P1', rows: [] }));
  assert.throws(() => poolResults([dir]), /other\.json is not a cell result .*write pooled tables outside it/);
  fs.writeFileSync(path.join(dir, 'other.json'), '{oops');
  assert.throws(() => poolResults([dir]), /other\.json: not valid JSON/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('bestWeights: per preset the @WEIGHT row with the highest mean wins, ties go to the smaller weight', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-best-'));
  const cell = (method: string, m: number) => ({
    index: 0, id: `method=${method},seed=100`, params: { method, 'train.seed': 100 }, mIoU: m, perClassIoU: [m],
    classNames: ['a'], steps: 1, trainSeconds: 1, meanStepSeconds: 0.5, runDir: 'x', protocol: 'P', sweep: 's', finishedAt: '',
  });
  const cells = [cell('baseline', 0.4), cell('at@1000', 0.41), cell('at@10000', 0.35), cell('at@100000', 0.2),
    cell('cwd-feature@0.3', 0.45), cell('cwd-feature@3', 0.45), cell('cwd-feature@30', 0.44)];
  for (const c of cells) fs.writeFileSync(path.join(dir, cellFileName(c.id)), JSON.stringify(c));
  const best = bestWeights(poolResults([dir]));
  assert.equal(Object.keys(best).sort(), ['at', 'cwd-feature']);
  assert.is(best.at.method, 'at@1000');
  assert.equal(best.at.tried, [[1000, 0.41], [10000, 0.35], [100000, 0.2]]);
  assert.is(best['cwd-feature'].method, 'cwd-feature@0.3', 'tie: the smaller weight');
  fs.rmSync(dir, { recursive: true, force: true });
});

test('effectReading: the protocol rule max(std, 1 point), checked against the committed r2 readings', () => {
  const t = readPooled(path.join('data', 'results', 'r2-table.json'));
  const base = t.rows.find((r) => r.label === 'baseline')!;
  const read = (label: string) => { const r = t.rows.find((x) => x.label === label)!; return effectReading(r.delta, r.std, base.std); };
  // data/results/README.md calls cwd-logits an effect and at@1000 (+0.54) within noise
  assert.is(read('cwd-logits@0.3').effect, true);
  assert.is(read('at@1000').effect, false);
  assert.match(read('cwd-logits@0.3').text, /^effect \(\|Δ\| 1\.40 > 1\.00\)$/);
  // the std wins over the floor when larger, and a single run says so
  assert.is(effectReading(0.015, 0.02, 0.001).effect, false);
  assert.is(effectReading(0.015, 0.02, 0.001).threshold, 0.02);
  assert.match(effectReading(-0.02, NaN, NaN).text, /^effect \(\|Δ\| 2\.00 > 1\.00, no seed std for a single run/);
});

test.run();
