/**
 * The PyTorch side of the benchmark: a worker process (`bench/torch/bench_torch.py`) run with an
 * interpreter that imports torch, driven one JSON command per line so that PyTorch and tfjs
 * measurements can be interleaved (on a shared machine both then see the same load).
 * Debian's `/usr/bin/python3` has `python3-torch`; the `python3` first on PATH may be a pyenv one
 * without it. `CWD_TORCH_PYTHON` overrides the interpreter.
 */
import { ChildProcessWithoutNullStreams, spawn, spawnSync } from 'child_process';
import * as path from 'path';
import * as readline from 'readline';

export interface TorchInfo {
  python: string;
  torch: string;
  mkldnn: boolean;
}

/** A timing answered by the worker (ms). */
export interface TorchTiming {
  median: number;
  min: number;
  max: number;
  all: number[];
  /** Median process CPU time per call (all threads), ms. */
  cpu_median: number;
}

const SCRIPT = path.join(__dirname, 'torch', 'bench_torch.py');
let cached: { info: TorchInfo | null; why: string } | null = null;

/** The first interpreter that imports torch, or null with the reason ("torch not available: …"). */
export function findTorch(): { info: TorchInfo | null; why: string } {
  if (cached) return cached;
  const candidates = [process.env.CWD_TORCH_PYTHON, '/usr/bin/python3', 'python3'].filter(Boolean) as string[];
  const tried: string[] = [];
  for (const python of candidates) {
    const r = spawnSync(python, ['-c', 'import torch,json;print(json.dumps({"torch":torch.__version__,"mkldnn":torch.backends.mkldnn.is_available()}))'], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    if (r.status === 0) {
      const j = JSON.parse(r.stdout.trim().split('\n').pop() as string);
      cached = { info: { python, torch: j.torch, mkldnn: j.mkldnn }, why: '' };
      return cached;
    }
    tried.push(`${python}: ${(r.error?.message ?? r.stderr.trim().split('\n').pop() ?? `exit ${r.status}`).slice(0, 120)}`);
  }
  cached = { info: null, why: `torch not available (tried ${tried.join('; ')}); install Debian's python3-torch or set CWD_TORCH_PYTHON` };
  return cached;
}

/**
 * A running bench_torch.py worker.
 * @example
 *   const w = await TorchWorker.start(2);
 *   const t = await w.call<TorchTiming>({cmd: 'loss', method: 'cwd', shape: [8, 64, 64, 19], reps: 5, warmup: 1});
 *   w.close();
 */
export class TorchWorker {
  private pending: { resolve: (v: unknown) => void; reject: (e: Error) => void; cmd: string }[] = [];
  private stderrTail: string[] = [];
  private exited: string | null = null;

  private constructor(private readonly proc: ChildProcessWithoutNullStreams) {
    readline.createInterface({ input: proc.stdout }).on('line', (line) => {
      const p = this.pending.shift();
      if (!p) return;
      let j: Record<string, unknown>;
      try {
        j = JSON.parse(line);
      } catch {
        p.reject(new Error(`bench_torch.py answered a non-JSON line to '${p.cmd}': ${line.slice(0, 200)}`));
        return;
      }
      if (typeof j.error === 'string') p.reject(new Error(`PyTorch '${p.cmd}': ${j.error}`));
      else p.resolve(j);
    });
    readline.createInterface({ input: proc.stderr }).on('line', (line) => {
      if (line.startsWith('[torch]')) process.stderr.write(line + '\n');
      this.stderrTail.push(line);
      if (this.stderrTail.length > 12) this.stderrTail.shift();
    });
    proc.on('exit', (code, signal) => {
      this.exited = `exited (${signal ?? code})`;
      const err = new Error(`bench_torch.py ${this.exited}:\n${this.stderrTail.join('\n')}`);
      for (const p of this.pending.splice(0)) p.reject(err);
    });
  }

  /** Start a worker with `threads` intra-op threads; rejects with "torch not available" when there is no torch. */
  static async start(threads: number): Promise<TorchWorker> {
    const found = findTorch();
    if (!found.info) throw new Error(found.why);
    const proc = spawn(found.info.python, [SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
    const w = new TorchWorker(proc);
    const init = await w.call<{ threads: number }>({ cmd: 'init', threads });
    if (init.threads !== threads) throw new Error(`PyTorch runs ${init.threads} threads, ${threads} were asked`);
    return w;
  }

  call<T = Record<string, unknown>>(command: Record<string, unknown>): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`bench_torch.py ${this.exited}`));
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ resolve: resolve as (v: unknown) => void, reject, cmd: String(command.cmd) });
      this.proc.stdin.write(JSON.stringify(command) + '\n');
    });
  }

  close(): void {
    if (this.exited) return;
    this.proc.stdin.write(JSON.stringify({ cmd: 'exit' }) + '\n');
    this.proc.stdin.end();
  }
}
