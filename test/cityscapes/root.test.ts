/**
 * The one data-root resolver: option → CITYSCAPES_ROOT → the synthetic set (generated when absent or
 * outdated), with errors that name the root and how it was chosen; and every entry point — the CLI, the
 * demo and the notebooks — training and evaluating on a real-layout folder given by CITYSCAPES_ROOT alone.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { resolveDataRoot, resolveCityscapesRoot, syntheticSetStaleness } from '../../lib/cityscapes/dataset';
import { generateSyntheticCityscapes, SYNTHETIC_MANIFEST } from '../../lib/cityscapes/synthetic';
import { main } from '../../lib/cli/main';
import { ensureData } from '../../notebooks/common';
import { initBackend } from '../../lib/backend';
import { capture } from '../cli/fixtures';

let realLayout = '';
const savedEnv = process.env.CITYSCAPES_ROOT;

test.before(async () => {
  await initBackend({ quiet: true });
  // a folder in the real Cityscapes layout (labelIds only, no synthetic manifest): what a user unzips
  realLayout = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-real-layout-'));
  await generateSyntheticCityscapes({ out: realLayout, seed: 9, train: 3, val: 1, width: 256, height: 128, cities: 1 });
  fs.rmSync(path.join(realLayout, SYNTHETIC_MANIFEST));
});

test.after(() => {
  if (savedEnv === undefined) delete process.env.CITYSCAPES_ROOT;
  else process.env.CITYSCAPES_ROOT = savedEnv;
  fs.rmSync(realLayout, { recursive: true, force: true });
});

test('precedence: option, then CITYSCAPES_ROOT, then the synthetic set; errors name the root and how it was chosen', async () => {
  process.env.CITYSCAPES_ROOT = realLayout;
  assert.is(resolveCityscapesRoot('/x/y').source, 'option');
  const env = await resolveDataRoot();
  assert.equal([env.root, env.source], [realLayout, 'CITYSCAPES_ROOT']);
  process.env.CITYSCAPES_ROOT = path.join(realLayout, 'missing');
  try {
    await resolveDataRoot();
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /dataset root .*missing \(chosen by CITYSCAPES_ROOT=.*missing\) does not exist/);
  }
  const noGt = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-nogt-'));
  fs.mkdirSync(path.join(noGt, 'leftImg8bit'));
  try {
    await resolveDataRoot(noGt);
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /chosen by the root option .* has no gtFine\/ folder/);
  }
  delete process.env.CITYSCAPES_ROOT;
  // no option, no variable: the synthetic set, generated when absent and regenerated when outdated
  const synth = path.join(noGt, 'synthetic');
  const small = { train: 1, val: 1, width: 64, height: 32, cities: 1 };
  const logs: string[] = [];
  const s = await resolveDataRoot(undefined, { syntheticRoot: synth, synthetic: small, log: (m) => logs.push(m) });
  assert.is(s.source, 'synthetic');
  assert.is(syntheticSetStaleness(synth), null);
  assert.match(logs.join('\n'), /absent or outdated .*is missing\): generating it/);
  const manifest = path.join(synth, SYNTHETIC_MANIFEST);
  fs.writeFileSync(manifest, JSON.stringify({ ...JSON.parse(fs.readFileSync(manifest, 'utf8')), version: 1 }));
  assert.match(String(syntheticSetStaleness(synth)), /generator version 1, this generator writes/);
  await resolveDataRoot(undefined, { syntheticRoot: synth, synthetic: small });
  assert.is(syntheticSetStaleness(synth), null, 'regenerated');
  fs.rmSync(noGt, { recursive: true, force: true });
});

test('CLI: train-student and eval read CITYSCAPES_ROOT when --data is not given', async () => {
  process.env.CITYSCAPES_ROOT = realLayout;
  const runs = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-root-runs-'));
  const r = await capture(() => main(['train-student', '--runs', runs, '--name', 'real', '--model', 'student-r18-0.5', '--iters', '1', '--batch', '1',
    '--crop', '64x64', '--val-limit', '1', '--checkpoint-every', '0']));
  assert.is(r.code, 0, r.err);
  assert.match(r.err, new RegExp(`train-student: data ${realLayout} \\(CITYSCAPES_ROOT=`));
  const cfg = JSON.parse(fs.readFileSync(path.join(runs, 'real', 'config.json'), 'utf8'));
  assert.is(path.resolve(cfg.data.root), realLayout);
  assert.equal(cfg.data.scale, [0.5, 2]);
  const ev = JSON.parse(fs.readFileSync(path.join(runs, 'real', 'eval.json'), 'utf8'));
  assert.is(ev.images, 1);
  const e = await capture(() => main(['eval', '--run', path.join(runs, 'real'), '--limit', '1']));
  assert.is(e.code, 0, e.err);
  assert.match(e.err, new RegExp(`${realLayout}`));
  fs.rmSync(runs, { recursive: true, force: true });
  delete process.env.CITYSCAPES_ROOT;
});

test('demo reads CITYSCAPES_ROOT (shipped teacher, one step per student)', async () => {
  process.env.CITYSCAPES_ROOT = realLayout;
  const runs = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-root-demo-'));
  const r = await capture(() => main(['demo', '--runs', runs, '--iters', '1', '--batch', '1', '--crop', '64x64', '--val-limit', '1', '--student', 'student-r18-0.5']));
  assert.is(r.code, 0, r.err);
  const rep = JSON.parse(fs.readFileSync(path.join(runs, 'demo', 'report.json'), 'utf8'));
  assert.is(path.resolve(rep.options.dataRoot), realLayout);
  assert.ok(rep.baseline.perClassIoU.length === 19 && rep.distilled.perClassIoU.length === 19);
  fs.rmSync(runs, { recursive: true, force: true });
  delete process.env.CITYSCAPES_ROOT;
});

test('notebooks: ensureData() is CITYSCAPES_ROOT when set', async () => {
  process.env.CITYSCAPES_ROOT = realLayout;
  const d = await ensureData();
  assert.equal([d.root, d.source], [realLayout, 'CITYSCAPES_ROOT']);
  delete process.env.CITYSCAPES_ROOT;
});

test.run();
