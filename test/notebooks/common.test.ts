import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { BUDGETS, methodTerms, baseExperiment, checkSameRun, runName, readResearchResults } from '../../notebooks/common';
import { readRun } from '../../lib/viz';

test('methodTerms: the training presets by our names, CWD overrides, clear errors', () => {
  assert.equal(methodTerms('student'), []);
  assert.equal(methodTerms('cwd'), [{ method: 'cwd', on: 'feature', weight: 3, temperature: 4 }]);
  assert.equal(methodTerms('cwd', { temperature: 1, weight: 2 }), [{ method: 'cwd', on: 'feature', weight: 2, temperature: 1 }]);
  assert.equal(methodTerms('mse'), [{ method: 'mse', on: 'feature', weight: 3 }]);
  assert.equal(methodTerms('local'), [{ method: 'local', on: 'feature', weight: 3 }]);
  assert.throws(() => methodTerms('nope'), /unknown method 'nope'/);
  assert.throws(() => methodTerms('at', { weight: 1 }), /overrides are for 'cwd' only/);
});

test('budgets: quick is tiny, full is the research budget; names carry the seed', () => {
  assert.ok(BUDGETS.quick.iters <= 20 && BUDGETS.quick.downsample >= 4);
  assert.ok(BUDGETS.full.iters >= 400);
  assert.is(BUDGETS.quick.runsDir === BUDGETS.full.runsDir, false);
  assert.is(runName('cwd', 2), 'cwd@s2');
});

test('checkSameRun: a finished run is reused only when trained as asked', () => {
  const b = BUDGETS.quick;
  const spec = { name: 'cwd@s0', ...baseExperiment(b, { root: 'data/x' }, methodTerms('cwd')) };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cwd-same-'));
  const write = (over: Record<string, unknown>) => fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({
    model: b.student, teacherDir: spec.teacherDir,
    data: { downsample: b.downsample, trainLimit: b.trainLimit, valLimit: b.valLimit },
    config: { train: { iters: b.iters, batchSize: b.batchSize, seed: 0, lr: b.lr, optimizer: { type: b.optimizer }, terms: [{ method: 'cwd', on: 'feature', weight: 3, temperature: 4, extraDefault: 1 }] } },
    ...over,
  }));
  write({});
  checkSameRun(readRun(dir), spec);
  write({ model: 'student-r18' });
  assert.throws(() => checkSameRun(readRun(dir), spec), /trained differently \(model: run has student-r18, notebook wants student-r18-0.5\)/);
  write({ config: { train: { iters: b.iters, batchSize: b.batchSize, seed: 0, lr: b.lr, optimizer: { type: b.optimizer }, terms: [{ method: 'cwd', on: 'feature', weight: 1, temperature: 4 }] } } });
  assert.throws(() => checkSameRun(readRun(dir), spec), /terms: run has/);
});

test('readResearchResults: mean ± std per method over seeds from a merged sweep', () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cwd-res-')), 'r.json');
  assert.is(readResearchResults(file), null);
  fs.writeFileSync(file, JSON.stringify({ complete: false, missing: ['method=pa,seed=0'], results: [
    { params: { method: 'baseline', seed: 0 }, mIoU: 0.2, perClassIoU: [0.5, null], classNames: ['road', 'wall'] },
    { params: { method: 'baseline', seed: 1 }, mIoU: 0.3, perClassIoU: [0.7, 0.1] },
    { params: { method: 'cwd-feature', seed: 0 }, mIoU: 0.25, perClassIoU: [0.6, 0.2] },
  ] }));
  const r = readResearchResults(file)!;
  assert.is(r.complete, false);
  assert.equal(r.missing, ['method=pa,seed=0']);
  const base = r.methods.find((m) => m.method === 'baseline')!;
  assert.ok(Math.abs(base.mIoU.mean - 0.25) < 1e-12);
  assert.ok(Math.abs(base.mIoU.std - Math.sqrt(0.005)) < 1e-12);
  assert.ok(Math.abs(base.perClassIoU[0] - 0.6) < 1e-12);
  assert.is(base.perClassIoU[1], 0.1);
  assert.equal(base.classNames, ['road', 'wall']);
  fs.writeFileSync(file, '{"x": 1}');
  assert.throws(() => readResearchResults(file), /no 'results' list/);
});

test.run();
