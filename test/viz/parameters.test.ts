import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { notebookParameters, notebookProfile, byProfile } from '../../lib/viz/profile';
import { parseArgs } from '../../scripts/run-notebooks';

const defaults = { steps: 300, seeds: [0], methods: ['baseline', 'cwd-logits@0.3'], live: true, root: '' };

test('notebookParameters: defaults without CWD_PARAMS, overrides by name, type and name errors', () => {
  assert.equal(notebookParameters(defaults, {}), defaults);
  assert.equal(notebookParameters(defaults, { CWD_PARAMS: '{"steps": 100, "seeds": [0, 1]}' }), { ...defaults, steps: 100, seeds: [0, 1] });
  assert.throws(() => notebookParameters(defaults, { CWD_PARAMS: '{"stpes": 100}' }), /unknown parameter 'stpes' \(this notebook's parameters: steps, seeds, methods, live, root\)/);
  assert.throws(() => notebookParameters(defaults, { CWD_PARAMS: '{"steps": "100"}' }), /parameter 'steps' must be a number like its default 300, got "100"/);
  assert.throws(() => notebookParameters(defaults, { CWD_PARAMS: '{"seeds": 1}' }), /'seeds' must be an array/);
  assert.throws(() => notebookParameters(defaults, { CWD_PARAMS: '[1]' }), /must be a JSON object/);
  assert.throws(() => notebookParameters(defaults, { CWD_PARAMS: '{steps: 1}' }), /CWD_PARAMS is not JSON/);
});

test('profiles: quick, medium, full; medium falls back to full in byProfile', () => {
  assert.is(notebookProfile({ CWD_PROFILE: 'medium' }), 'medium');
  assert.throws(() => notebookProfile({ CWD_PROFILE: 'slow' }), /'medium' \(one seed/);
  assert.is(byProfile({ quick: 1, full: 3 }, 'medium'), 3);
  assert.is(byProfile({ quick: 1, medium: 2, full: 3 }, 'medium'), 2);
});

test('run-notebooks --param: JSON values, plain strings, and a clear error without "="', () => {
  const o = parseArgs(['--profile', 'medium', '--param', 'steps=100', '--param', 'methods=["baseline"]', '--param', 'root=data/x']);
  assert.is(o.profile, 'medium');
  assert.equal(o.params, { steps: 100, methods: ['baseline'], root: 'data/x' });
  assert.throws(() => parseArgs(['--param', 'steps']), /use name=value/);
});

test.run();
