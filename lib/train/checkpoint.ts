/**
 * Checkpoints on the local file system without tfjs-node.
 *
 * - `fileIOHandler(dir)`: a `tf.io.IOHandler` that writes `model.json` (topology + weights manifest)
 *   and `weights.bin` into a folder, and reads them back (`model.save(fileIOHandler(dir))`,
 *   `tf.loadLayersModel(fileIOHandler(dir))`). Optional float16 / uint8 weight quantisation.
 * - `saveTensors` / `loadTensors`: a plain list of tensors (optimiser slots, aligners, discriminator).
 * - `CheckpointDir`: `checkpoints/step-000100/…` folders written in a temp folder and renamed into
 *   place, plus a `latest.json` pointer replaced atomically (temp file + rename). A process killed at
 *   any moment leaves either the previous or the new checkpoint, never a half-written one.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';

export type WeightQuantization = 'none' | 'float16' | 'uint8';

/** Write `data` to `file` atomically: temp file in the same folder, fsync, rename. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
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
  let modelJSON: tf.io.ModelJSON;
  try {
    modelJSON = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
  } catch (e) {
    throw new Error(`checkpoint: ${jsonPath} is not valid JSON (${(e as Error).message})`);
  }
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: ArrayBuffer[] = [];
  for (const group of modelJSON.weightsManifest ?? []) {
    for (const p of group.paths) {
      const file = path.join(dir, p);
      if (!fs.existsSync(file)) throw new Error(`checkpoint: weights file ${file} named in ${jsonPath} is missing`);
      const b = fs.readFileSync(file);
      buffers.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    }
    specs.push(...group.weights);
  }
  return tf.io.getModelArtifactsForJSONSync(modelJSON, specs, tf.io.CompositeArrayBuffer.join(buffers));
}

/**
 * Load weights saved from a model of the same architecture into `model`, matching by order and
 * checking every shape (names differ between processes: TF.js numbers layers per process).
 */
export function loadWeightsInto(model: tf.LayersModel, dir: string): void {
  const artifacts = readModelArtifacts(dir);
  const specs = artifacts.weightSpecs ?? [];
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
  const specs = JSON.parse(fs.readFileSync(specFile, 'utf8')) as tf.io.WeightsManifestEntry[];
  const b = fs.readFileSync(binFile);
  const named = tf.io.decodeWeights(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength), specs);
  return specs.map((s) => named[s.name]);
}

export interface CheckpointPointer {
  step: number;
  dir: string;
}

/**
 * The `checkpoints/` folder of a run.
 * @example
 *   const ck = new CheckpointDir('runs/x/checkpoints');
 *   await ck.write(100, async (tmp) => { await saveTensors(tmp, 'opt', slots); });
 *   ck.latest();   // {step: 100, dir: '…/step-000100'}
 */
export class CheckpointDir {
  constructor(readonly root: string, readonly keep = 2) {}

  latest(): CheckpointPointer | null {
    const p = path.join(this.root, 'latest.json');
    if (!fs.existsSync(p)) return null;
    const ptr = JSON.parse(fs.readFileSync(p, 'utf8')) as CheckpointPointer;
    const dir = path.join(this.root, ptr.dir);
    if (!fs.existsSync(dir)) throw new Error(`checkpoint pointer ${p} names ${dir}, which does not exist`);
    return { step: ptr.step, dir };
  }

  /** Write a checkpoint for `step`: `fill` writes into a temp folder that is then renamed into place. */
  async write(step: number, fill: (tmpDir: string) => Promise<void>): Promise<string> {
    fs.mkdirSync(this.root, { recursive: true });
    this.cleanTemp();
    const name = `step-${String(step).padStart(6, '0')}`;
    const tmp = path.join(this.root, `.tmp-${name}-${process.pid}`);
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp, { recursive: true });
    await fill(tmp);
    const final = path.join(this.root, name);
    fs.rmSync(final, { recursive: true, force: true });
    fs.renameSync(tmp, final);
    writeFileAtomic(path.join(this.root, 'latest.json'), JSON.stringify({ step, dir: name }));
    this.prune(name);
    return final;
  }

  /** Remove temp folders left by killed writers (never those of a live process). */
  private cleanTemp(): void {
    for (const e of fs.readdirSync(this.root)) {
      const m = /^\.tmp-.*-(\d+)$/.exec(e);
      if (!m) continue;
      const pid = Number(m[1]);
      let alive = pid === process.pid;
      if (!alive) {
        try {
          process.kill(pid, 0);
          alive = true;
        } catch {
          alive = false;
        }
      }
      if (!alive) fs.rmSync(path.join(this.root, e), { recursive: true, force: true });
    }
  }

  private prune(current: string): void {
    const steps = fs.readdirSync(this.root).filter((e) => /^step-\d+$/.test(e) && e !== current).sort();
    const extra = steps.length - (this.keep - 1);
    for (let i = 0; i < extra; i++) fs.rmSync(path.join(this.root, steps[i]), { recursive: true, force: true });
  }
}
