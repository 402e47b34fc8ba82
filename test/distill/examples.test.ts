/** Every `@example` block in lib/distill runs as written (with require('./lib/distill') → the module). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import * as distill from '../../lib/distill';

const root = path.join(__dirname, '..', '..', 'lib', 'distill');

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** The lines after `@example` up to the end of the JSDoc block, without the leading ` * `. */
function examples(file: string): string[] {
  const out: string[] = [];
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^\s*\*\s*@example\s*$/.test(lines[i])) continue;
    const body: string[] = [];
    for (let j = i + 1; j < lines.length && !/^\s*\*\//.test(lines[j]) && !/^\s*\*\s*@/.test(lines[j]); j++) {
      body.push(lines[j].replace(/^\s*\*\s?/, ''));
    }
    out.push(body.join('\n'));
  }
  return out;
}

test.before(async () => {
  await initBackend({ quiet: true });
});

const files = sources(root);
test('lib/distill has @example blocks on its public functions', () => {
  const count = files.reduce((n, f) => n + examples(f).length, 0);
  assert.ok(count >= 15, `only ${count} examples`);
});

for (const file of files) {
  examples(file).forEach((code, k) => {
    test(`@example ${path.relative(root, file)} #${k + 1} runs`, () => {
      const fakeRequire = (m: string) => {
        if (m === '@tensorflow/tfjs') return tf;
        if (m === './lib/distill') return distill;
        throw new Error(`example requires ${m}`);
      };
      const logged: unknown[] = [];
      const saved = console.log;
      console.log = (...args: unknown[]) => { logged.push(args); };
      try {
        tf.tidy(() => { new Function('require', code)(fakeRequire); });
      } catch (e) {
        throw new Error(`${path.relative(root, file)} example #${k + 1} failed: ${(e as Error).message}\n${code}`);
      } finally {
        console.log = saved;
      }
      assert.ok(logged.length > 0, 'the example prints something');
    });
  });
}

test.run();
