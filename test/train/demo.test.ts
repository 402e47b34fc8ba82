/**
 * The demo's reading aids: which CWD weight it uses (protocol r2's search choice), when the teacher's
 * recorded numbers may stand in for an evaluation, and whether one run's difference is within the seed spread.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { demoMethod, demoSpread, teacherRecordFits } from '../../lib/train/demo';
import { tinyDataset } from '../cli/fixtures';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'cd-demo-'));

test('demoMethod: the search file decides the weight; without it the preset weight, and it says why', () => {
  const dir = tmp();
  const f = path.join(dir, 'best.json');
  assert.equal(demoMethod(f).method, 'cwd-logits');
  assert.match(demoMethod(f).why, /does not exist yet/);
  fs.writeFileSync(f, JSON.stringify({ 'cwd-logits': { method: 'cwd-logits@0.3', weight: 0.3 }, 'cwd-feature': { method: 'cwd-feature@3', weight: 3 } }));
  assert.equal(demoMethod(f), { method: 'cwd-logits@0.3', why: `weight 0.3 chosen by protocol r2's search (${f})` });
  fs.rmSync(dir, { recursive: true, force: true });
});

test('teacherRecordFits: only for the same generator options, all val frames and the same downsample', async () => {
  const data = await tinyDataset();
  const gen = JSON.parse(fs.readFileSync(path.join(data, 'synthetic-cityscapes.json'), 'utf8'));
  const m = { data: { downsample: 1 }, dataset: { version: gen.version, options: gen.options }, valMIoU: 0.5, valPerClassIoU: [0.5] };
  assert.ok(teacherRecordFits(m, { dataRoot: data, downsample: 1 }));
  assert.not.ok(teacherRecordFits(m, { dataRoot: data, downsample: 2 }), 'other resolution');
  assert.not.ok(teacherRecordFits(m, { dataRoot: data, downsample: 1, valLimit: 1 }), 'a subset of val');
  assert.not.ok(teacherRecordFits({ ...m, dataset: { version: gen.version, options: { ...gen.options, seed: 99 } } }, { dataRoot: data, downsample: 1 }), 'other data');
  assert.not.ok(teacherRecordFits({ ...m, valPerClassIoU: undefined }, { dataRoot: data, downsample: 1 }), 'nothing recorded per class');
});

test('demoSpread: a difference is within noise below 2·sqrt(σb² + σd²)', () => {
  const dir = tmp();
  const f = path.join(dir, 't.json');
  fs.writeFileSync(f, JSON.stringify({ rows: [
    { params: { method: 'baseline' }, n: 3, mean: 0.30, std: 0.003 },
    { params: { method: 'cwd-feature@3' }, n: 3, mean: 0.32, std: 0.004 },
  ] }));
  const s = demoSpread(f, 'cwd-feature@3', 0.009)!;
  assert.ok(Math.abs(s.noise - 0.01) < 1e-12, `noise ${s.noise}`);
  assert.ok(s.withinNoise);
  assert.not.ok(demoSpread(f, 'cwd-feature@3', 0.011)!.withinNoise);
  assert.is(demoSpread(f, 'cwd-logits', 0.01), null, 'no row for the method');
  assert.is(demoSpread(path.join(dir, 'none.json'), 'cwd-feature@3', 0.01), null, 'no table');
  fs.rmSync(dir, { recursive: true, force: true });
});

test.run();
