import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { BUDGETS, methodTerms, baseExperiment, runName, readResearchResults } from '../../notebooks/common';
import { finishedRun, resolveExperiment } from '../../lib/train/experiment';
import { RunDir } from '../../lib/train/run-dir';
import { runConfig } from '../../lib/train/trainer';
import { validateConfig } from '../../lib/models';

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

test('trainMethod reuse goes through finishedRun: same config hash reused, another config named', () => {
  const b = { ...BUDGETS.quick, runsDir: fs.mkdtempSync(path.join(os.tmpdir(), 'cwd-same-')) };
  const spec = { name: 'cwd@s0', ...baseExperiment(b, { root: 'data/x' }, methodTerms('cwd')) };
  assert.is(finishedRun(spec), null); // no folder
  const x = resolveExperiment(spec);
  const dir = path.join(b.runsDir, spec.name);
  const teacher = validateConfig(x.teacherManifest!.modelConfig);
  new RunDir(dir).init({ name: spec.name, kind: 'distill', config: runConfig(x.train, x.student, teacher, x.hashExtra), seed: 0, backend: 'cpu' });
  assert.is(finishedRun(spec), null); // no eval.json: not finished, runExperiment resumes it
  fs.writeFileSync(path.join(dir, 'eval.json'), JSON.stringify({ mIoU: 0.5, perClassIoU: [0.5], step: b.iters }));
  assert.is(finishedRun(spec)!.eval!.mIoU, 0.5);
  assert.is(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).configHash, x.configHash);
  const other = { name: 'cwd@s0', ...baseExperiment(b, { root: 'data/x' }, methodTerms('cwd', { weight: 1 })) };
  assert.throws(() => finishedRun(other), /trained differently \(config hash \w+, this experiment \w+: train\.terms\.0\.weight: run has 3, wanted 1\)/);
  const bigger = { name: 'cwd@s0', ...baseExperiment({ ...b, student: 'student-r18' }, { root: 'data/x' }, methodTerms('cwd')) };
  assert.throws(() => finishedRun(bigger), /extra\.model: run has "student-r18-0\.5", wanted "student-r18"/);
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
