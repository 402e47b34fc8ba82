import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readRun, runFinished, metricCurves, meanStd } from '../../lib/viz';

function makeRun(lines: string, evalJson?: object): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cwd-run-'));
  fs.writeFileSync(path.join(dir, 'metrics.jsonl'), lines);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ name: 'x', seed: 3 }));
  if (evalJson) fs.writeFileSync(path.join(dir, 'eval.json'), JSON.stringify(evalJson));
  return dir;
}

test('readRun: config, metrics (a cut last line is tolerated), eval', () => {
  const dir = makeRun('{"step":1,"loss":2,"terms":{"cwd":0.5}}\n{"step":2,"loss":1,"terms":{"cwd":0.3}}\n{"step":3,"lo', { mIoU: 0.4, perClassIoU: [0.4] });
  const r = readRun(dir, 'cwd');
  assert.is(r.name, 'cwd');
  assert.is(r.config!.seed, 3);
  assert.is(r.metrics.length, 2);
  assert.is(r.eval!.mIoU, 0.4);
  assert.ok(runFinished(dir));
  const bad = makeRun('{"step":1}\nnot json\n{"step":3}\n');
  assert.throws(() => readRun(bad), /metrics.jsonl: line 2 is not JSON/);
  assert.not.ok(runFinished(bad));
  assert.throws(() => readRun(path.join(dir, 'nope')), /does not exist/);
});

test('metricCurves: nested keys, smoothing by window mean, labels', () => {
  const dir = makeRun([1, 2, 3, 4, 5].map((s) => JSON.stringify({ step: s, loss: s * 2, terms: { cwd: s } })).join('\n') + '\n');
  const run = readRun(dir, 'r');
  const pts = metricCurves([run], ['loss', 'terms.cwd'], { smooth: 2, labels: { 'terms.cwd': 'CWD term' } });
  assert.equal(pts.filter((p) => p.metric === 'loss').map((p) => [p.step, p.value]), [[2, 3], [4, 7], [5, 10]]);
  assert.equal(pts.filter((p) => p.metric === 'CWD term').map((p) => p.value), [1.5, 3.5, 5]);
});

test('meanStd: sample standard deviation, NaN ignored', () => {
  const r = meanStd([1, 2, 3, NaN]);
  assert.is(r.mean, 2);
  assert.is(r.std, 1);
  assert.is(r.n, 3);
  assert.ok(Number.isNaN(meanStd([5]).std));
});

test.run();
