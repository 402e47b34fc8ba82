/**
 * The test command (`npm test`): every `test/**\/*.test.ts` file through uvu in one process, then
 * the notebooks (quick profile) unless `--no-notebooks`. Extra arguments filter test files by
 * substring: `npm test -- distill`.
 * Ends with a plain `N passed, N failed` line that CI reads.
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';

const args = process.argv.slice(2);
const runNotebooks = !args.includes('--no-notebooks');
const filters = args.filter((a) => !a.startsWith('--'));

function findTests(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...findTests(p));
    else if (entry.name.endsWith('.test.ts')) out.push(p);
  }
  return out.sort();
}

async function main(): Promise<void> {
  const root = path.resolve(__dirname, '..');
  const files = findTests(path.join(root, 'test')).filter(
    (f) => filters.length === 0 || filters.some((s) => f.includes(s)),
  );
  process.env.CWD_QUIET_BACKEND = process.env.CWD_QUIET_BACKEND ?? '1';

  // uvu: defer execution, load every suite, then run them all (as the uvu CLI does).
  (globalThis as any).UVU_DEFER = 1;
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const uvu = require('uvu');
  files.forEach((file, idx) => {
    (globalThis as any).UVU_QUEUE.push([path.relative(root, file)]);
    (globalThis as any).UVU_INDEX = idx;
    require(file);
  });

  // uvu prints "Total: N / Passed: N" only; capture them for the plain summary line.
  let captured = '';
  const write = process.stdout.write.bind(process.stdout);
  (process.stdout as any).write = (chunk: any, ...rest: any[]) => {
    captured += String(chunk);
    return write(chunk, ...rest);
  };
  await uvu.exec(false);
  (process.stdout as any).write = write;
  // eslint-disable-next-line no-control-regex
  const plain = captured.replace(/\x1b\[[0-9;]*m/g, '');
  const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  const passedUnits = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  const skipped = Number(/Skipped:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  let passed = passedUnits;
  let failed = total - passedUnits - skipped;
  if (files.length === 0) {
    console.error('no test files matched');
    failed += 1;
  }

  if (runNotebooks && filters.length === 0) {
    const script = path.join(root, 'scripts', 'run-notebooks.ts');
    if (fs.existsSync(script)) {
      console.log('\nnotebooks (quick profile): scripts/run-notebooks.ts');
      const r = spawnSync(process.execPath, [path.join(root, 'node_modules/tsx/dist/cli.mjs'), script, '--profile', 'quick', '--summary-json', path.join(root, 'runs/.notebooks-summary.json')], {
        stdio: 'inherit', cwd: root, env: process.env,
      });
      const summaryPath = path.join(root, 'runs/.notebooks-summary.json');
      if (fs.existsSync(summaryPath)) {
        const s = JSON.parse(fs.readFileSync(summaryPath, 'utf8')) as { passed: number; failed: number };
        passed += s.passed;
        failed += s.failed;
      }
      if (r.status !== 0 && !fs.existsSync(summaryPath)) failed += 1;
    }
  }
  console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  process.exitCode = failed > 0 ? 1 : 0;
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
