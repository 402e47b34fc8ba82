/**
 * Turning the figures of one run into the issue's target checks, a plain-text summary and the
 * markdown table for the README / bench/RESULTS.md. Works on the live run or on a saved .jsonl.
 */
import type { Figure } from './common';

export type Verdict = 'PASS' | 'FAIL' | 'NOT MEASURED';

export interface TargetCheck {
  target: string;
  verdict: Verdict;
  detail: string;
}

const fmt = (x: unknown, digits = 3): string => {
  if (typeof x !== 'number' || !Number.isFinite(x)) return '—';
  if (Math.abs(x) >= 100) return x.toFixed(0);
  if (Math.abs(x) >= 10) return x.toFixed(1);
  return x.toPrecision(digits);
};

/** Issue 14's KD-step targets by step tag: the 256×512 paper step, the 128×128 demo/research step, MobileNetV2 at 256×512. */
const STEP_TARGETS: [RegExp, number][] = [[/^\d+x\d+-student-mnv2$/, 1.5], [/^128x128$/, 1.5], [/^256x512$/, 1.2]];
/** Backward/forward conv ratios are judged on shapes whose forward takes at least this long (below, call overhead and timer noise dominate). */
const CONV_MIN_MS = 0.5;
/** Rows of each conv-shape table in the markdown. */
const CONV_ROWS = 30;

function byPrefix(figs: Figure[], prefix: string): Figure[] {
  return figs.filter((f) => f.name.startsWith(prefix));
}

/** The four targets of issue 6, judged on this run's figures. */
export function checkTargets(figs: Figure[], mainTag: string): TargetCheck[] {
  const out: TargetCheck[] = [];
  const step = figs.find((f) => f.name === `step.${mainTag}`);
  if (!step || step.value === null) {
    out.push({ target: 'KD step within 2× of PyTorch', verdict: 'NOT MEASURED', detail: step?.note ? String(step.note) : 'no tfjs step figure' });
  } else if (typeof step.ratio_vs_torch !== 'number') {
    out.push({ target: 'KD step within 2× of PyTorch', verdict: 'NOT MEASURED', detail: `tfjs ${fmt(step.value)} ms/step; no PyTorch figure (see notes)` });
  } else {
    out.push({
      target: 'KD step within 2× of PyTorch',
      verdict: step.ratio_vs_torch <= 2 ? 'PASS' : 'FAIL',
      detail: `tfjs ${fmt(step.value)} ms vs PyTorch ${fmt(step.torch_ms)} ms (${step.torch_format ?? ''}) per step at ${mainTag}: ${fmt(step.ratio_vs_torch)}× wall time`
        + `${typeof step.cpu_ratio_vs_torch === 'number' ? `, ${fmt(step.cpu_ratio_vs_torch)}× CPU time` : ''}`
        + `${typeof step.best_of_ratio_vs_torch === 'number' ? `, ${fmt(step.best_of_ratio_vs_torch)}× fastest/fastest` : ''} (target ≤ 2×, judged on the median wall-time ratio)`,
    });
  }
  const bwd = byPrefix(figs, `profile.${mainTag}.bwd_vs_fwd.`).filter((f) => typeof f.value === 'number');
  if (bwd.length === 0) {
    out.push({ target: 'no backward conv kernel > 2× its forward conv', verdict: 'NOT MEASURED', detail: 'no profile of the step' });
  } else {
    const worst = bwd.reduce((a, b) => ((b.value as number) > (a.value as number) ? b : a));
    const list = bwd.map((f) => `${f.name.split('.').pop()} ${fmt(f.value)}×`).join(', ');
    out.push({
      target: 'no backward conv kernel > 2× its forward conv',
      verdict: (worst.value as number) <= 2 ? 'PASS' : 'FAIL',
      detail: `${list} (time-weighted over matching shapes; worst single shape ${fmt(worst.worst_shape_ratio)}× at ${worst.worst_shape}`
        + `${typeof worst.worst_shape_ratio_fwd_over_1ms === 'number' ? `; worst among shapes whose forward takes ≥ 1 ms ${fmt(worst.worst_shape_ratio_fwd_over_1ms)}× at ${worst.worst_shape_fwd_over_1ms}` : ''})`,
    });
  }
  // other students timed at the main size: their backward kernels, for information
  const others = new Set(figs.filter((f) => f.name.startsWith(`profile.${mainTag}-`) && f.name.includes('.bwd_vs_fwd.')).map((f) => f.name.split('.')[1]));
  for (const tag of others) {
    const fs = byPrefix(figs, `profile.${tag}.bwd_vs_fwd.`).filter((f) => typeof f.value === 'number');
    if (!fs.length) continue;
    const worst = fs.reduce((a, b) => ((b.value as number) > (a.value as number) ? b : a));
    const step = figs.find((f) => f.name === `step.${tag}`);
    out.push({
      target: `(other student) no backward conv kernel > 2× its forward conv: ${step?.student ?? tag}`,
      verdict: (worst.value as number) <= 2 ? 'PASS' : 'FAIL',
      detail: fs.map((f) => `${f.name.split('.').pop()} ${fmt(f.value)}×`).join(', ')
        + `${typeof worst.worst_shape_ratio_fwd_over_1ms === 'number' ? ` (worst among shapes whose forward takes ≥ 1 ms ${fmt(worst.worst_shape_ratio_fwd_over_1ms)}× at ${worst.worst_shape_fwd_over_1ms})` : ''}`
        + `${step && typeof step.ratio_vs_torch === 'number' ? `; its KD step ${fmt(step.ratio_vs_torch)}× PyTorch (${fmt(step.cpu_ratio_vs_torch)}× CPU time)` : ''}`,
    });
  }
  // issue 14: the KD step ratio at every size that matters
  for (const st of figs.filter((f) => /^step\.[^.]+$/.test(f.name))) {
    const tag = st.name.slice(5);
    const limit = STEP_TARGETS.find(([re]) => re.test(tag))?.[1];
    if (limit === undefined) continue;
    const what = `KD step ${tag} (${st.student ?? ''}) ≤ ${limit}× PyTorch (issue 14)`;
    if (typeof st.ratio_vs_torch !== 'number') {
      out.push({ target: what, verdict: 'NOT MEASURED', detail: st.value === null ? String(st.note ?? 'no tfjs figure') : 'no PyTorch figure' });
      continue;
    }
    out.push({
      target: what,
      verdict: st.ratio_vs_torch <= limit ? 'PASS' : 'FAIL',
      detail: `${fmt(st.value)} ms vs ${fmt(st.torch_ms)} ms: ${fmt(st.ratio_vs_torch)}× wall time`
        + `${typeof st.cpu_ratio_vs_torch === 'number' ? `, ${fmt(st.cpu_ratio_vs_torch)}× CPU time` : ''} (judged on the median wall-time ratio)`,
    });
  }
  // issue 14: every loss's forward + backward within 2× of its PyTorch twin, at every shape it was timed at
  const losses = figs.filter((f) => /^loss\.[^.]+\.[^.]+\.fwd_bwd$/.test(f.name));
  if (losses.length) {
    const timed = losses.filter((f) => typeof f.ratio_vs_torch === 'number');
    const untimed = losses.filter((f) => typeof f.ratio_vs_torch !== 'number').map((f) => f.name.split('.').slice(1, 3).join('@'));
    const worst = timed.length ? timed.reduce((a, b) => ((b.ratio_vs_torch as number) > (a.ratio_vs_torch as number) ? b : a)) : null;
    const over = timed.filter((f) => (f.ratio_vs_torch as number) > 2).map((f) => `${f.name.split('.').slice(1, 3).join('@')} ${fmt(f.ratio_vs_torch)}×`);
    out.push({
      target: 'every loss fwd+bwd ≤ 2× PyTorch, at every shape (issue 14)',
      verdict: !worst || untimed.length ? 'NOT MEASURED' : over.length ? 'FAIL' : 'PASS',
      detail: `${timed.length} loss × shape figures against their PyTorch twins (median wall time)`
        + (worst ? `; worst ${worst.name.split('.').slice(1, 3).join('@')} ${fmt(worst.ratio_vs_torch)}× (${fmt(worst.value)} ms vs ${fmt(worst.torch_ms)} ms)` : '')
        + (over.length ? `; over 2×: ${over.join(', ')}` : '') + (untimed.length ? `; no PyTorch figure: ${untimed.join(', ')}` : ''),
    });
  }
  // issue 14: every backward conv kernel of each step against its forward, per shape (micro-benchmarked)
  const tags = new Set(figs.filter((f) => f.name.startsWith('convshape.')).map((f) => f.name.split('.')[1]));
  for (const tag of tags) {
    const rows = figs.filter((f) => f.name.startsWith(`convshape.${tag}.`) && typeof f.value === 'number');
    const ratios: { r: number; k: string; shape: string; fwd: number }[] = [];
    for (const f of rows) {
      for (const [k, key] of [['input', 'input_ratio'], ['filter', 'filter_ratio']] as const) {
        if (typeof f[key] === 'number') ratios.push({ r: f[key] as number, k, shape: f.name.slice(`convshape.${tag}.`.length), fwd: f.value as number });
      }
    }
    if (!ratios.length) continue;
    const worst = ratios.reduce((a, b) => (b.r > a.r ? b : a));
    const big = ratios.filter((x) => x.fwd >= CONV_MIN_MS);
    const worstBig = big.length ? big.reduce((a, b) => (b.r > a.r ? b : a)) : null;
    const step = figs.find((f) => f.name === `step.${tag}`);
    out.push({
      target: `no backward conv kernel > 2× its forward, per shape: ${tag} (${step?.student ?? ''}; issue 14)`,
      verdict: worstBig === null ? 'NOT MEASURED' : worstBig.r <= 2 ? 'PASS' : 'FAIL',
      detail: `${ratios.length} backward kernels at ${rows.length} shapes, each timed alone (${rows[0].stat ?? 'median'} of ${rows[0].reps ?? '?'}); judged on shapes whose forward takes ≥ ${CONV_MIN_MS} ms`
        + ` (${big.length} kernels): worst ${worstBig ? `${fmt(worstBig.r)}× (backward-${worstBig.k} at ${worstBig.shape})` : '—'}; worst over all shapes ${fmt(worst.r)}× (backward-${worst.k} at ${worst.shape}, forward ${fmt(worst.fwd)} ms)`,
    });
  }
  const growth = figs.find((f) => f.name.startsWith('memory.') && f.name.endsWith('.tensor_growth'));
  if (!growth || growth.value === null) {
    out.push({ target: 'no tensor growth', verdict: 'NOT MEASURED', detail: growth?.note ? String(growth.note) : 'memory section not run' });
  } else {
    out.push({
      target: 'no tensor growth',
      verdict: growth.value === 0 && growth.max_growth === 0 ? 'PASS' : 'FAIL',
      detail: `numTensors ${growth.num_tensors_step2} after step 2 → ${growth.num_tensors_last} after step ${growth.steps} (growth ${growth.value}, max ${growth.max_growth})`,
    });
  }
  const pipe = figs.find((f) => f.name === 'pipeline.images_per_s');
  const ips = figs.find((f) => f.name === `step.${mainTag}.images_per_s`);
  if (!pipe || pipe.value === null || !ips || ips.value === null) {
    out.push({
      target: 'input pipeline ≥ 5× what the step consumes', verdict: 'NOT MEASURED',
      detail: !pipe || pipe.value === null ? `pipeline: ${pipe?.note ?? 'not run'}` : `step: ${ips?.note ?? 'not run'}`,
    });
  } else {
    const r = (pipe.value as number) / (ips.value as number);
    out.push({
      target: 'input pipeline ≥ 5× what the step consumes',
      verdict: r >= 5 ? 'PASS' : 'FAIL',
      detail: `pipeline ${fmt(pipe.value)} images/s vs step ${fmt(ips.value)} images/s: ${fmt(r)}× (target ≥ 5×)`,
    });
  }
  return out;
}

function shapeStr(s: unknown): string {
  if (Array.isArray(s)) return s.join('×');
  if (s && typeof s === 'object') return Object.values(s as Record<string, number[]>).map((v) => v.join('×')).join(', ');
  return '';
}

interface Row {
  what: string;
  shape: string;
  tfjs: string;
  torch: string;
  ratio: string;
  /** Ratio of process CPU time per call (less sensitive to other processes on a shared machine). */
  cpuRatio: string;
}

const ratioCell = (x: unknown): string => (typeof x === 'number' && Number.isFinite(x) ? `${fmt(x)}×` : '—');

/** Rows of the results table (step, teacher forward, losses, pipeline, memory). */
export function tableRows(figs: Figure[]): Row[] {
  const rows: Row[] = [];
  for (const f of figs) {
    const n = f.name;
    if (/^step\.[^.]+$/.test(n)) {
      const ips = figs.find((g) => g.name === `${n}.images_per_s`);
      rows.push({
        what: `KD training step ${n.slice(5)} (${f.student} ← ${f.teacher}; ${f.setup ?? "CWD"})`,
        shape: shapeStr(f.shape),
        tfjs: f.value === null ? `n/a: ${f.note}` : `${fmt(f.value)} ms (${fmt(ips?.value)} img/s)`,
        torch: typeof f.torch_ms === 'number' ? `${fmt(f.torch_ms)} ms (${fmt(ips?.torch_value)} img/s${f.torch_format ? `, ${f.torch_format}` : ''})` : '—',
        ratio: ratioCell(f.ratio_vs_torch),
        cpuRatio: ratioCell(f.cpu_ratio_vs_torch),
      });
    } else if (n.startsWith('teacher_forward.')) {
      const tag = n.slice('teacher_forward.'.length);
      const t = figs.filter((g) => g.name.startsWith(`torch.teacher_forward.${tag}.`) && typeof g.value === 'number');
      const bestFig = t.length ? t.reduce((a, b) => ((b.value as number) < (a.value as number) ? b : a)) : null;
      const best = bestFig ? (bestFig.value as number) : null;
      const cpu = bestFig && typeof f.cpu_ms === 'number' && typeof bestFig.cpu_ms === 'number' ? f.cpu_ms / bestFig.cpu_ms : null;
      rows.push({
        what: `teacher forward (inference) ${tag}`, shape: shapeStr(f.shape), tfjs: `${fmt(f.value)} ms`,
        torch: best !== null ? `${fmt(best)} ms` : '—', ratio: best ? `${fmt((f.value as number) / best)}×` : '—', cpuRatio: ratioCell(cpu),
      });
    } else if (/^loss\..*\.fwd_bwd$/.test(n)) {
      const bw = figs.find((g) => g.name === n.replace('.fwd_bwd', '.bandwidth'));
      rows.push({
        what: `loss ${n.split('.').slice(1, -1).join(' @ ')} fwd+bwd`,
        shape: shapeStr(f.shape),
        tfjs: f.value === null ? `n/a: ${f.note}` : `${fmt(f.value)} ms (${fmt(bw?.value)} GB/s)`,
        torch: typeof f.torch_ms === 'number' ? `${fmt(f.torch_ms)} ms` : '—',
        ratio: ratioCell(f.ratio_vs_torch),
        cpuRatio: ratioCell(f.cpu_ratio_vs_torch),
      });
    } else if (n === 'pipeline.images_per_s') {
      const frame = Array.isArray(f.frame) ? ` of ${(f.frame as number[]).join('×')} frames` : '';
      rows.push({ what: `input pipeline (decode + augment${frame})`, shape: shapeStr(f.shape), tfjs: f.value === null ? `n/a: ${f.note}` : `${fmt(f.value)} img/s`, torch: '—', ratio: '—', cpuRatio: '—' });
    } else if (n === 'pipeline.decode_ms_per_frame' || n === 'pipeline.augment_ms_per_frame') {
      rows.push({
        what: n === 'pipeline.decode_ms_per_frame' ? '  of which: PNG decode, per frame (sequential)' : '  of which: augment + normalise, per frame',
        shape: shapeStr(f.shape), tfjs: `${fmt(f.value)} ms`, torch: '—', ratio: '—', cpuRatio: '—',
      });
    } else if (n.endsWith('.tensor_growth')) {
      rows.push({ what: `tensor growth over ${f.steps ?? '?'} steps`, shape: shapeStr(f.shape), tfjs: f.value === null ? `n/a: ${f.note}` : `${f.value} tensors`, torch: '—', ratio: '—', cpuRatio: '—' });
    } else if (n.startsWith('memory.step.')) {
      rows.push({
        what: `peak RSS, KD step ${n.slice('memory.step.'.length)} (tfjs: bench process so far, and the step's peak of live tensors; PyTorch: its worker, this step only)`, shape: shapeStr(f.shape),
        tfjs: `${fmt(f.value)} MB${typeof f.wasm_heap_mb === 'number' ? ` (wasm heap ${fmt(f.wasm_heap_mb)} MB)` : ''}`
          + `${typeof f.tensor_peak_mb === 'number' ? `; tensors ≤ ${fmt(f.tensor_peak_mb)} MB during the step` : ''}`,
        torch: typeof f.torch_value === 'number' ? `${fmt(f.torch_value)} MB` : '—', ratio: ratioCell(f.ratio_vs_torch), cpuRatio: '—',
      });
    } else if (n.endsWith('.peak_rss')) {
      rows.push({
        what: 'peak RSS of the bench process (all sections); RSS over the memory run', shape: shapeStr(f.shape),
        tfjs: `${fmt(f.value)} MB; ${fmt(f.rss_step1_mb)} → ${fmt(f.rss_last_mb)} MB`, torch: '—', ratio: '—', cpuRatio: '—',
      });
    }
  }
  return rows;
}

export interface RunMeta {
  command: string;
  machine: { nproc: number; cpu: string; node: string; tfjs: string; date: string };
  backend: string;
  threads: number;
  torch: string | null;
  note?: string;
  /** How the backend started (wasm threads, native kernels), as lib/backend reports it. */
  backendReport?: unknown;
  loadavg?: { start: string | null; end?: string | null };
}

/** Per conv shape of each profiled step: forward vs backward-input vs backward-filter, GFLOP/s and share of the CPU's peak. */
export function convTables(figs: Figure[]): string[] {
  const lines: string[] = [];
  const peak = figs.find((f) => f.name === 'cpu.peak_gflops');
  const convTags = [...new Set(figs.filter((f) => f.name.startsWith('convshape.')).map((f) => f.name.split('.')[1]))];
  for (const tag of convTags) {
    const rows = figs.filter((f) => f.name.startsWith(`convshape.${tag}.`) && typeof f.value === 'number')
      .map((f) => ({ f, total: (f.value as number) * ((f.forward_calls as number) || 1) + (typeof f.input_ms === 'number' ? f.input_ms : 0) + (typeof f.filter_ms === 'number' ? f.filter_ms : 0) }))
      .sort((a, b) => b.total - a.total);
    const shown = rows.slice(0, CONV_ROWS);
    lines.push('', `Conv kernels of the ${tag} step, each shape timed alone (${rows[0]?.f.stat ?? 'median'} of ${rows[0]?.f.reps ?? '?'} runs; ${shown.length} of ${rows.length} shapes, largest time first;`
      + ` "—" = that gradient does not run in the step, e.g. at the frozen teacher's convs).`
      + `${peak ? ` % peak: of this CPU's fp32 peak, ${peak.how}.` : ''}`, '');
    lines.push('| shape (x, filter, stride, dilation, pad) | calls | forward ms (GFLOP/s, % peak) | backward-input ms (× forward) | backward-filter ms (× forward) |', '|---|---|---|---|---|');
    const pct = (x: unknown) => (typeof x === 'number' ? `, ${(x * 100).toFixed(0)}%` : '');
    for (const { f } of shown) {
      const cell = (ms: unknown, r: unknown) => (typeof ms === 'number' ? `${fmt(ms)} (${fmt(r)}×)` : '—');
      lines.push(`| ${f.name.slice(`convshape.${tag}.`.length)} | ${f.forward_calls} | ${fmt(f.value)} (${fmt(f.forward_gflops)}${pct(f.forward_peak_fraction)}) | ${cell(f.input_ms, f.input_ratio)} | ${cell(f.filter_ms, f.filter_ratio)} |`);
    }
    // the main convolutions: GFLOP/s over the step's conv time
    const tot = rows.reduce((a, { f }) => {
      const calls = (f.forward_calls as number) || 1;
      a.flops += (f.flops as number) * calls + (typeof f.input_ms === 'number' ? (f.flops as number) : 0) + (typeof f.filter_ms === 'number' ? (f.flops as number) : 0);
      a.ms += (f.value as number) * calls + (typeof f.input_ms === 'number' ? f.input_ms : 0) + (typeof f.filter_ms === 'number' ? f.filter_ms : 0);
      return a;
    }, { flops: 0, ms: 0 });
    if (tot.ms > 0) {
      const g = tot.flops / tot.ms / 1e6;
      lines.push('', `All conv kernels of the ${tag} step together: ${fmt(tot.ms)} ms for ${fmt(tot.flops / 1e9)} GFLOP, ${fmt(g)} GFLOP/s`
        + `${peak ? ` = ${((g / (peak.value as number)) * 100).toFixed(0)}% of the ${fmt(peak.value)} GFLOP/s peak` : ''}.`);
    }
  }
  return lines;
}

/** Markdown: the header, the results table, the profile top 15 and the target checks. */
export function markdown(figs: Figure[], meta: RunMeta, mainTag: string): string {
  const lines: string[] = [];
  lines.push(`Measured ${meta.machine.date.slice(0, 16).replace('T', ' ')} UTC with \`${meta.command}\` on ${meta.machine.nproc} × ${meta.machine.cpu} `
    + `(Node ${meta.machine.node}, TensorFlow.js ${meta.machine.tfjs} backend **${meta.backend}**, ${meta.threads} thread(s); `
    + `${meta.torch ? `PyTorch ${meta.torch} CPU with the same thread count` : 'PyTorch not available'}).`);
  const br = meta.backendReport as { threads?: number; threaded?: boolean; nativeThreads?: number; note?: string } | undefined;
  if (br && meta.backend === 'wasm') {
    lines.push('', `Backend: tfjs \`wasm\` ${br.threaded ? `multi-threaded (${br.threads} threads)` : `single-threaded${br.nativeThreads ? ' (its own pool: with the native kernels it runs only the small leftover ops, see lib/backend/wasm.ts wasmPoolThreads)' : ''}`}`
      + `${br.nativeThreads ? `, with the project's native kernels registered on it (lib/backend/native: N-API addon, OpenMP, ${br.nativeThreads} threads for convs and matmul, and above 2^20 elements for element-wise, batch-norm and optimiser kernels; \`CWD_NATIVE=0\` turns them off)` : ', wasm kernels only (no native kernels)'}`
      + `${br.note ? `; note: ${br.note}` : ''}.`);
  }
  if (meta.loadavg?.start) {
    lines.push('', `Load average (1, 5, 15 min) at the start: ${meta.loadavg.start}${meta.loadavg.end ? `; at the end: ${meta.loadavg.end}` : ''}`
      + ` (${meta.machine.nproc} cores: above ${meta.machine.nproc} other processes competed for the CPU).`);
  }
  if (meta.note) lines.push('', meta.note);
  lines.push('', 'Medians of repeated runs, PyTorch and tfjs interleaved; tfjs/PyTorch is the wall-time ratio (1 = parity, 2 = tfjs twice as slow);'
    + ' the CPU column is the ratio of process CPU time per call (all threads), less sensitive to other load on a shared machine.', '');
  lines.push('| what | shape | tfjs | PyTorch | tfjs/PyTorch | CPU-time ratio |', '|---|---|---|---|---|---|');
  for (const r of tableRows(figs)) lines.push(`| ${r.what} | ${r.shape} | ${r.tfjs} | ${r.torch} | ${r.ratio} | ${r.cpuRatio} |`);
  const prof = byPrefix(figs, `profile.${mainTag}.kernel.`);
  if (prof.length) {
    const total = figs.find((f) => f.name === `profile.${mainTag}.kernel_total`);
    lines.push('', `Where the step's time goes (${mainTag}, \`tf.profile\`, top ${prof.length} kernels of ${fmt(total?.value)} ms):`, '');
    lines.push('| kernel | ms | calls | share |', '|---|---|---|---|');
    for (const f of prof) {
      const label = f.name.slice(`profile.${mainTag}.kernel.`.length) + (f.inside ? ` (mostly ${f.inside})` : '');
      lines.push(`| ${label} | ${fmt(f.value)} | ${f.calls} | ${((f.share as number) * 100).toFixed(1)}% |`);
    }
  }
  const tprof = byPrefix(figs, `torch.profile.${mainTag}.op.`);
  if (tprof.length) {
    const total = figs.find((f) => f.name === `torch.profile.${mainTag}.op_total`);
    lines.push('', `PyTorch's step for comparison (${mainTag}, ${total?.format ?? ''}, \`torch.autograd.profiler\`, self CPU time, top ${tprof.length} ops of ${fmt(total?.value)} ms):`, '');
    lines.push('| op | ms | calls | share |', '|---|---|---|---|');
    for (const f of tprof) lines.push(`| ${f.name.slice(`torch.profile.${mainTag}.op.`.length)} | ${fmt(f.value)} | ${f.calls} | ${((f.share as number) * 100).toFixed(1)}% |`);
  }
  lines.push(...convTables(figs));
  const checks = checkTargets(figs, mainTag);
  lines.push('', '| target (issues 6 and 14) | result | measured |', '|---|---|---|');
  for (const c of checks) lines.push(`| ${c.target} | **${c.verdict}** | ${c.detail} |`);
  return lines.join('\n');
}

/** Plain-text summary for the terminal. */
export function summary(figs: Figure[], mainTag: string, notes: string[]): string {
  const rows = tableRows(figs);
  const w = [0, 0, 0, 0, 0, 0];
  const cells = rows.map((r) => [r.what, r.shape, r.tfjs, r.torch, r.ratio, r.cpuRatio]);
  const head = ['what', 'shape', 'tfjs', 'PyTorch', 'tfjs/PyTorch', 'CPU ratio'];
  for (const c of [head, ...cells]) c.forEach((s, i) => (w[i] = Math.min(Math.max(w[i], s.length), 70)));
  const line = (c: string[]) => c.map((s, i) => (s.length > 70 ? s.slice(0, 69) + '…' : s).padEnd(w[i])).join('  ');
  const out = [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...cells.map(line)];
  const conv = convTables(figs);
  if (conv.length) out.push(...conv);
  out.push('', 'Targets (issues 6 and 14):');
  for (const c of checkTargets(figs, mainTag)) out.push(`  ${c.verdict.padEnd(12)} ${c.target}: ${c.detail}`);
  if (notes.length) {
    out.push('', 'Notes:');
    for (const n of notes) out.push(`  - ${n}`);
  }
  return out.join('\n');
}
