/**
 * `npm run bench` — training speed of channel-distill, side by side with PyTorch (issue 6).
 *
 *   npm run bench                       # everything (several minutes on 2 cores)
 *   npm run bench -- --quick            # < 2 minutes: fewer repeats, smaller step batch
 *   npm run bench -- --only losses,step # sections: losses, step, pipeline, memory, torch
 *   npm run bench -- --markdown         # also print the README table at the end
 *   npm run bench -- --markdown-from runs/bench/<file>.jsonl   # table of a saved run, no measuring
 *
 * Options: --steps N (timed training steps), --batch N, --size HxW (main step size, default 256x512),
 * --demo-size HxW|demo|none (second step size; default "demo": the crop, batch, method and optimiser of
 * `npm run demo`), --memory-steps N (default 200; runs at the demo setting),
 * --teacher PRESET, --student PRESET, --also-students A,B|none (more students at the main size, batch 2
 * unless --batch, with their profile; default student-mnv2, none in --quick), --backend wasm|cpu|tensorflow|webgpu, --threads N, --no-torch,
 * --no-profile, --json-out FILE, --note TEXT (added to the markdown header),
 * --write-results[=FILE] (write the markdown of this run to bench/RESULTS.md, or FILE).
 *
 * Output: one JSON line per figure on stdout (name, value, unit, backend, threads, shape,
 * ratio_vs_torch = tfjs time / PyTorch time), also written to runs/bench/<timestamp>.jsonl (and
 * --json-out); then a summary table, per profiled step a table of its conv shapes (forward vs
 * backward-input vs backward-filter ms, GFLOP/s, % of the CPU's fp32 peak), and the target checks of
 * issues 6 and 14 (PASS / FAIL / NOT MEASURED).
 * Progress goes to stderr. `--only torch` checks the PyTorch side only: torch importable, and its
 * twin of the teacher and student (translated from the tfjs layer graphs) has the same parameter counts.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { Figure, Recorder, backendThreads, errorMessage, machineInfo, progress } from './common';
import { benchLosses, LOSS_SHAPES } from './losses';
import { benchMemory } from './memory';
import { benchPipeline } from './pipeline';
import { checkTargets, markdown, summary, RunMeta } from './report';
import { benchStep, benchTorchTwin, defaultSetup } from './step';
import { findTorch } from './torch';
import { parseArgs, Section } from './args';
import { initBackend, wasmThreadingReport, webgpuReport } from '../lib/backend';

function loadavgLine(): string | null {
  try {
    return fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(', ');
  } catch {
    return null;
  }
}

function timestamp(): string {
  return new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
}

function readJsonl(file: string): { figs: Figure[]; meta: RunMeta | null } {
  if (!fs.existsSync(file)) throw new Error(`--markdown-from: ${file} does not exist`);
  const figs: Figure[] = [];
  let meta: RunMeta | null = null;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const j = JSON.parse(line);
    if (j.name === 'run.meta') meta = j.meta as RunMeta;
    else if (j.name === 'run.end') {
      if (meta?.loadavg) meta.loadavg.end = j.loadavg_end;
    } else figs.push(j as Figure);
  }
  return { figs, meta };
}

/** bench/RESULTS.md: how to reproduce and read the table, then the table of one run. */
function writeResults(file: string, md: string, source: string): void {
  const text = [
    '# Training speed: channel-distill (TensorFlow.js) side by side with PyTorch',
    '',
    'Written by `npm run bench -- --write-results` (or `npm run bench -- --markdown-from <run.jsonl> --write-results`'
      + ' for a saved run); every figure is also a JSON line in `' + source + '` (git-ignored `runs/`).',
    '',
    'How the figures are taken (`bench/`): the KD step is lib/train\'s `Trainer.trainStep` (frozen teacher forward +'
      + ' student forward/backward + CE + distillation terms + optimiser update) on a fixed random batch; the PyTorch twin'
      + ' is the same teacher/student translated layer by layer from the tfjs graphs (`bench/torch/keras_graph.py`;'
      + ' trainable parameter counts asserted equal, outputs equal to 1e-4 in `test/bench/torch-graph.test.ts`), same'
      + ' batch, size, terms, optimiser and thread count (`torch.set_num_threads`), NCHW and channels-last, the faster'
      + ' counted. PyTorch and tfjs steps alternate one by one so both see the same machine load; medians are reported.'
      + ' Per-loss figures are forward + backward of lib/distill\'s registry losses at the paper\'s shapes, with PyTorch'
      + ' twins in `bench/torch/losses.py`; "GB/s" counts reading both maps and writing the gradient once.'
      + ' Each profiled step\'s conv shapes are recorded (kernel wrappers during one step) and every shape\'s forward conv and'
      + ' the gradients that run at it are then timed alone (`lib/backend/profile.ts` benchmarkConvKernels), with GFLOP/s and'
      + ' the share of this CPU\'s fp32 peak (cores × "cpu MHz" × FMA lanes of the ISA flags × 2, from /proc/cpuinfo).'
      + ' Peak RSS: the tfjs bench process so far (the wasm heap never shrinks) beside the PyTorch worker process, which ran only that step.',
    '',
    'Run it: `npm run bench` (everything, about 5 min on 2 quiet cores: the 2026-11-30 17:18 run took 4 min 40 s), `npm run bench -- --quick` (< 2 min: batch 2, fewer'
      + ' repeats, losses at the logits shape), `npm run bench -- --only losses|step|pipeline|memory|torch`,'
      + ' `npm run bench -- --markdown` (this table at the end), `CWD_NATIVE=0 npm run bench` (wasm without the native'
      + ' kernels), `npm run bench -- --help` (all options). Targets print PASS / FAIL / NOT MEASURED with their numbers.',
    '',
    md,
    '',
  ].join('\n');
  fs.writeFileSync(file, text);
  console.log(`\nwrote ${file}`);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const mainTag = args.size.join('x');
  if (args.markdownFrom) {
    const { figs, meta: saved } = readJsonl(args.markdownFrom);
    if (!saved) throw new Error(`${args.markdownFrom} has no run.meta line (not written by npm run bench?)`);
    // --note with a saved run: appended to the run's own note, marked as written afterwards
    const meta = args.note ? { ...saved, note: [saved.note, `Added when the table was rewritten from the saved run: ${args.note}`].filter(Boolean).join(' ') } : saved;
    const md = markdown(figs, meta, (meta as RunMeta & { mainTag?: string }).mainTag ?? mainTag);
    console.log(md);
    if (args.writeResults) writeResults(args.writeResults, md, args.markdownFrom);
    return;
  }
  if (args.backend) process.env.CWD_BACKEND = args.backend;
  await initBackend({ ...(args.threads ? { threads: args.threads } : {}) });
  const backend = tf.getBackend();
  const threads = backendThreads();
  const torchFound = args.torch ? findTorch() : { info: null, why: 'disabled by --no-torch' };

  const stamp = timestamp();
  const files = [path.join('runs', 'bench', `${stamp}.jsonl`)];
  if (args.jsonOut) files.push(args.jsonOut);
  const rec = new Recorder(files);
  const machine = machineInfo();
  const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  const envPrefix = ['CWD_BACKEND', 'CWD_NATIVE', 'CWD_TORCH_PYTHON'].filter((k) => process.env[k] !== undefined && !(k === 'CWD_BACKEND' && args.backend))
    .map((k) => `${k}=${quote(process.env[k] as string)} `).join('');
  const command = `${envPrefix}npm run bench${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).map(quote).join(' ') : ''}`;
  const meta: RunMeta & { mainTag: string } = {
    command, machine, backend, threads, torch: torchFound.info?.torch ?? null, mainTag, ...(args.note ? { note: args.note } : {}),
  };
  meta.loadavg = { start: loadavgLine() };
  const report = backend === 'webgpu' ? webgpuReport()?.adapter : wasmThreadingReport();
  if (report) meta.backendReport = report;
  rec.add({ name: 'run.meta', value: null, unit: '', backend, threads, meta });
  if (!torchFound.info) rec.note(torchFound.why);
  const adapter = backend === 'webgpu' ? (meta.backendReport as { software?: boolean; device?: string } | undefined) : undefined;
  if (adapter?.software) {
    const w = `webgpu runs on a software adapter (${adapter.device}): about 10× slower than wasm; use small shapes (e.g. --size 64x64 --batch 1 --demo-size none --also-students none)`;
    rec.note(w);
    progress(w);
  }
  if (backend === 'webgpu' && args.profile) {
    // tf.profile's kernelMs on webgpu needs the timestamp-query feature and reads 0 ms without it
    args.profile = false;
    rec.note('kernel profile skipped on webgpu (tf.profile gives 0 ms per kernel there); step and forward times are wall clock after an awaited read');
  }
  const load1 = Number((meta.loadavg.start ?? '').split(',')[0]);
  if (load1 > machine.nproc) {
    rec.note(`load average ${load1} on ${machine.nproc} cores at the start: other processes compete for the CPU, wall times are inflated and noisy (compare the ratios, and the CPU-time ratios)`);
  }
  progress(`backend ${backend}, ${threads} thread(s); PyTorch: ${torchFound.info ? `${torchFound.info.torch} (${torchFound.info.python})` : torchFound.why}`);

  const q = args.quick;
  const has = (s: Section) => args.only.includes(s);
  const torchOnly = args.only.length === 1 && args.only[0] === 'torch';
  const useTorch = args.torch && !!torchFound.info;
  const reps = q ? 3 : 7;
  const steps = args.steps ?? (q ? 2 : 7);
  const stepBatch = args.batch ?? (q ? 2 : 8);

  if (torchOnly) {
    const ok = await benchTorchTwin(rec, { teacher: args.teacher, student: args.student, size: args.size });
    console.log(`\nPyTorch twin: ${ok ? 'OK (same trainable parameter counts)' : 'NOT OK (see the figures and notes above)'}`);
    if (rec.notes.length) console.log(rec.notes.map((n) => `  - ${n}`).join('\n'));
    return;
  }
  if (has('losses')) {
    // --quick: every loss at the logits shape, the cheap ones (and CWD) at the feature shape too
    const quickFeature: ('feature' | 'logits')[] = ['feature', 'logits'];
    const logitsOnly: ('feature' | 'logits')[] = ['logits'];
    await benchLosses(rec, {
      reps, warmup: 1, torch: useTorch, budgetMs: q ? 1500 : 10_000,
      onlyAt: q
        ? { cwd: quickFeature, mse: quickFeature, at: quickFeature, 'pa-window2': [] }
        : { 'pa-window2': logitsOnly },
      shapes: q ? logitsOnly : quickFeature,
    });
  }
  const paper = defaultSetup('paper');
  const demo = defaultSetup('demo');
  const demoSize: [number, number] | null = args.demoSize === 'demo' ? (demo.crop ?? [128, 256]) : args.demoSize;
  const demoBatch = args.demoSize === 'demo' ? (demo.batch ?? stepBatch) : stepBatch;
  const demoSetup = args.demoSize === 'demo' ? demo.setup : paper.setup;
  if (has('step')) {
    await benchStep(rec, {
      setup: paper.setup, teacher: args.teacher, student: args.student, batch: stepBatch, size: args.size, steps, warmup: q ? 1 : 2,
      torch: useTorch, profile: args.profile, tag: mainTag,
    });
    if (demoSize && !q) {
      await benchStep(rec, {
        setup: demoSetup, teacher: args.teacher, student: args.student, batch: demoBatch, size: demoSize, steps, warmup: 2,
        torch: useTorch, profile: false, tag: demoSize.join('x'),
      });
    }
    // other students at the main size (their kernels differ: MobileNetV2's depthwise convs); batch 2 by
    // default: the kernel check needs no more, and slow depthwise backward kernels make batch 8 take minutes
    for (const student of args.alsoStudents ?? (q ? [] : ['student-mnv2'])) {
      await benchStep(rec, {
        setup: paper.setup, teacher: args.teacher, student, batch: args.batch ?? 2, size: args.size, steps: 3,
        warmup: 1, torch: useTorch, profile: args.profile, tag: `${mainTag}-${student}`, teacherForward: false,
      });
    }
  }
  if (has('pipeline')) {
    await benchPipeline(rec, { batch: stepBatch, size: args.size, batches: q ? 4 : 16 });
  }
  if (has('memory')) {
    const memSteps = args.memorySteps ?? (q ? 20 : 200);
    // many steps: at the demo setting (the main size with --demo-size none)
    const memSize = demoSize ?? args.size;
    await benchMemory(rec, {
      setup: demoSize ? demoSetup : paper.setup, teacher: args.teacher, student: args.student,
      batch: demoSize ? demoBatch : stepBatch, size: memSize, steps: memSteps, tag: memSize.join('x'),
    });
  }

  console.log('\n' + summary(rec.figures, mainTag, rec.notes));
  console.log(`\nfigures: ${files.join(', ')}`);
  if (args.markdown) {
    const md = markdown(rec.figures, meta, mainTag);
    console.log('\n' + md);
    if (args.writeResults) writeResults(args.writeResults, md, files[0]);
  }
  void LOSS_SHAPES;
  void checkTargets;
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`bench failed: ${errorMessage(e)}`);
    process.exit(1);
  },
);
