/**
 * Progress of a training run: a one-line bar on a TTY (step, loss terms, img/s, ETA), plain log
 * lines otherwise (every `logEvery` steps and at the end).
 */
import type { StepRecord } from '../train/trainer';

export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

export class Progress {
  private readonly tty: boolean;
  private readonly t0 = Date.now();
  private startStep = -1;
  private ema = 0;
  constructor(
    readonly label: string,
    readonly total: number,
    readonly o: { logEvery?: number; stream?: NodeJS.WriteStream; tty?: boolean } = {},
  ) {
    const stream = o.stream ?? process.stderr;
    this.tty = o.tty ?? (Boolean(stream.isTTY) && !process.env.CI);
  }

  private get stream(): NodeJS.WriteStream {
    return this.o.stream ?? process.stderr;
  }

  line(r: StepRecord): string {
    if (this.startStep < 0) this.startStep = r.step - 1;
    this.ema = this.ema === 0 ? r.seconds : 0.9 * this.ema + 0.1 * r.seconds;
    const eta = (this.total - r.step) * this.ema;
    const terms = Object.entries(r.terms).filter(([k]) => !k.includes('.')).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(' ');
    return `${this.label} step ${r.step}/${this.total} loss ${r.loss.toFixed(4)} ce ${r.ce.toFixed(4)}${terms ? ' ' + terms : ''} lr ${r.lr.toExponential(2)} ${r.imgPerSec.toFixed(2)} img/s ETA ${formatDuration(eta)}`;
  }

  update(r: StepRecord): void {
    const text = this.line(r);
    if (this.tty) {
      const width = 20;
      const filled = Math.round((r.step / this.total) * width);
      const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
      const cols = this.stream.columns ?? 120;
      this.stream.write(`\r\x1b[K${(bar + ' ' + text).slice(0, cols - 1)}`);
      if (r.step >= this.total) this.stream.write('\n');
    } else if (r.step % (this.o.logEvery ?? 10) === 0 || r.step >= this.total || r.step === this.startStep + 1) {
      this.stream.write(`${new Date().toISOString().slice(11, 19)} ${text}\n`);
    }
  }

  done(message: string): void {
    if (this.tty) this.stream.write('\r\x1b[K');
    this.stream.write(`${message} (${formatDuration((Date.now() - this.t0) / 1000)})\n`);
  }
}
