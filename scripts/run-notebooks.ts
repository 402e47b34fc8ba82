/**
 * Execute the notebooks headless (`npm run notebooks`, and the last part of `npm test`).
 *
 *   npm run notebooks                                   # all notebooks, quick profile
 *   npm run notebooks -- --profile full 03 04           # two notebooks, full profile
 *   npm run notebooks -- --profile full --in-place      # refresh the committed outputs
 *   tsx scripts/run-notebooks.ts --profile quick --summary-json runs/.notebooks-summary.json
 *
 * Each notebook is executed in the project-local tslab kernel (jupyter/kernels/channel-distill,
 * created by `npm run kernel`) by one of two engines:
 * - `--engine node` (default): scripts/jupyter-client.ts, a Node client of the Jupyter messaging
 *   protocol over zeromq; needs no Python and no `jupyter` on PATH;
 * - `--engine nbconvert`: `jupyter nbconvert --to notebook` (JUPYTER_PATH points at jupyter/) with the
 *   preprocessor in jupyter/cwd_execute.py; needs Jupyter (scripts/apt-packages.txt).
 * Both store the same outputs, except that the Node client merges consecutive writes to a stream into one
 * output and fills in execution_count (see scripts/jupyter-client.ts). The profile reaches the notebooks as the environment variable CWD_PROFILE, read in
 * their first cell. Executed copies go to notebooks/.executed/ (git-ignored); the committed
 * notebooks are only rewritten with `--in-place` (alias `--update-committed`), and only when the
 * notebook ran without error.
 *
 * A failing cell fails the notebook; the real error (the project kernel sends its name, message and
 * stack as the cell's error output) is printed (by the Node client, or jupyter/cwd_execute.py). So does an unhandled promise
 * rejection or uncaught exception in the kernel (an un-awaited async throw, which tslab only logs):
 * the kernel launcher records it in $CWD_NB_REJECTIONS, checked after every cell and at the end. Each notebook has a time
 * limit (--timeout seconds). With --engine nbconvert, Jupyter missing is a failure with the install
 * command, never a skip.
 *
 * --summary-json <file> writes {passed, failed, profile, notebooks: [{name, ok, seconds, error?}]}
 * (read by test/run.ts). Exit code 1 when any notebook failed.
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawn, spawnSync } from 'child_process';
import { readNotebook, runNotebook, writeNotebook } from './jupyter-client';

export type Profile = 'quick' | 'medium' | 'full';
export type Engine = 'node' | 'nbconvert';

export interface RunnerOptions {
  profile: Profile;
  /** How notebooks are executed: the Node client (default) or jupyter nbconvert. */
  engine: Engine;
  summaryJson?: string;
  /** Parameter overrides for every notebook's parameters cell (`--param name=value`), passed as CWD_PARAMS. */
  params: Record<string, unknown>;
  /** Per-notebook time limit in seconds. */
  timeout: number;
  inPlace: boolean;
  /** Folder holding the notebooks (default notebooks/). */
  dir: string;
  outDir: string;
  filters: string[];
  list: boolean;
  help: boolean;
}

export interface NotebookResult {
  name: string;
  ok: boolean;
  seconds: number;
  error?: string;
  output?: string;
}

const ROOT = path.resolve(__dirname, '..');
const KERNEL = 'channel-distill';
const DEFAULT_TIMEOUT: Record<Profile, number> = { quick: 900, medium: 3600, full: 6 * 3600 };

const USAGE = `usage: tsx scripts/run-notebooks.ts [options] [name-filter ...]
  --profile quick|medium|full  budget profile, passed to the notebooks as CWD_PROFILE (default quick):
                           quick = smoke run (CI), medium = protocol r2's cells with seed 0, full = seeds 0-2
  --param name=value       override a parameter of the notebooks' parameters cell (repeatable; the value
                           is read as JSON when it parses, else as a string), passed as CWD_PARAMS
  --engine node|nbconvert  execute with the Node Jupyter client (default; no Python needed) or with
                           jupyter nbconvert (needs Jupyter: scripts/apt-packages.txt)
  --timeout <seconds>      time limit per notebook (default ${DEFAULT_TIMEOUT.quick} quick, ${DEFAULT_TIMEOUT.full} full)
  --in-place               write the executed notebooks over the committed ones (alias --update-committed)
  --summary-json <file>    write {passed, failed, profile, notebooks[]} to <file>
  --dir <folder>           notebooks folder (default notebooks/)
  --out-dir <folder>       executed copies (default notebooks/.executed/)
  --list                   list the notebooks that would run
  name-filter              run only notebooks whose file name contains one of these substrings`;

export function parseArgs(argv: string[]): RunnerOptions {
  const opts: RunnerOptions = {
    profile: 'quick', engine: 'node', params: {}, timeout: NaN, inPlace: false, dir: path.join(ROOT, 'notebooks'),
    outDir: '', filters: [], list: false, help: false,
  };
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new Error(`${flag} needs a value\n${USAGE}`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '--profile': {
        const v = value(i++, a);
        if (v !== 'quick' && v !== 'medium' && v !== 'full') throw new Error(`--profile ${JSON.stringify(v)}: use quick, medium or full`);
        opts.profile = v;
        break;
      }
      case '--engine': {
        const v = value(i++, a);
        if (v !== 'node' && v !== 'nbconvert') throw new Error(`--engine ${JSON.stringify(v)}: use node or nbconvert`);
        opts.engine = v;
        break;
      }
      case '--timeout': {
        const v = Number(value(i++, a));
        if (!Number.isFinite(v) || v <= 0) throw new Error(`--timeout ${JSON.stringify(argv[i])}: a positive number of seconds`);
        opts.timeout = v;
        break;
      }
      case '--param': {
        const v = value(i++, a);
        const eq = v.indexOf('=');
        if (eq <= 0) throw new Error(`--param ${JSON.stringify(v)}: use name=value, e.g. --param steps=100`);
        const text = v.slice(eq + 1);
        let parsed: unknown = text;
        try { parsed = JSON.parse(text); } catch { /* not JSON: the string itself */ }
        opts.params[v.slice(0, eq)] = parsed;
        break;
      }
      case '--summary-json': opts.summaryJson = path.resolve(value(i++, a)); break;
      case '--dir': opts.dir = path.resolve(value(i++, a)); break;
      case '--out-dir': opts.outDir = path.resolve(value(i++, a)); break;
      case '--in-place': case '--update-committed': opts.inPlace = true; break;
      case '--list': opts.list = true; break;
      case '--help': case '-h': opts.help = true; break;
      default:
        if (a.startsWith('-')) throw new Error(`unknown option ${a}\n${USAGE}`);
        opts.filters.push(a);
    }
  }
  if (Number.isNaN(opts.timeout)) opts.timeout = DEFAULT_TIMEOUT[opts.profile];
  if (!opts.outDir) opts.outDir = path.join(opts.dir, '.executed');
  return opts;
}

export function findNotebooks(dir: string, filters: string[]): string[] {
  if (!fs.existsSync(dir)) throw new Error(`notebooks folder ${dir} does not exist`);
  return fs.readdirSync(dir)
    .filter((f) => f.endsWith('.ipynb'))
    .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
    .sort()
    .map((f) => path.join(dir, f));
}

const INSTALL_HINT = `Jupyter (nbconvert + nbclient) is needed to execute the notebooks and was not found.
Install it, then run again:
  Debian/Ubuntu:  sudo apt-get install -y --no-install-recommends jupyter-nbconvert python3-nbclient python3-jupyter-client python3-ipykernel
                  (the list the CI uses: scripts/apt-packages.txt)
  elsewhere:      python3 -m pip install nbclient nbconvert jupyter_client ipykernel
See environment.md ("Jupyter and the kernel").`;

/** null when `jupyter nbconvert` works, else the reason. */
export function checkJupyter(): string | null {
  const r = spawnSync('jupyter', ['nbconvert', '--version'], { encoding: 'utf8' });
  if (r.error) return `'jupyter' could not be started (${(r.error as NodeJS.ErrnoException).code ?? r.error.message})`;
  if (r.status !== 0) return `'jupyter nbconvert --version' exited with ${r.status}: ${(r.stderr || '').trim().split('\n').slice(-3).join(' | ')}`;
  return null;
}

function ensureKernel(): void {
  const script = path.join(ROOT, 'scripts', 'install-kernel.cjs');
  const check = spawnSync(process.execPath, [script, '--check'], { encoding: 'utf8' });
  if (check.status !== 0) {
    console.log('kernelspec missing or stale: running scripts/install-kernel.cjs');
    const r = spawnSync(process.execPath, [script], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error('scripts/install-kernel.cjs failed');
  }
}

function fmt(seconds: number): string {
  return seconds < 60 ? `${seconds.toFixed(1)} s` : `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

/** Execute one notebook; resolves with its result (never rejects for notebook errors). */
export function executeNotebook(file: string, opts: RunnerOptions): Promise<NotebookResult> {
  return opts.engine === 'nbconvert' ? executeWithNbconvert(file, opts) : executeWithNodeClient(file, opts);
}

/** CWD_PARAMS for the notebooks' parameters cells (lib/viz/profile.ts notebookParameters), when any --param was given. */
function paramsEnv(opts: RunnerOptions): Record<string, string> {
  return Object.keys(opts.params).length ? { CWD_PARAMS: JSON.stringify(opts.params) } : {};
}

/** Where one notebook's run writes (both engines): the executed copy, a partial copy on failure, the kernel's async errors; stale ones removed. */
function outputPaths(file: string, opts: RunnerOptions): { name: string; output: string; partial: string; asyncErrors: string } {
  const name = path.basename(file, '.ipynb');
  fs.mkdirSync(opts.outDir, { recursive: true });
  const output = path.join(opts.outDir, `${name}.ipynb`);
  const partial = path.join(opts.outDir, `${name}.partial.ipynb`);
  const asyncErrors = path.join(opts.outDir, `${name}.async-errors.jsonl`);
  for (const f of [output, partial, asyncErrors]) if (fs.existsSync(f)) fs.unlinkSync(f);
  return { name, output, partial, asyncErrors };
}

/** The default engine: scripts/jupyter-client.ts talks to the kernel directly. */
async function executeWithNodeClient(file: string, opts: RunnerOptions): Promise<NotebookResult> {
  const { name, output, partial, asyncErrors } = outputPaths(file, opts);
  const log = (text: string) => {
    for (const line of text.split('\n')) if (line.trim()) process.stdout.write(`  [${name}] ${line}\n`);
  };
  let nb;
  try {
    nb = readNotebook(file);
  } catch (e) {
    return { name, ok: false, seconds: 0, error: (e as Error).message };
  }
  const r = await runNotebook(nb, {
    kernelDir: path.join(ROOT, 'jupyter', 'kernels', KERNEL), kernelName: KERNEL, cwd: ROOT,
    env: { ...process.env, CWD_PROFILE: opts.profile, ...paramsEnv(opts), CWD_NOTEBOOK: name, CWD_NB_PARTIAL: partial, CWD_NB_REJECTIONS: asyncErrors },
    timeout: opts.timeout, startupTimeout: 120, asyncErrorsFile: asyncErrors, log,
  });
  if (!r.ok) {
    if (r.failedCell !== undefined) {
      writeNotebook(partial, r.nb);
      log(`partially executed notebook written to ${partial}`);
    }
    return { name, ok: false, seconds: r.seconds, error: r.error };
  }
  writeNotebook(output, r.nb);
  if (opts.inPlace) fs.copyFileSync(output, file);
  return { name, ok: true, seconds: r.seconds, output: opts.inPlace ? file : output };
}

function executeWithNbconvert(file: string, opts: RunnerOptions): Promise<NotebookResult> {
  const { name, output, partial, asyncErrors } = outputPaths(file, opts);
  const jupyterDir = path.join(ROOT, 'jupyter');
  const runtimeDir = path.join(jupyterDir, 'runtime');
  fs.mkdirSync(runtimeDir, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CWD_PROFILE: opts.profile,
    ...paramsEnv(opts),
    CWD_NOTEBOOK: name,
    CWD_NB_PARTIAL: partial,
    CWD_NB_REJECTIONS: asyncErrors,
    JUPYTER_PATH: [jupyterDir, process.env.JUPYTER_PATH].filter(Boolean).join(path.delimiter),
    JUPYTER_RUNTIME_DIR: runtimeDir,
    PYTHONPATH: [jupyterDir, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter),
    PYDEVD_DISABLE_FILE_VALIDATION: '1',
  };
  const args = [
    'nbconvert', '--to', 'notebook',
    '--NotebookExporter.preprocessors=cwd_execute.ReportingExecutePreprocessor',
    `--ExecutePreprocessor.kernel_name=${KERNEL}`,
    `--ExecutePreprocessor.timeout=${Math.ceil(opts.timeout)}`,
    '--ExecutePreprocessor.startup_timeout=120',
    '--output-dir', opts.outDir, '--output', `${name}.ipynb`,
    file,
  ];
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn('jupyter', args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const relay = (chunk: Buffer) => {
      const text = chunk.toString();
      tail = (tail + text).slice(-20000);
      for (const line of text.split('\n')) {
        if (line.trim() && !/MissingIDFieldWarning|validate\(nb\)/.test(line)) process.stdout.write(`  [${name}] ${line}\n`);
      }
    };
    child.stdout.on('data', relay);
    child.stderr.on('data', relay);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      console.log(`  [${name}] time limit of ${fmt(opts.timeout)} reached: stopping it`);
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 10000).unref();
    }, opts.timeout * 1000 + 30000);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ name, ok: false, seconds: (Date.now() - t0) / 1000, error: `could not start jupyter: ${e.message}` });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const seconds = (Date.now() - t0) / 1000;
      if (timedOut) {
        resolve({ name, ok: false, seconds, error: `time limit of ${opts.timeout} s reached` });
        return;
      }
      if (code !== 0 || !fs.existsSync(output)) {
        const failed = /cell \d+ \(code cell [^\n]*FAILED[^\n]*/.exec(tail)?.[0];
        const section = (head: RegExp) => (head.exec(tail)?.[1] ?? '')
          .split('\n').map((l) => l.replace(/^\s*\[[^\]]*\]\s?/, '').trim()).filter(Boolean);
        // the error output's "ename: evalue" (the project kernel fills it in), else an error line of the stderr
        const errorLine = section(/--- error output[^\n]*\n([^\n]*)/)[0];
        const stderrLines = section(/--- stderr[^\n]*\n([\s\S]*?)(\n---|\n====)/);
        const realError = errorLine ?? stderrLines.find((l) => /^(\w*Error|Error)\b[^:]*:/.test(l))
          ?? stderrLines.find((l) => /^\d+:\d+ - /.test(l)) ?? stderrLines[0];
        resolve({
          name, ok: false, seconds,
          error: [failed, realError].filter(Boolean).join(': ')
            || `jupyter nbconvert exited with ${code ?? signal}: ${tail.trim().split('\n').slice(-3).join(' | ')}`,
        });
        return;
      }
      const late = fs.existsSync(asyncErrors) ? fs.readFileSync(asyncErrors, 'utf8').trim() : '';
      if (late) {
        // after the last cell (the preprocessor checks after every cell): still a failure
        const first = (() => { try { return JSON.parse(late.split('\n')[0]) as { kind: string; error: string }; } catch { return { kind: 'async error', error: late }; } })();
        resolve({ name, ok: false, seconds, error: `${first.kind} in the kernel after the last cell: ${first.error.split('\n')[0]}` });
        return;
      }
      if (opts.inPlace) fs.copyFileSync(output, file);
      resolve({ name, ok: true, seconds, output: opts.inPlace ? file : output });
    });
  });
}

function writeSummary(opts: RunnerOptions, results: NotebookResult[], extraFailed = 0, note?: string): void {
  if (!opts.summaryJson) return;
  const summary = {
    passed: results.filter((r) => r.ok).length,
    failed: results.filter((r) => !r.ok).length + extraFailed,
    profile: opts.profile,
    ...(note ? { note } : {}),
    notebooks: results,
  };
  fs.mkdirSync(path.dirname(opts.summaryJson), { recursive: true });
  fs.writeFileSync(opts.summaryJson, JSON.stringify(summary, null, 2) + '\n');
}

export async function main(argv: string[]): Promise<number> {
  let opts: RunnerOptions;
  try {
    opts = parseArgs(argv);
  } catch (e) {
    console.error((e as Error).message);
    return 2;
  }
  if (opts.help) {
    console.log(USAGE);
    return 0;
  }
  if (opts.summaryJson && fs.existsSync(opts.summaryJson)) fs.unlinkSync(opts.summaryJson);
  const notebooks = findNotebooks(opts.dir, opts.filters);
  if (opts.list) {
    notebooks.forEach((n) => console.log(path.relative(ROOT, n)));
    return 0;
  }
  if (notebooks.length === 0) {
    console.error(`no notebooks matched in ${opts.dir}${opts.filters.length ? ` (filters: ${opts.filters.join(', ')})` : ''}`);
    writeSummary(opts, [], 1, 'no notebooks matched');
    return 1;
  }
  const missing = opts.engine === 'nbconvert' ? checkJupyter() : null;
  if (missing) {
    console.error(`\nnotebooks NOT run: ${missing}\n${INSTALL_HINT}\n`);
    writeSummary(opts, notebooks.map((n) => ({
      name: path.basename(n, '.ipynb'), ok: false, seconds: 0, error: `Jupyter missing: ${missing}`,
    })), 0, 'Jupyter missing');
    return 1;
  }
  ensureKernel();
  console.log(`executing ${notebooks.length} notebook(s) with ${opts.engine === 'node' ? 'the Node Jupyter client' : 'jupyter nbconvert'}, profile ${opts.profile}, limit ${fmt(opts.timeout)} each` +
    (opts.inPlace ? ', writing outputs into the committed notebooks' : `, copies in ${path.relative(ROOT, opts.outDir)}/`));
  const results: NotebookResult[] = [];
  for (const nb of notebooks) {
    console.log(`\n▶ ${path.relative(ROOT, nb)}`);
    const r = await executeNotebook(nb, opts);
    results.push(r);
    console.log(r.ok ? `✓ ${r.name} in ${fmt(r.seconds)}` : `✗ ${r.name} FAILED after ${fmt(r.seconds)}: ${r.error}`);
    writeSummary(opts, results);
  }
  console.log(`\nnotebooks (${opts.profile} profile):`);
  for (const r of results) console.log(`  ${r.ok ? 'ok  ' : 'FAIL'}  ${fmt(r.seconds).padStart(12)}  ${r.name}${r.ok ? '' : `  — ${r.error}`}`);
  const total = results.reduce((s, r) => s + r.seconds, 0);
  const failed = results.filter((r) => !r.ok).length;
  console.log(`  total ${fmt(total)}; ${results.length - failed} passed, ${failed} failed`);
  writeSummary(opts, results);
  return failed > 0 ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
