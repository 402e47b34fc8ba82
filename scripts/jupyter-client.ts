/**
 * A Node client of the Jupyter messaging protocol (v5.3), enough to execute a notebook headless
 * without Python: the default engine of scripts/run-notebooks.ts (`npm run notebooks`, `npm test`).
 *
 * - The kernel is started from a kernelspec folder (kernel.json `argv`, `env`), as jupyter_client
 *   does: a connection file with five free TCP ports on 127.0.0.1 and a random HMAC key is written
 *   (mode 0600, removed afterwards), `{connection_file}` and `{resource_dir}` are substituted, and the
 *   kernel runs in its own process group. An `argv[0]` of `node` is this Node (process.execPath).
 * - Messages are HMAC-SHA256 signed multipart ZeroMQ messages (the `zeromq` package, which tslab
 *   itself uses): shell and control are DEALER sockets, iopub a SUBSCRIBER; replies and iopub
 *   messages are matched to requests by `parent_header.msg_id`; a message with a bad signature is
 *   dropped and counted. Start-up waits for a kernel_info_reply and for iopub to deliver (ZeroMQ
 *   drops what a publisher sends before the subscription is connected).
 * - A cell is done when its execute_reply has arrived and iopub has reported `idle` for it (as
 *   nbclient). Outputs become nbformat outputs the way nbclient makes them: stream, display_data,
 *   execute_result and error with every MIME bundle kept (image/svg+xml, image/png,
 *   application/vnd.vegalite.v5+json, ...), clear_output, update_display_data by display_id,
 *   `metadata.execution` timings, `metadata.language_info` from the kernel. Two differences from
 *   `jupyter nbconvert --to notebook`: consecutive writes to one stream become one output (nbconvert's
 *   coalesce_streams; JupyterLab saves them merged too, while `nbconvert --to notebook` stores one
 *   output per write: 147 in the quick run of notebook 03), and execution_count comes from the
 *   execute_reply (tslab sends no execute_input, so nbconvert leaves it null).
 * - A time limit interrupts the kernel (SIGINT, or an interrupt_request when the kernelspec says
 *   `interrupt_mode: message`), then shuts it down. Shutdown is a shutdown_request on the control
 *   channel, then SIGTERM and SIGKILL to the kernel's process group if it has not exited.
 *
 * runNotebook() executes the code cells of a notebook in order and stops at the first failure:
 * an error reply, a time limit, a dead kernel, or an unhandled promise rejection / uncaught
 * exception that the project kernel (jupyter/kernels/channel-distill/start.cjs) recorded in the
 * file named by CWD_NB_REJECTIONS. The project kernel reports a failing cell's ename / evalue /
 * traceback (plain tslab sent an empty error and wrote the message to stderr; realErrorText() still
 * finds it there for other kernels).
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { spawn, ChildProcess } from 'child_process';

// zeromq 6 (a dependency of tslab and of this project); loaded lazily so that requiring this module
// never fails on a machine where the native addon is missing: starting a kernel then says why.
type Zmq = typeof import('zeromq');
let zmqModule: Zmq | null = null;
function zmq(): Zmq {
  if (!zmqModule) {
    try {
      zmqModule = require('zeromq') as Zmq;
    } catch (e) {
      throw new Error(`the 'zeromq' package (native addon) could not be loaded: ${(e as Error).message}\n` +
        `run 'npm ci' (zeromq 6 ships prebuilt binaries for linux/macOS/windows x64 and arm64; elsewhere its install script builds it with cmake)`);
    }
  }
  return zmqModule;
}

export const PROTOCOL_VERSION = '5.3';
const FATAL_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const DELIM = '<IDS|MSG>';

export interface KernelSpec {
  argv: string[];
  display_name?: string;
  language?: string;
  env?: Record<string, string>;
  interrupt_mode?: 'signal' | 'message';
  metadata?: Record<string, unknown>;
}

export interface Header {
  msg_id: string;
  session: string;
  username: string;
  date: string;
  msg_type: string;
  version: string;
}

export interface Message {
  header: Header;
  parent_header: Partial<Header>;
  metadata: Record<string, unknown>;
  content: any;
  buffers: Buffer[];
}

export type Output =
  | { output_type: 'stream'; name: string; text: string }
  | { output_type: 'display_data'; data: Record<string, unknown>; metadata: Record<string, unknown> }
  | { output_type: 'execute_result'; data: Record<string, unknown>; metadata: Record<string, unknown>; execution_count: number | null }
  | { output_type: 'error'; ename: string; evalue: string; traceback: string[] };

export interface ConnectionInfo {
  transport: 'tcp';
  ip: string;
  shell_port: number;
  iopub_port: number;
  stdin_port: number;
  control_port: number;
  hb_port: number;
  key: string;
  signature_scheme: 'hmac-sha256';
  kernel_name: string;
}

/** Read `<dir>/kernel.json`, with errors that name the file. */
export function readKernelSpec(dir: string): KernelSpec {
  const file = path.join(dir, 'kernel.json');
  if (!fs.existsSync(file)) throw new Error(`kernelspec ${file} does not exist (run 'npm run kernel')`);
  let spec: KernelSpec;
  try {
    spec = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`kernelspec ${file}: not valid JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(spec.argv) || spec.argv.length === 0 || !spec.argv.every((a) => typeof a === 'string')) {
    throw new Error(`kernelspec ${file}: 'argv' must be a non-empty list of strings`);
  }
  return spec;
}

/** HMAC-SHA256 (hex) of the four message parts, as the protocol signs them. */
export function sign(key: string, parts: (string | Buffer)[]): string {
  if (!key) return '';
  const h = crypto.createHmac('sha256', key);
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

/** Wire frames of a message (without routing identities). */
export function serialize(key: string, msg: Omit<Message, 'buffers'> & { buffers?: Buffer[] }): Buffer[] {
  const parts = [msg.header, msg.parent_header, msg.metadata, msg.content].map((p) => Buffer.from(JSON.stringify(p)));
  return [Buffer.from(DELIM), Buffer.from(sign(key, parts)), ...parts, ...(msg.buffers ?? [])];
}

/** Parse wire frames; throws on a missing delimiter or a bad signature. */
export function deserialize(key: string, frames: Buffer[]): Message {
  const i = frames.findIndex((f) => f.length === DELIM.length && f.toString() === DELIM);
  if (i < 0 || frames.length < i + 6) throw new Error('malformed message: no <IDS|MSG> delimiter or too few frames');
  const parts = frames.slice(i + 2, i + 6);
  if (key) {
    const want = Buffer.from(sign(key, parts));
    const got = frames[i + 1];
    if (got.length !== want.length || !crypto.timingSafeEqual(got, want)) throw new Error('message with an invalid HMAC signature');
  }
  const [header, parent_header, metadata, content] = parts.map((p) => JSON.parse(p.toString('utf8')));
  return { header, parent_header, metadata, content, buffers: frames.slice(i + 6) };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface StartOptions {
  /** Kernelspec folder (holds kernel.json). */
  kernelDir: string;
  kernelName?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Seconds to wait for the kernel to answer (default 120). */
  startupTimeout?: number;
  /** The kernel process's own stdout/stderr (outside cell execution), line by line. */
  onKernelOutput?: (line: string) => void;
}

export type ExecuteStatus = 'ok' | 'error' | 'abort' | 'timeout' | 'dead';

export interface ExecuteOutcome {
  status: ExecuteStatus;
  /** execute_reply content, when one came. */
  reply?: any;
  outputs: Output[];
  executionCount: number | null;
  /** nbclient's `metadata.execution` timings (ISO dates from the kernel's messages). */
  timing: Record<string, string>;
  seconds: number;
  /** For 'dead': how the kernel exited, and the tail of its own stderr. */
  detail?: string;
}

export interface ExecuteOptions {
  /** Time limit in milliseconds; on expiry the kernel is interrupted and the status is 'timeout'. */
  timeoutMs?: number;
  /** Called for every iopub message of this execution. */
  onMessage?: (msg: Message) => void;
}

function isJsonMime(mime: string): boolean {
  return mime === 'application/json' || (mime.startsWith('application/') && mime.endsWith('+json'));
}

export class KernelClient {
  readonly session = crypto.randomUUID();
  kernelInfo: any = null;
  /** Messages dropped for a bad signature or bad framing. */
  badMessages = 0;
  private child!: ChildProcess;
  private exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private exitWaiters: (() => void)[] = [];
  private stderrTail = '';
  private shell!: import('zeromq').Dealer;
  private control!: import('zeromq').Dealer;
  private iopub!: import('zeromq').Subscriber;
  private replyWaiters = new Map<string, (m: Message) => void>();
  private iopubListeners = new Map<string, (m: Message) => void>();
  private connectionFile = '';
  private closed = false;
  private readonly exitHook = () => this.killGroup('SIGKILL');
  /** The kernel has its own process group, so Ctrl-C does not reach it: end it, then die of the signal. */
  private readonly signalHook = (signal: NodeJS.Signals) => {
    this.killGroup('SIGKILL');
    for (const s of FATAL_SIGNALS) process.removeListener(s, this.signalHook);
    process.kill(process.pid, signal);
  };

  private constructor(readonly spec: KernelSpec, readonly conn: ConnectionInfo) {}

  /** Start a kernel from its kernelspec and wait until it answers on shell and iopub. */
  static async start(opts: StartOptions): Promise<KernelClient> {
    const z = zmq();
    const spec = readKernelSpec(opts.kernelDir);
    const ports = await Promise.all([0, 1, 2, 3, 4].map(() => freePort()));
    const conn: ConnectionInfo = {
      transport: 'tcp', ip: '127.0.0.1',
      shell_port: ports[0], iopub_port: ports[1], stdin_port: ports[2], control_port: ports[3], hb_port: ports[4],
      key: crypto.randomBytes(32).toString('hex'), signature_scheme: 'hmac-sha256',
      kernel_name: opts.kernelName ?? path.basename(opts.kernelDir),
    };
    const kc = new KernelClient(spec, conn);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cwd-kernel-'));
    kc.connectionFile = path.join(dir, `kernel-${kc.session}.json`);
    fs.writeFileSync(kc.connectionFile, JSON.stringify(conn, null, 1), { mode: 0o600 });

    const argv = spec.argv.map((a) => a.split('{connection_file}').join(kc.connectionFile).split('{resource_dir}').join(opts.kernelDir));
    if (argv[0] === 'node') argv[0] = process.execPath;
    kc.child = spawn(argv[0], argv.slice(1), {
      cwd: opts.cwd ?? process.cwd(),
      env: { ...(opts.env ?? process.env), ...(spec.env ?? {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, as jupyter_client does; killed as a group
    });
    process.on('exit', kc.exitHook);
    for (const s of FATAL_SIGNALS) process.on(s, kc.signalHook);
    let spawnError: Error | null = null;
    kc.child.on('error', (e) => { spawnError = e; });
    kc.child.on('exit', (code, signal) => {
      kc.exited = { code, signal };
      kc.exitWaiters.splice(0).forEach((w) => w());
    });
    const relay = (chunk: Buffer) => {
      const text = chunk.toString();
      kc.stderrTail = (kc.stderrTail + text).slice(-8000);
      for (const line of text.split('\n')) if (line.trim()) opts.onKernelOutput?.(line);
    };
    kc.child.stdout!.on('data', relay);
    kc.child.stderr!.on('data', relay);

    kc.shell = new z.Dealer({ linger: 0 });
    kc.control = new z.Dealer({ linger: 0 });
    kc.iopub = new z.Subscriber({ linger: 0 });
    kc.shell.connect(`tcp://${conn.ip}:${conn.shell_port}`);
    kc.control.connect(`tcp://${conn.ip}:${conn.control_port}`);
    kc.iopub.connect(`tcp://${conn.ip}:${conn.iopub_port}`);
    kc.iopub.subscribe();
    kc.receive(kc.shell, (m) => kc.replyWaiters.get(m.parent_header.msg_id ?? '')?.(m));
    kc.receive(kc.control, (m) => kc.replyWaiters.get(m.parent_header.msg_id ?? '')?.(m));
    kc.receive(kc.iopub, (m) => kc.iopubListeners.get(m.parent_header.msg_id ?? '')?.(m));

    const deadline = Date.now() + (opts.startupTimeout ?? 120) * 1000;
    const fail = async (why: string): Promise<never> => {
      await kc.shutdown(2000);
      throw new Error(`kernel ${argv.join(' ')} ${why}${kc.stderrTail.trim() ? `\nkernel stderr (last lines):\n${kc.stderrTail.trim().split('\n').slice(-15).join('\n')}` : ''}`);
    };
    // kernel_info until a reply comes on shell AND its status reaches us on iopub
    let iopubSeen = false;
    while (!kc.kernelInfo || !iopubSeen) {
      if (spawnError) return fail(`could not be started: ${(spawnError as Error).message}`);
      if (kc.exited) return fail(`exited during start-up (${kc.exitText()})`);
      if (Date.now() > deadline) return fail(`did not answer within ${opts.startupTimeout ?? 120} s`);
      const msg = kc.message('kernel_info_request', {});
      const id = msg.header.msg_id;
      const got = new Promise<void>((resolve) => {
        kc.replyWaiters.set(id, (m) => { kc.kernelInfo = m.content; resolve(); });
        kc.iopubListeners.set(id, () => { iopubSeen = true; if (kc.kernelInfo) resolve(); });
      });
      await kc.shell.send(serialize(conn.key, msg));
      await Promise.race([got, sleep(kc.kernelInfo ? 250 : 1000), kc.exitPromise()]);
      kc.replyWaiters.delete(id);
      kc.iopubListeners.delete(id);
    }
    return kc;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get alive(): boolean {
    return !this.exited;
  }

  /** The kernel process's recent stderr/stdout (outside cells). */
  get kernelOutputTail(): string {
    return this.stderrTail;
  }

  private exitText(): string {
    if (!this.exited) return 'running';
    return this.exited.signal ? `killed by ${this.exited.signal}` : `exit code ${this.exited.code}`;
  }

  private exitPromise(): Promise<void> {
    return this.exited ? Promise.resolve() : new Promise((r) => this.exitWaiters.push(r));
  }

  private message(msgType: string, content: unknown): Omit<Message, 'buffers'> {
    return {
      header: {
        msg_id: crypto.randomUUID(), session: this.session, username: 'channel-distill',
        date: new Date().toISOString(), msg_type: msgType, version: PROTOCOL_VERSION,
      },
      parent_header: {}, metadata: {}, content,
    };
  }

  private receive(sock: AsyncIterable<Buffer[]>, handle: (m: Message) => void): void {
    (async () => {
      try {
        for await (const frames of sock) {
          let msg: Message;
          try {
            msg = deserialize(this.conn.key, frames);
          } catch {
            this.badMessages++;
            continue;
          }
          handle(msg);
        }
      } catch {
        // socket closed
      }
    })();
  }

  /** Execute code; resolves when the reply and iopub's idle have arrived (or on timeout / death). */
  async execute(code: string, options: ExecuteOptions = {}): Promise<ExecuteOutcome> {
    if (this.closed || this.exited) throw new Error(`kernel is not running (${this.exitText()})`);
    const t0 = Date.now();
    const msg = this.message('execute_request', {
      code, silent: false, store_history: true, user_expressions: {}, allow_stdin: false, stop_on_error: true,
    });
    const id = msg.header.msg_id;
    const outputs: Output[] = [];
    const timing: Record<string, string> = {};
    let executionCount: number | null = null;
    let clearOnNext = false;
    const displayIds = new Map<string, number[]>();
    let reply: any;
    let resolveReply!: () => void;
    let resolveIdle!: () => void;
    const gotReply = new Promise<void>((r) => { resolveReply = r; });
    const gotIdle = new Promise<void>((r) => { resolveIdle = r; });
    const push = (out: Output, displayId?: string) => {
      if (clearOnNext) { outputs.length = 0; displayIds.clear(); clearOnNext = false; }
      if (displayId) displayIds.set(displayId, [...(displayIds.get(displayId) ?? []), outputs.length]);
      outputs.push(out);
    };
    this.replyWaiters.set(id, (m) => {
      reply = m.content;
      timing['shell.execute_reply'] = m.header.date;
      if (typeof m.content.execution_count === 'number') executionCount = m.content.execution_count;
      resolveReply();
    });
    this.iopubListeners.set(id, (m) => {
      options.onMessage?.(m);
      const c = m.content ?? {};
      const displayId: string | undefined = c.transient?.display_id || undefined;
      switch (m.header.msg_type) {
        case 'status':
          if (c.execution_state === 'busy') timing['iopub.status.busy'] = m.header.date;
          if (c.execution_state === 'idle') { timing['iopub.status.idle'] = m.header.date; resolveIdle(); }
          break;
        case 'execute_input':
          timing['iopub.execute_input'] = m.header.date;
          if (typeof c.execution_count === 'number') executionCount = c.execution_count;
          break;
        case 'stream':
          push({ output_type: 'stream', name: c.name, text: String(c.text ?? '') });
          break;
        case 'display_data':
          push({ output_type: 'display_data', data: c.data ?? {}, metadata: c.metadata ?? {} }, displayId);
          break;
        case 'execute_result':
          push({ output_type: 'execute_result', data: c.data ?? {}, metadata: c.metadata ?? {}, execution_count: c.execution_count ?? null }, displayId);
          break;
        case 'update_display_data':
          for (const i of (displayId && displayIds.get(displayId)) || []) {
            const o = outputs[i];
            if (o && (o.output_type === 'display_data' || o.output_type === 'execute_result')) {
              o.data = c.data ?? {};
              o.metadata = c.metadata ?? {};
            }
          }
          break;
        case 'error':
          push({ output_type: 'error', ename: String(c.ename ?? ''), evalue: String(c.evalue ?? ''), traceback: c.traceback ?? [] });
          break;
        case 'clear_output':
          if (c.wait) clearOnNext = true; else { outputs.length = 0; displayIds.clear(); }
          break;
        default:
          break; // comm_*, etc.: not stored
      }
    });
    const finish = (status: ExecuteStatus, detail?: string): ExecuteOutcome => {
      this.replyWaiters.delete(id);
      this.iopubListeners.delete(id);
      return { status, reply, outputs, executionCount, timing, seconds: (Date.now() - t0) / 1000, ...(detail ? { detail } : {}) };
    };
    await this.shell.send(serialize(this.conn.key, msg));

    const timeoutMs = options.timeoutMs ?? Infinity;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((r) => {
      if (Number.isFinite(timeoutMs)) timer = setTimeout(() => r('timeout'), Math.max(0, timeoutMs));
    });
    const died = this.exitPromise().then(() => 'dead' as const);
    const first = await Promise.race([gotReply.then(() => 'reply' as const), timedOut, died]);
    clearTimeout(timer);
    if (first === 'timeout') {
      await this.interrupt().catch(() => undefined);
      // give the kernel a moment to answer the interrupted request, so its outputs are kept
      await Promise.race([Promise.all([gotReply, gotIdle]), sleep(5000), this.exitPromise()]);
      return finish('timeout');
    }
    if (first === 'dead') {
      await sleep(100);
      return finish('dead', `the kernel died (${this.exitText()})${this.stderrTail.trim() ? `; its stderr:\n${this.stderrTail.trim().split('\n').slice(-20).join('\n')}` : ''}`);
    }
    // the reply is in; iopub's idle normally follows at once (nbclient waits 4 s, then warns)
    const idle = await Promise.race([gotIdle.then(() => true), sleep(10000).then(() => false), this.exitPromise().then(() => false)]);
    if (!idle) this.stderrTail += '\n[jupyter-client] no iopub idle status within 10 s of the execute_reply; outputs may be incomplete\n';
    const s = reply?.status;
    return finish(s === 'ok' ? 'ok' : s === 'abort' || s === 'aborted' ? 'abort' : 'error');
  }

  /** Interrupt the running cell: SIGINT to the kernel's process group, or an interrupt_request. */
  async interrupt(): Promise<void> {
    if (this.exited) return;
    if (this.spec.interrupt_mode === 'message') {
      await this.control.send(serialize(this.conn.key, this.message('interrupt_request', {})));
    } else {
      this.killGroup('SIGINT');
    }
  }

  private killGroup(signal: NodeJS.Signals): void {
    if (this.exited || !this.child?.pid) return;
    try {
      process.kill(-this.child.pid, signal);
    } catch {
      try { this.child.kill(signal); } catch { /* already gone */ }
    }
  }

  /**
   * Shut the kernel down: shutdown_request on control, then SIGTERM and SIGKILL to its process group
   * if it has not exited within `graceMs`; closes the sockets and removes the connection file.
   */
  async shutdown(graceMs = 5000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      if (!this.exited && this.control) {
        // tslab answers and closes its sockets but its process stays up (an open handle): after the
        // shutdown_reply wait one more second for a clean exit, then SIGTERM.
        const msg = this.message('shutdown_request', { restart: false });
        const replied = new Promise<void>((r) => this.replyWaiters.set(msg.header.msg_id, () => r()));
        await Promise.race([this.control.send(serialize(this.conn.key, msg)), sleep(1000)]);
        await Promise.race([replied, this.exitPromise(), sleep(graceMs)]);
        this.replyWaiters.delete(msg.header.msg_id);
        await Promise.race([this.exitPromise(), sleep(1000)]);
      }
      if (!this.exited) {
        this.killGroup('SIGTERM');
        await Promise.race([this.exitPromise(), sleep(3000)]);
      }
      if (!this.exited) {
        this.killGroup('SIGKILL');
        await Promise.race([this.exitPromise(), sleep(3000)]);
      }
    } finally {
      for (const s of [this.shell, this.control, this.iopub]) {
        try { s?.close(); } catch { /* closed */ }
      }
      process.removeListener('exit', this.exitHook);
      for (const s of FATAL_SIGNALS) process.removeListener(s, this.signalHook);
      try { fs.rmSync(path.dirname(this.connectionFile), { recursive: true, force: true }); } catch { /* gone */ }
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

// ---------------------------------------------------------------------------------------------
// Notebooks

export interface Notebook {
  cells: NotebookCell[];
  metadata: Record<string, any>;
  nbformat: number;
  nbformat_minor: number;
}

export interface NotebookCell {
  cell_type: 'code' | 'markdown' | 'raw';
  id?: string;
  source: string | string[];
  metadata: Record<string, any>;
  outputs?: Output[];
  execution_count?: number | null;
  [key: string]: unknown;
}

const joinText = (t: unknown): string => (Array.isArray(t) ? t.join('') : String(t ?? ''));

export function readNotebook(file: string): Notebook {
  let nb: Notebook;
  try {
    nb = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not a readable notebook (${(e as Error).message})`);
  }
  if (!Array.isArray(nb.cells) || nb.nbformat !== 4) throw new Error(`${file}: not an nbformat 4 notebook`);
  return nb;
}

/** Lines of a multi-line string, each with its newline (nbformat's split_lines). */
function splitLines(s: string): string[] {
  return s.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort()) out[k] = sortKeys((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

/** The notebook as nbformat writes it: sorted keys, indent 1, multi-line text split into lines. */
export function notebookJson(nb: Notebook): string {
  const copy: Notebook = JSON.parse(JSON.stringify(nb));
  for (const cell of copy.cells) {
    cell.source = splitLines(joinText(cell.source));
    for (const o of cell.outputs ?? []) {
      if (o.output_type === 'stream') (o as any).text = splitLines(joinText(o.text));
      if (o.output_type === 'display_data' || o.output_type === 'execute_result') {
        for (const [mime, value] of Object.entries(o.data)) {
          if (!isJsonMime(mime) && (typeof value === 'string' || Array.isArray(value))) o.data[mime] = splitLines(joinText(value));
        }
      }
    }
  }
  return JSON.stringify(sortKeys(copy), null, 1) + '\n';
}

export function writeNotebook(file: string, nb: Notebook): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, notebookJson(nb));
  fs.renameSync(tmp, file);
}

/** nbconvert's coalesce_streams preprocessor: merge consecutive streams of one name, apply carriage returns. */
export function coalesceStreams(outputs: Output[]): Output[] {
  const out: Output[] = [];
  for (const o of outputs) {
    const last = out[out.length - 1];
    if (o.output_type === 'stream' && last?.output_type === 'stream' && last.name === o.name) last.text += o.text;
    else out.push(o.output_type === 'stream' ? { ...o } : o);
  }
  for (const o of out) if (o.output_type === 'stream' && o.text.includes('\r')) o.text = o.text.replace(/.*\r(?=[^\n])/g, '');
  return out;
}

/**
 * The real error of a failed cell: an error output's `ename: evalue` when the kernel filled them in,
 * else (tslab) the first line of the cell's stderr that looks like an error (`SomeError: ...`) or a
 * TypeScript diagnostic (`3:5 - Cannot find name ...`), else its first stderr line.
 */
export function realErrorText(outputs: Output[]): string | undefined {
  for (const o of outputs) {
    if (o.output_type === 'error' && (o.ename || o.evalue) && o.ename !== '<Error>') return `${o.ename}: ${o.evalue}`;
  }
  const lines = outputs.filter((o) => o.output_type === 'stream' && o.name === 'stderr')
    .map((o) => (o as { text: string }).text).join('').split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.find((l) => /^(\w*Error|Error)\b[^:]*:/.test(l)) ?? lines.find((l) => /^\d+:\d+ - /.test(l)) ?? lines[0];
}

export interface AsyncErrorRecord {
  kind: string;
  error: string;
  at?: string;
}

/** Records the project kernel appended to $CWD_NB_REJECTIONS (one JSON object per line). */
export function readAsyncErrors(file: string | undefined): AsyncErrorRecord[] {
  if (!file || !fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean).map((l) => {
    try {
      return JSON.parse(l) as AsyncErrorRecord;
    } catch {
      return { kind: 'async error', error: l };
    }
  });
}

export interface RunNotebookOptions extends Omit<StartOptions, 'onKernelOutput'> {
  /** Time limit for running all the cells of the notebook, in seconds (kernel start-up: startupTimeout). */
  timeout: number;
  /** File the kernel appends unhandled rejections / uncaught exceptions to (CWD_NB_REJECTIONS). */
  asyncErrorsFile?: string;
  /** Progress and failure reports, line by line (default: nothing). */
  log?: (line: string) => void;
}

export interface NotebookRun {
  ok: boolean;
  nb: Notebook;
  seconds: number;
  /** One line: which cell failed and the real error. */
  error?: string;
  /** The full failure report (source, stdout tail, stderr, error) as printed. */
  report?: string;
  /** Index (in nb.cells) of the failed cell. */
  failedCell?: number;
  /** Process id the kernel had (it has been shut down when runNotebook resolves). */
  kernelPid?: number;
}

/**
 * Execute the code cells of `nb` in order in a fresh kernel; stops at the first failure. The
 * notebook object is updated in place (outputs, execution counts, timings, language_info).
 */
/** Whether the kernel is still running a moment after its last reply (a crash while flushing output shows up here). */
async function stillAlive(kc: KernelClient, ms = 500): Promise<boolean> {
  await sleep(ms);
  return kc.alive;
}

export async function runNotebook(nb: Notebook, opts: RunNotebookOptions): Promise<NotebookRun> {
  const log = opts.log ?? (() => undefined);
  const t0 = Date.now();
  let deadline = Infinity;
  const seconds = () => (Date.now() - t0) / 1000;
  const codeCells = nb.cells.map((c, i) => [c, i] as const).filter(([c]) => c.cell_type === 'code' && joinText(c.source).trim());
  let kc: KernelClient | null = null;
  let done = 0;
  const failure = (index: number, cell: NotebookCell, why: string, error: string | undefined, s: number, body: string[]): NotebookRun => {
    const head = `cell ${index} (code cell ${done + 1} of ${codeCells.length}) FAILED after ${s.toFixed(1)} s: ${why}`;
    const report = ['', '='.repeat(72), head, '--- source ' + '-'.repeat(61), ...joinText(cell.source).split('\n').slice(0, 40), ...body, '='.repeat(72)].join('\n');
    log(report);
    return { ok: false, nb, seconds: seconds(), error: [head, error].filter(Boolean).join(': '), report, failedCell: index, kernelPid: kc?.pid };
  };
  try {
    try {
      kc = await KernelClient.start({ ...opts, onKernelOutput: (l) => log(`[kernel] ${l}`) });
    } catch (e) {
      return { ok: false, nb, seconds: seconds(), error: `the kernel did not start: ${(e as Error).message}` };
    }
    deadline = Date.now() + opts.timeout * 1000; // start-up has its own limit (startupTimeout)
    if (kc.kernelInfo?.language_info) nb.metadata.language_info = kc.kernelInfo.language_info;
    for (const [cell, index] of codeCells) {
      cell.outputs = [];
      cell.metadata = { ...(cell.metadata ?? {}), execution: {} };
      const remaining = deadline - Date.now();
      const r = await kc.execute(joinText(cell.source), { timeoutMs: remaining });
      cell.outputs = coalesceStreams(r.outputs);
      cell.execution_count = r.executionCount;
      cell.metadata.execution = r.timing;
      const stdout = cell.outputs.filter((o) => o.output_type === 'stream' && o.name === 'stdout').map((o) => (o as { text: string }).text).join('');
      const stderr = cell.outputs.filter((o) => o.output_type === 'stream' && o.name === 'stderr').map((o) => (o as { text: string }).text).join('');
      const errors = cell.outputs.filter((o) => o.output_type === 'error') as Extract<Output, { output_type: 'error' }>[];
      const body: string[] = [];
      if (stdout) body.push('--- stdout (last 30 lines) ' + '-'.repeat(45), ...stdout.trimEnd().split('\n').slice(-30));
      if (stderr) body.push('--- stderr ' + '-'.repeat(61), ...stderr.trimEnd().split('\n').slice(0, 80));
      for (const e of errors) {
        body.push('--- error output ' + '-'.repeat(55), `${e.ename}: ${e.evalue}`);
        const trace = (e.traceback ?? []).map((l) => l.replace(/\x1b\[[0-9;]*m/g, ''));
        if (trace.length > 1) body.push(...trace.slice(0, 40));
      }
      if (r.status === 'timeout') {
        return failure(index, cell, `time limit of ${opts.timeout} s for the notebook reached (the kernel was interrupted)`, realErrorText(cell.outputs), r.seconds, body);
      }
      if (r.status === 'dead') return failure(index, cell, 'DeadKernelError', r.detail, r.seconds, body);
      if (r.status !== 'ok') {
        if (!stderr && !errors.length) body.push('--- (the cell wrote no stderr; the kernel replied) ' + '-'.repeat(21), JSON.stringify(r.reply));
        return failure(index, cell, r.status === 'abort' ? 'execution aborted' : 'CellExecutionError', realErrorText(cell.outputs), r.seconds, body);
      }
      const asyncErrors = readAsyncErrors(opts.asyncErrorsFile);
      if (asyncErrors.length) {
        const kind = asyncErrors[0].kind;
        body.push('--- the async error (an un-awaited promise: await it, or .catch it) ' + '-'.repeat(5));
        for (const a of asyncErrors) body.push(...a.error.split('\n').slice(0, 40));
        return failure(index, cell, `${kind} in the kernel during or before this cell`, asyncErrors[0].error.split('\n')[0], r.seconds, body);
      }
      // a kernel that replied 'ok' and then died (an exception thrown while sending its output) fails the cell too
      if (!kc.alive || (index === codeCells[codeCells.length - 1][1] && !(await stillAlive(kc)))) {
        const tail = kc.kernelOutputTail.trim();
        return failure(index, cell, 'DeadKernelError', `the kernel exited during or right after this cell${tail ? `; its stderr:\n${tail.split('\n').slice(-20).join('\n')}` : ''}`, r.seconds, body);
      }
      done++;
      log(`[cell ${done}/${codeCells.length}] ok in ${r.seconds.toFixed(1)} s`);
    }
  } finally {
    await kc?.shutdown();
  }
  // an async error that surfaced after the last cell (or during shutdown)
  const late = readAsyncErrors(opts.asyncErrorsFile);
  if (late.length) {
    const error = `${late[0].kind} in the kernel after the last cell: ${late[0].error.split('\n')[0]}`;
    log(error);
    return { ok: false, nb, seconds: seconds(), error, kernelPid: kc?.pid };
  }
  return { ok: true, nb, seconds: seconds(), kernelPid: kc?.pid };
}
