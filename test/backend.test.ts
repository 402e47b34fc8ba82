import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { initBackend } from '../lib/backend';

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

test.run();
