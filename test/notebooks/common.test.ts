import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { BUDGETS, budget, methodTerms, baseExperiment, runName, committedTable, RESULTS } from '../../notebooks/common';
import { finishedRun, resolveExperiment } from '../../lib/train/experiment';
import { RunDir } from '../../lib/train/run-dir';
import { runConfig } from '../../lib/train/trainer';
import { validateConfig } from '../../lib/models';

test('methodTerms: the training presets by name, @WEIGHT, temperature override, clear errors', () => {
  assert.equal(methodTerms('baseline'), []);
  assert.equal(methodTerms('cwd-feature'), [{ method: 'cwd', on: 'feature', weight: 3, temperature: 4 }]);
  assert.equal(methodTerms('cwd-logits@0.3')[0].weight, 0.3);
  assert.equal(methodTerms('cwd-feature@2', { temperature: 1 }), [{ method: 'cwd', on: 'feature', weight: 2, temperature: 1 }]);
  assert.throws(() => methodTerms('nope'), /unknown method preset 'nope'/);
  assert.throws(() => methodTerms('at', { temperature: 2 }), /no term of this method has a temperature/);
});

test('budgets: quick is tiny; medium and full are protocol r2 with 1 and 3 seeds; runs keyed by backend set-up', () => {
  assert.ok(BUDGETS.quick.iters <= 20 && BUDGETS.quick.downsample >= 4);
  assert.equal(BUDGETS.medium.seeds, [0]);
  assert.equal(BUDGETS.full.seeds, [0, 1, 2]);
  assert.is(BUDGETS.full.iters, 300);
  assert.is(new Set([BUDGETS.quick.runsDir, BUDGETS.medium.runsDir, BUDGETS.full.runsDir]).size, 3);
  assert.is(budget('full', 'wasm-native').runsDir, path.join(BUDGETS.full.runsDir, 'wasm-native'));
  assert.is.not(budget('full', 'wasm').runsDir, budget('full', 'wasm-native').runsDir);
  assert.is(runName('cwd-logits@0.3', 2), 'cwd-logits@0.3@s2');
});

test('trainMethod reuse goes through finishedRun: same config hash reused, another config named', () => {
  const b = { ...BUDGETS.quick, runsDir: fs.mkdtempSync(path.join(os.tmpdir(), 'cwd-same-')) };
  const spec = { name: 'cwd@s0', ...baseExperiment(b, { root: 'data/x' }, methodTerms('cwd-feature')) };
  assert.is(finishedRun(spec), null); // no folder
  const x = resolveExperiment(spec);
  const dir = path.join(b.runsDir, spec.name);
  const teacher = validateConfig(x.teacherManifest!.modelConfig);
  new RunDir(dir).init({ name: spec.name, kind: 'distill', config: runConfig(x.train, x.student, teacher, x.hashExtra), seed: 0, backend: 'cpu' });
  assert.is(finishedRun(spec), null); // no eval.json: not finished, runExperiment resumes it
  fs.writeFileSync(path.join(dir, 'eval.json'), JSON.stringify({ mIoU: 0.5, perClassIoU: [0.5], step: b.iters }));
  assert.is(finishedRun(spec)!.eval!.mIoU, 0.5);
  assert.is(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).configHash, x.configHash);
  const other = { name: 'cwd@s0', ...baseExperiment(b, { root: 'data/x' }, methodTerms('cwd-feature@1')) };
  assert.throws(() => finishedRun(other), /trained differently \(config hash \w+, this experiment \w+: train\.terms\.0\.weight: run has 3, wanted 1\)/);
  const bigger = { name: 'cwd@s0', ...baseExperiment({ ...b, student: 'student-r18' }, { root: 'data/x' }, methodTerms('cwd-feature')) };
  assert.throws(() => finishedRun(bigger), /extra\.model: run has "student-r18-0\.5", wanted "student-r18"/);
});

test('committedTable: the committed r2 table by label, with a clear error for a missing row or a wrong file', () => {
  const t = committedTable(RESULTS.r2);
  const base = t.row('baseline');
  assert.is(base.n, 3);
  assert.ok(Math.abs(base.mean - base.mIoU.reduce((a, b) => a + b, 0) / 3) < 1e-12);
  const cwd = t.row('cwd-logits@0.3');
  assert.ok(Math.abs(cwd.delta - (cwd.mean - base.mean)) < 1e-12);
  assert.is(cwd.perClassMean.length, t.classNames.length);
  assert.throws(() => t.row('nope'), /no row 'nope'/);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cwd-res-')), 'r.json');
  fs.writeFileSync(file, '{"x": 1}');
  assert.throws(() => committedTable(file), /not a pooled results table/);
});

test.run();
