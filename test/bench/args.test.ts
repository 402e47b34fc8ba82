/** `npm run bench` options: defaults, parsing, and clear errors for bad values. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseArgs } from '../../bench/args';

test('defaults: every section, 256x512 main size, the demo setting as second size, PyTorch on', () => {
  const a = parseArgs([]);
  assert.equal(a.only, ['losses', 'step', 'pipeline', 'memory', 'torch']);
  assert.equal(a.size, [256, 512]);
  assert.is(a.demoSize, 'demo');
  assert.is(a.torch, true);
  assert.is(a.quick, false);
});

test('options with values, inline or separate', () => {
  const a = parseArgs(['--only', 'losses,step', '--steps=3', '--size', '128x256', '--demo-size', 'none', '--no-torch', '--json-out', 'x.jsonl', '--quick']);
  assert.equal(a.only, ['losses', 'step']);
  assert.is(a.steps, 3);
  assert.equal(a.size, [128, 256]);
  assert.is(a.demoSize, null);
  assert.is(a.torch, false);
  assert.is(a.jsonOut, 'x.jsonl');
  assert.is(a.quick, true);
  assert.ok(parseArgs(['--markdown-from', 'r.jsonl']).markdown);
});

test('bad options name the problem', () => {
  assert.throws(() => parseArgs(['--only', 'speed']), /unknown section 'speed'.*losses, step/);
  assert.throws(() => parseArgs(['--size', '256']), /--size must be HxW/);
  assert.throws(() => parseArgs(['--steps', '0']), /--steps must be a positive integer/);
  assert.throws(() => parseArgs(['--steps']), /--steps needs a value/);
  assert.throws(() => parseArgs(['--fast']), /unknown option '--fast'/);
});

test.run();
