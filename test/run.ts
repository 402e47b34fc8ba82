/**
 * The test command (`npm test`): every `test/**\/*.test.ts` file through uvu in one process, then
 * the notebooks (quick profile) unless `--no-notebooks`. Extra arguments filter test files by
 * substring: `npm test -- distill`.
 * Files under test/webgpu/ run in a second process with CWD_BACKEND=webgpu (a software adapter
 * where there is no GPU: Mesa llvmpipe through EGL); `--no-webgpu` leaves them out (said in the
 * summary). Where npm `webgpu` has no prebuilt dawn.node for the platform they are skipped, and
 * the summary says so.
 * Ends with a plain `N passed, N failed` line that CI reads.
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';

const args = process.argv.slice(2);
const runNotebooks = !args.includes('--no-notebooks');
const runWebgpu = !args.includes('--no-webgpu');
const webgpuChild = args.includes('--webgpu-child');
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
  const matched = findTests(path.join(root, 'test')).filter(
    (f) => filters.length === 0 || filters.some((s) => f.includes(s)),
  );
  const isWebgpu = (f: string) => path.relative(root, f).split(path.sep)[1] === 'webgpu';
  const files = webgpuChild ? matched : matched.filter((f) => !isWebgpu(f));
  const webgpuFiles = webgpuChild ? [] : matched.filter(isWebgpu);
  process.env.CWD_QUIET_BACKEND = process.env.CWD_QUIET_BACKEND ?? '1';
  // The unit tests read tensors synchronously (dataSync), which webgpu lacks: on a GPU machine they keep
  // the CPU backends of auto-selection; test/webgpu runs in its own forced process.
  const hadNoAuto = 'CWD_NO_AUTO_WEBGPU' in process.env;
  if (!webgpuChild) process.env.CWD_NO_AUTO_WEBGPU = process.env.CWD_NO_AUTO_WEBGPU ?? '1';

  // uvu: defer execution, load every suite, then run them all (as the uvu CLI does).
  (globalThis as any).UVU_DEFER = 1;
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
  // strip ANSI colour codes (ESC [ … m)
  const plain = captured.replace(/\x1b\[[0-9;]*m/g, '');
  const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  const passedUnits = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  const skipped = Number(/Skipped:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  let passed = passedUnits;
  let failed = total - passedUnits - skipped;
  let skippedFiles = 0;
  const notes: string[] = [];
  if (files.length === 0 && webgpuFiles.length === 0) {
    console.error('no test files matched');
    failed += 1;
  }

  if (webgpuFiles.length > 0) {
    const why = !runWebgpu ? 'left out (--no-webgpu)' : webgpuUnavailable();
    if (why) {
      skippedFiles += webgpuFiles.length;
      notes.push(`webgpu subset (${webgpuFiles.length} file(s)) skipped: ${why}`);
    } else {
      console.log('\nwebgpu subset: CWD_BACKEND=webgpu, own process');
      const summary = path.join(fs.mkdtempSync(path.join(require('os').tmpdir(), 'cwd-webgpu-')), 'summary.json');
      const r = spawnSync(process.execPath, [path.join(root, 'node_modules/tsx/dist/cli.mjs'), path.join(root, 'test', 'run.ts'), '--webgpu-child', '--no-notebooks', ...webgpuFiles.map((f) => path.relative(root, f))], {
        cwd: root, env: { ...process.env, CWD_BACKEND: 'webgpu', CWD_TEST_SUMMARY_JSON: summary }, stdio: 'inherit',
      });
      if (fs.existsSync(summary)) {
        const s = JSON.parse(fs.readFileSync(summary, 'utf8')) as { passed: number; failed: number };
        passed += s.passed;
        failed += s.failed;
        if (r.status !== 0 && s.failed === 0) failed += 1;
      } else {
        console.error(`webgpu subset: the child process ended with status ${r.status}${r.signal ? ` (${r.signal})` : ''} without a result`);
        failed += 1;
      }
    }
  }

  if (runNotebooks && filters.length === 0) {
    const script = path.join(root, 'scripts', 'run-notebooks.ts');
    if (fs.existsSync(script)) {
      console.log('\nnotebooks (quick profile): scripts/run-notebooks.ts');
      // the notebooks pick their backend as a user's session would (a GPU adapter when there is one)
      const env = { ...process.env };
      if (!hadNoAuto) delete env.CWD_NO_AUTO_WEBGPU;
      const r = spawnSync(process.execPath, [path.join(root, 'node_modules/tsx/dist/cli.mjs'), script, '--profile', 'quick', '--summary-json', path.join(root, 'runs/.notebooks-summary.json')], {
        stdio: 'inherit', cwd: root, env,
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
  for (const n of notes) console.log(`\n${n}`);
  const allSkipped = skipped + skippedFiles;
  console.log(`\n${passed} passed, ${failed} failed${allSkipped ? `, ${allSkipped} skipped` : ''}`);
  if (process.env.CWD_TEST_SUMMARY_JSON && webgpuChild) {
    fs.writeFileSync(process.env.CWD_TEST_SUMMARY_JSON, JSON.stringify({ passed, failed, skipped: allSkipped }));
  }
  process.exitCode = failed > 0 ? 1 : 0;
}

/** Why the webgpu subset cannot run on this platform at all ('' when it can: then it must pass). */
function webgpuUnavailable(): string {
  try {
    (require('../lib/backend/webgpu') as typeof import('../lib/backend/webgpu')).dawnNodePath();
    return '';
  } catch (e) {
    const msg = (e as Error).message;
    // only a platform without a prebuilt binary is a skip; a missing install is a failure
    return /no prebuilt dawn\.node/.test(msg) ? msg : '';
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
