/**
 * Checkpoints on the local file system without tfjs-node.
 *
 * - `fileIOHandler(dir)`: a `tf.io.IOHandler` that writes `model.json` (topology + weights manifest)
 *   and `weights.bin` into a folder, and reads them back (`model.save(fileIOHandler(dir))`,
 *   `tf.loadLayersModel(fileIOHandler(dir))`). Optional float16 / uint8 weight quantisation.
 * - `saveTensors` / `loadTensors`: a plain list of tensors (optimiser slots, aligners, discriminator).
 * - `CheckpointDir`: `checkpoints/step-000100/…` folders written in a temp folder, given a
 *   `manifest.json` (size + sha256 of every file), fsynced and renamed into place, plus a `latest.json`
 *   pointer replaced atomically (temp file + rename). A process killed at any moment leaves either the
 *   previous or the new checkpoint, never a half-written one; `verify` / `newestIntact` find a damaged
 *   one (truncated, overwritten) and fall back to the newest intact one.
 * - `writeFileAtomic` (every byte written or an error naming the file, fsync, size check, rename) and
 *   `readJSONFile` (errors name the file) are the file primitives of lib/train.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { describeNonFinite, nonFiniteStored } from './finite';

export type WeightQuantization = 'none' | 'float16' | 'uint8';

/**
 * Write `data` to `file` atomically: temp file in the same folder, every byte written (a short write
 * is retried, and an error naming the file when the disk takes no more), fsync, size check, rename,
 * fsync of the folder. A failed write removes its temp file and leaves `file` as it was.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let fd: number | null = null;
  try {
    fd = fs.openSync(tmp, 'w');
    let written = 0;
    while (written < buf.byteLength) {
      let n: number;
      try {
        n = fs.writeSync(fd, buf, written, buf.byteLength - written);
      } catch (e) {
        throw new Error(`writing ${file}: ${written} of ${buf.byteLength} bytes written, then ${(e as Error).message}`);
      }
      if (!(n > 0)) throw new Error(`writing ${file}: short write, ${written} of ${buf.byteLength} bytes written (disk full?)`);
      written += n;
    }
    fs.fsyncSync(fd);
    const size = fs.fstatSync(fd).size;
    if (size !== buf.byteLength) throw new Error(`writing ${file}: the file has ${size} bytes after the write, expected ${buf.byteLength}`);
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== null) try { fs.closeSync(fd); } catch { /* already failing */ }
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(path.dirname(file));
}

/** fsync a folder so that a rename into it survives a power loss (best effort where unsupported). */
export function fsyncDir(dir: string): void {
  let fd: number | null = null;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // some file systems refuse fsync on folders; the rename itself is still atomic
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}

/** Parse a JSON file; a missing file or invalid JSON is an error that names the file (and `what` it is). */
export function readJSONFile<T = unknown>(file: string, what = 'file'): T {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${what} ${file} cannot be read: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(`${what} ${file} is not valid JSON (${(e as Error).message}; ${text.length} bytes)`);
  }
}

function weightDataToBuffer(data: tf.io.WeightData): ArrayBuffer {
  return Array.isArray(data) ? tf.io.CompositeArrayBuffer.join(data) : data;
}

// float32 → float16 bits (round to nearest even), the inverse of tf.io's float16 decoder.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
export function float32ToFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  let exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf/NaN
  exp = exp - 127 + 15;
  if (exp >= 0x1f) return sign | 0x7c00; // overflow → Inf
  if (exp <= 0) {
    if (exp < -10) return sign; // underflow → 0
    mant = (mant | 0x800000) >>> (1 - exp);
    if (mant & 0x1000) mant += 0x2000;
    return sign | (mant >>> 13);
  }
  let half = sign | (exp << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1))) half += 1;
  return half;
}

/** Re-encode float32 weights as float16 or uint8 (affine, per tensor); other dtypes pass through. */
function quantizeWeights(
  buffer: ArrayBuffer,
  specs: tf.io.WeightsManifestEntry[],
  mode: WeightQuantization,
): { buffer: ArrayBuffer; specs: tf.io.WeightsManifestEntry[] } {
  if (mode === 'none') return { buffer, specs };
  const parts: Uint8Array[] = [];
  const outSpecs: tf.io.WeightsManifestEntry[] = [];
  let offset = 0;
  for (const spec of specs) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const bytesPer = spec.dtype === 'bool' ? 1 : 4;
    const raw = buffer.slice(offset, offset + n * bytesPer);
    offset += n * bytesPer;
    if (spec.dtype !== 'float32' || spec.quantization) {
      parts.push(new Uint8Array(raw));
      outSpecs.push(spec);
      continue;
    }
    const values = new Float32Array(raw);
    if (mode === 'float16') {
      const q = new Uint16Array(n);
      for (let i = 0; i < n; i++) q[i] = float32ToFloat16Bits(values[i]);
      parts.push(new Uint8Array(q.buffer));
      outSpecs.push({ ...spec, quantization: { dtype: 'float16' } });
    } else {
      let min = Infinity;
      let max = -Infinity;
      for (let i = 0; i < n; i++) { if (values[i] < min) min = values[i]; if (values[i] > max) max = values[i]; }
      if (n === 0) { min = 0; max = 0; }
      const scale = max > min ? (max - min) / 255 : 1;
      const q = new Uint8Array(n);
      for (let i = 0; i < n; i++) q[i] = Math.round((values[i] - min) / scale);
      parts.push(q);
      outSpecs.push({ ...spec, quantization: { dtype: 'uint8', scale, min } });
    }
  }
  const total = parts.reduce((a, p) => a + p.byteLength, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.byteLength; }
  return { buffer: out.buffer, specs: outSpecs };
}

export interface FileIOHandlerOptions {
  /** Weight storage: 'none' (float32, default), 'float16' or 'uint8' (affine per tensor). */
  quantization?: WeightQuantization;
}

/**
 * A tf.io.IOHandler on a folder: `model.json` + `weights.bin`.
 * @example
 *   await net.model.save(fileIOHandler('runs/x/model', {quantization: 'float16'}));
 *   const model = await tf.loadLayersModel(fileIOHandler('runs/x/model'));
 */
export function fileIOHandler(dir: string, options: FileIOHandlerOptions = {}): tf.io.IOHandler {
  const quantization = options.quantization ?? 'none';
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      fs.mkdirSync(dir, { recursive: true });
      const raw = artifacts.weightData ? weightDataToBuffer(artifacts.weightData) : new ArrayBuffer(0);
      const q = quantizeWeights(raw, artifacts.weightSpecs ?? [], quantization);
      writeFileAtomic(path.join(dir, 'weights.bin'), new Uint8Array(q.buffer));
      const modelJSON = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: ['weights.bin'], weights: q.specs }],
        userDefinedMetadata: artifacts.userDefinedMetadata,
        trainingConfig: artifacts.trainingConfig,
      };
      writeFileAtomic(path.join(dir, 'model.json'), JSON.stringify(modelJSON));
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: 'JSON',
          modelTopologyBytes: JSON.stringify(artifacts.modelTopology ?? null).length,
          weightSpecsBytes: JSON.stringify(q.specs).length,
          weightDataBytes: q.buffer.byteLength,
        },
      };
    },
    async load(): Promise<tf.io.ModelArtifacts> {
      return readModelArtifacts(dir);
    },
  };
}

/** Read `model.json` + weights of a folder written by `fileIOHandler`, with clear errors. */
export function readModelArtifacts(dir: string): tf.io.ModelArtifacts {
  const jsonPath = path.join(dir, 'model.json');
  if (!fs.existsSync(jsonPath)) throw new Error(`checkpoint: ${jsonPath} does not exist`);
  const modelJSON = readJSONFile<tf.io.ModelJSON>(jsonPath, 'checkpoint: model file');
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: ArrayBuffer[] = [];
  for (const group of modelJSON.weightsManifest ?? []) {
    let bytes = 0;
    const files: string[] = [];
    for (const p of group.paths) {
      const file = path.join(dir, p);
      if (!fs.existsSync(file)) throw new Error(`checkpoint: weights file ${file} named in ${jsonPath} is missing`);
      const b = fs.readFileSync(file);
      bytes += b.byteLength;
      files.push(file);
      buffers.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    }
    const need = group.weights.reduce((a, w) => a + weightBytes(w), 0);
    if (bytes !== need) {
      throw new Error(`checkpoint: ${files.join(' + ')} ${files.length > 1 ? 'have' : 'has'} ${bytes} bytes, but the weights listed in ${jsonPath} need ${need} (${bytes < need ? 'truncated' : 'extra bytes'}: a damaged or mismatched file)`);
    }
    specs.push(...group.weights);
  }
  return tf.io.getModelArtifactsForJSONSync(modelJSON, specs, tf.io.CompositeArrayBuffer.join(buffers));
}

/** Bytes of one weights-manifest entry as stored (quantised entries take 1 or 2 bytes per value). */
export function weightBytes(w: tf.io.WeightsManifestEntry): number {
  const n = w.shape.reduce((a, b) => a * b, 1);
  if (w.quantization) return n * (w.quantization.dtype === 'float16' || w.quantization.dtype === 'uint16' ? 2 : 1);
  return n * (w.dtype === 'bool' ? 1 : 4);
}

/**
 * Load weights saved from a model of the same architecture into `model`, matching by order and
 * checking every shape (names differ between processes: TF.js numbers layers per process).
 */
export function loadWeightsInto(model: tf.LayersModel, dir: string): void {
  const artifacts = readModelArtifacts(dir);
  const specs = artifacts.weightSpecs ?? [];
  const bad = nonFiniteStored(specs, artifacts.weightData as ArrayBuffer);
  if (bad.count > 0) throw new Error(`checkpoint ${dir}: ${describeNonFinite(bad, 'the stored weights')}`);
  const named = tf.io.decodeWeights(artifacts.weightData!, specs);
  const weights = model.weights;
  if (weights.length !== specs.length) {
    for (const t of Object.values(named)) t.dispose();
    throw new Error(`checkpoint ${dir}: has ${specs.length} weight tensors, the model has ${weights.length} (different architecture or config?)`);
  }
  const tensors = specs.map((s, i) => {
    const t = named[s.name];
    if (t.shape.join(',') !== weights[i].shape.join(',')) {
      for (const x of Object.values(named)) x.dispose();
      throw new Error(`checkpoint ${dir}: weight #${i} '${s.name}' has shape [${t.shape}], the model's '${weights[i].originalName}' has [${weights[i].shape}]`);
    }
    return t;
  });
  model.setWeights(tensors);
  for (const t of Object.values(named)) t.dispose();
}

/** Save a list of tensors as `<name>.json` (specs) + `<name>.bin`. */
export async function saveTensors(dir: string, name: string, tensors: tf.Tensor[]): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  const named: tf.NamedTensorMap = {};
  tensors.forEach((tensor, i) => { named[`t${String(i).padStart(5, "0")}`] = tensor; });
  const { data, specs } = await tf.io.encodeWeights(named);
  writeFileAtomic(path.join(dir, `${name}.bin`), new Uint8Array(data));
  writeFileAtomic(path.join(dir, `${name}.json`), JSON.stringify(specs));
}

/** Inverse of `saveTensors` (the caller disposes the result). */
export function loadTensors(dir: string, name: string): tf.Tensor[] {
  const specFile = path.join(dir, `${name}.json`);
  const binFile = path.join(dir, `${name}.bin`);
  if (!fs.existsSync(specFile) || !fs.existsSync(binFile)) {
    throw new Error(`checkpoint: ${specFile} or ${binFile} is missing`);
  }
  const specs = readJSONFile<tf.io.WeightsManifestEntry[]>(specFile, 'checkpoint: tensor list');
  const b = fs.readFileSync(binFile);
  const need = specs.reduce((a, w) => a + weightBytes(w), 0);
  if (b.byteLength !== need) throw new Error(`checkpoint: ${binFile} has ${b.byteLength} bytes, but ${specFile} lists ${need} (a damaged or mismatched file)`);
  const named = tf.io.decodeWeights(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength), specs);
  return specs.map((s) => named[s.name]);
}

export interface CheckpointPointer {
  step: number;
  dir: string;
}

/** The result of `CheckpointDir.verify`: `problem` is set when the folder is damaged. */
export interface CheckpointCheck {
  ok: boolean;
  problem?: string;
  /** True for a folder written before manifests existed (loaded without checksums). */
  unverified?: boolean;
}

/** Checkpoint folders of this process being written right now (their temp folders are not stale). */
const activeTemp = new Set<string>();

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function sha256File(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function listFiles(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...listFiles(path.join(dir, e.name), rel));
    else out.push(rel);
  }
  return out;
}

function fsyncTree(dir: string): void {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) fsyncTree(path.join(dir, e.name));
  fsyncDir(dir);
}

export const CHECKPOINT_MANIFEST = 'manifest.json';

/**
 * The `checkpoints/` folder of a run. Every checkpoint folder holds a `manifest.json` with the size
 * and sha256 of each of its files, written last and verified on load (`verify`); a damaged newest
 * checkpoint is reported by name and the newest intact one is used instead (`candidates`).
 * @example
 *   const ck = new CheckpointDir('runs/x/checkpoints');
 *   await ck.write(100, async (tmp) => { await saveTensors(tmp, 'opt', slots); });
 *   ck.latest();   // {step: 100, dir: '…/step-000100'}
 */
export class CheckpointDir {
  constructor(readonly root: string, readonly keep = 2) {}

  /** latest.json's pointer (not verified), or null when there is none; invalid JSON is an error naming the file. */
  latest(): CheckpointPointer | null {
    const p = path.join(this.root, 'latest.json');
    if (!fs.existsSync(p)) return null;
    const ptr = readJSONFile<CheckpointPointer>(p, 'checkpoint pointer');
    if (typeof ptr?.step !== 'number' || typeof ptr?.dir !== 'string' || !/^step-\d+$/.test(ptr.dir)) {
      throw new Error(`checkpoint pointer ${p} is not {"step": N, "dir": "step-…"}: ${JSON.stringify(ptr).slice(0, 200)}`);
    }
    const dir = path.join(this.root, ptr.dir);
    if (!fs.existsSync(dir)) throw new Error(`checkpoint pointer ${p} names ${dir}, which does not exist`);
    return { step: ptr.step, dir };
  }

  /** Step folders on disk, newest first. */
  list(): CheckpointPointer[] {
    if (!fs.existsSync(this.root)) return [];
    return fs.readdirSync(this.root).filter((e) => /^step-\d+$/.test(e))
      .map((e) => ({ step: Number(e.slice(5)), dir: path.join(this.root, e) }))
      .sort((a, b) => b.step - a.step);
  }

  /**
   * Checkpoints to try on resume, best first: latest.json's, then the older ones newest first (none
   * newer than the pointer: those belong to a timeline abandoned by a fallback). Problems with
   * latest.json itself are passed to `warn` and the folders are used instead.
   */
  candidates(warn: (msg: string) => void = () => undefined): CheckpointPointer[] {
    let ptr: CheckpointPointer | null = null;
    try {
      ptr = this.latest();
    } catch (e) {
      warn(`${(e as Error).message}: using the checkpoint folders instead`);
    }
    const all = this.list();
    if (!ptr) return all;
    return [ptr, ...all.filter((c) => c.step < ptr!.step)];
  }

  /**
   * The newest intact checkpoint (verified against its manifest), or null when there is none at all.
   * Damaged ones are reported to `warn` by name; all of them damaged is an error.
   */
  newestIntact(warn: (msg: string) => void = () => undefined): CheckpointPointer | null {
    const candidates = this.candidates(warn);
    if (candidates.length === 0) return null;
    const damaged: string[] = [];
    for (const c of candidates) {
      const check = CheckpointDir.verify(c.dir);
      if (check.ok) {
        if (damaged.length) warn(`using ${c.dir} (step ${c.step}), the newest intact checkpoint, instead`);
        return c;
      }
      damaged.push(`${path.basename(c.dir)}: ${check.problem}`);
      warn(`checkpoint ${c.dir} is damaged: ${check.problem}`);
    }
    throw new Error(`${this.root}: no intact checkpoint (${damaged.join('; ')})`);
  }

  /** Check a checkpoint folder against its manifest (sizes and sha256 of every file). */
  static verify(dir: string): CheckpointCheck {
    const mf = path.join(dir, CHECKPOINT_MANIFEST);
    if (!fs.existsSync(mf)) {
      if (fs.existsSync(path.join(dir, 'state.json'))) return { ok: true, unverified: true };
      return { ok: false, problem: `${mf} is missing` };
    }
    let m: { files?: Record<string, { bytes: number; sha256: string }> };
    try {
      m = readJSONFile(mf, 'checkpoint manifest');
    } catch (e) {
      return { ok: false, problem: (e as Error).message };
    }
    if (!m || typeof m.files !== 'object' || m.files === null) return { ok: false, problem: `${mf} has no "files" table` };
    for (const [rel, want] of Object.entries(m.files)) {
      const f = path.join(dir, rel);
      if (!fs.existsSync(f)) return { ok: false, problem: `${f} is missing (listed in ${mf})` };
      const size = fs.statSync(f).size;
      if (size !== want.bytes) return { ok: false, problem: `${f} has ${size} bytes, the manifest says ${want.bytes} (${size < want.bytes ? 'truncated' : 'overwritten'})` };
      if (sha256File(f) !== want.sha256) return { ok: false, problem: `${f} does not match its sha256 checksum in ${mf} (overwritten or corrupted bytes)` };
    }
    return { ok: true };
  }

  /**
   * Write a checkpoint for `step`: `fill` writes into a temp folder; a manifest with every file's size
   * and sha256 is added, the folder is fsynced and renamed into place, then latest.json is replaced.
   * A failure removes the temp folder and leaves the previous checkpoint untouched.
   */
  async write(step: number, fill: (tmpDir: string) => Promise<void>): Promise<string> {
    fs.mkdirSync(this.root, { recursive: true });
    this.cleanStale();
    const name = `step-${String(step).padStart(6, '0')}`;
    const tmp = path.join(this.root, `.tmp-${name}-${process.pid}`);
    const final = path.join(this.root, name);
    activeTemp.add(tmp);
    try {
      fs.rmSync(tmp, { recursive: true, force: true });
      fs.mkdirSync(tmp, { recursive: true });
      await fill(tmp);
      const files: Record<string, { bytes: number; sha256: string }> = {};
      for (const rel of listFiles(tmp)) {
        const f = path.join(tmp, rel);
        files[rel] = { bytes: fs.statSync(f).size, sha256: sha256File(f) };
      }
      writeFileAtomic(path.join(tmp, CHECKPOINT_MANIFEST), JSON.stringify({ version: 1, step, files }, null, 1) + '\n');
      fsyncTree(tmp);
      fs.rmSync(final, { recursive: true, force: true });
      fs.renameSync(tmp, final);
      fsyncDir(this.root);
    } catch (e) {
      fs.rmSync(tmp, { recursive: true, force: true });
      let prev = 'there is no earlier checkpoint';
      try {
        const p = this.latest();
        if (p) prev = `the previous checkpoint ${p.dir} (step ${p.step}) is untouched`;
      } catch { /* reported on resume */ }
      throw new Error(`checkpoint of step ${step} was not written (${(e as Error).message}); ${prev}`);
    } finally {
      activeTemp.delete(tmp);
    }
    writeFileAtomic(path.join(this.root, 'latest.json'), JSON.stringify({ step, dir: name }));
    this.prune(step);
    return final;
  }

  /**
   * Remove temp folders and files left by writers that died (a kill, a full disk): those of dead
   * processes, and those of this process's id that no writer of this process is using (the id of a
   * dead process is often reused in containers). Returns the removed paths.
   */
  cleanStale(): string[] {
    if (!fs.existsSync(this.root)) return [];
    const removed: string[] = [];
    for (const e of fs.readdirSync(this.root)) {
      const m = /^\.tmp-.*-(\d+)$/.exec(e) ?? /\.tmp-(\d+)-[a-z0-9]+$/.exec(e);
      if (!m) continue;
      const p = path.join(this.root, e);
      const pid = Number(m[1]);
      const stale = pid === process.pid ? !activeTemp.has(p) : !isAlive(pid);
      if (stale) {
        fs.rmSync(p, { recursive: true, force: true });
        removed.push(p);
      }
    }
    return removed;
  }

  /** Keep the `keep` newest checkpoints up to `current`; drop any newer one (an abandoned timeline). */
  private prune(current: number): void {
    const others = this.list().filter((c) => c.step !== current);
    const newer = others.filter((c) => c.step > current);
    const older = others.filter((c) => c.step < current);
    for (const c of [...newer, ...older.slice(Math.max(0, this.keep - 1))]) fs.rmSync(c.dir, { recursive: true, force: true });
  }
}
