import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { initBackend, BACKENDS } from '../lib/backend';
import { dawnNodePath, describeAdapter } from '../lib/backend/webgpu';

test('CWD_BACKEND with an unknown name is a clear error', async () => {
  const saved = process.env.CWD_BACKEND;
  process.env.CWD_BACKEND = 'tpu';
  try {
    await initBackend({ quiet: true });
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.match((e as Error).message, /CWD_BACKEND="tpu" is not a backend/);
  } finally {
    if (saved === undefined) delete process.env.CWD_BACKEND; else process.env.CWD_BACKEND = saved;
  }
});

test('selection order: tensorflow → webgpu → wasm → cpu', () => {
  assert.equal([...BACKENDS], ['tensorflow', 'webgpu', 'wasm', 'cpu']);
});

test('dawn.node: CWD_DAWN_NODE pointing nowhere is a clear error; the npm package ships this platform\'s binary', () => {
  const saved = process.env.CWD_DAWN_NODE;
  process.env.CWD_DAWN_NODE = '/nonexistent/dawn.node';
  try {
    assert.throws(() => dawnNodePath(), /CWD_DAWN_NODE=\/nonexistent\/dawn.node: no such file/);
  } finally {
    if (saved === undefined) delete process.env.CWD_DAWN_NODE; else process.env.CWD_DAWN_NODE = saved;
  }
  if (process.platform === 'linux' && process.arch === 'x64') assert.match(dawnNodePath(), /webgpu[\\/]dist[\\/]linux-x64[\\/]dawn\.node$/);
});

test('describeAdapter names the device and says software/hardware', () => {
  const base = { vendor: '', architecture: '', device: 'llvmpipe-x', description: 'OpenGL ES 3.2 Mesa', dawnBackend: 'opengles', featureLevel: 'compatibility' as const, software: true, limits: { maxBufferSize: 1, maxStorageBufferBindingSize: 1 } };
  assert.is(describeAdapter(base), 'llvmpipe-x (OpenGL ES 3.2 Mesa, software, opengles, compatibility)');
  assert.is(describeAdapter({ ...base, vendor: 'nvidia', device: 'H200', description: '', dawnBackend: 'default', featureLevel: 'core', software: false }), 'nvidia H200 (hardware)');
});

test.run();
