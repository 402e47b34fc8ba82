/**
 * Model packages from training: a finished experiment (`train-teacher --export`) or a run folder's
 * newest intact checkpoint (`export --run`) written as a package (./model-package.ts) with a manifest
 * that says how it was made, and `recordPackageEval`, which scores the package as a user loads it
 * (quantised weights) and stores that val mIoU in its manifest.
 */
import * as fs from 'fs';
import * as path from 'path';
import { configHash, EXPERIMENT_DEFAULTS } from './config';
import { evaluate } from './evaluate';
import { cachedFrames, type ExperimentResult, type ResolvedExperiment } from './experiment';
import { frameBatches } from './frames';
import { loadModelPackage, saveModelPackage } from './model-package';
import { syntheticDataset } from './results';
import { openRun } from './run-dir';
import type { WeightQuantization } from './checkpoint';

/** Generator version and options of a synthetic dataset (from its synthetic-cityscapes.json), or null for other data. */
export function syntheticDatasetInfo(root: string): Record<string, unknown> | null {
  const d = syntheticDataset(root);
  return d ? { generator: 'lib/cityscapes/synthetic.ts', version: d.version, options: d.options } : null;
}

/** Evaluate a model package on val and store the result as its manifest's valMIoU (the float32 value is kept). */
export async function recordPackageEval(dir: string, dataRoot: string, downsample: number, valLimit?: number, log: (m: string) => void = console.log): Promise<number> {
  const { net, manifest } = loadModelPackage(dir);
  const frames = await cachedFrames(dataRoot, 'val', downsample, valLimit);
  const r = await evaluate(net, frameBatches(frames, 4));
  const m = manifest as Record<string, unknown>;
  if (m.valMIoUFloat32 === undefined && typeof m.valMIoU === 'number') m.valMIoUFloat32 = m.valMIoU;
  m.valMIoU = r.mIoU;
  m.valPerClassIoU = r.perClassIoU;
  m.valImages = r.images;
  m.valEvaluatedOn = `the ${String(m.quantization)} package itself (${r.images} val frames, downsample ${downsample})`;
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(m, null, 2) + '\n');
  net.model.dispose();
  const f32 = typeof m.valMIoUFloat32 === 'number' ? ` (float32 weights: ${(100 * m.valMIoUFloat32).toFixed(2)})` : '';
  log(`${dir}: val mIoU of the ${String(m.quantization)} package ${(100 * r.mIoU).toFixed(2)}${f32}`);
  return r.mIoU;
}

export interface ExportOptions {
  quantization: WeightQuantization;
  /** The command line that asked for the package (recorded in its manifest). */
  command: string;
  /** The TensorFlow.js backend in use. */
  backend: string;
  log?: (m: string) => void;
}

/**
 * Write a finished experiment's student as a package in `out`; a quantised package of a run evaluated on
 * val is then scored as it is stored (`recordPackageEval`).
 */
export async function exportExperiment(r: ExperimentResult, x: ResolvedExperiment, out: string, o: ExportOptions & { wallSeconds: number }): Promise<void> {
  const { spec, train } = x;
  const log = o.log ?? console.log;
  await saveModelPackage(r.student, out, {
    quantization: o.quantization,
    manifest: {
      command: o.command,
      seed: train.seed, trainConfig: train, configHash: configHash({ train, model: spec.model }),
      model: spec.model, data: { root: spec.dataRoot, downsample: spec.downsample, trainLimit: spec.trainLimit ?? null, holdout: spec.holdout ?? null, crop: spec.crop ?? null, scale: spec.scale, jitter: spec.jitter },
      init: spec.init ?? null,
      stepsTrained: r.steps, stepsPlanned: train.iters,
      ...(spec.holdout
        ? { holdoutMIoU: r.eval?.mIoU ?? null, holdoutPerClassIoU: r.eval?.perClassIoU ?? null, holdoutImages: r.eval?.images ?? null }
        : { valMIoU: r.eval?.mIoU ?? null, valPerClassIoU: r.eval?.perClassIoU ?? null, valImages: r.eval?.images ?? null }),
      wallSeconds: o.wallSeconds, trainSeconds: r.trainSeconds, meanStepSeconds: r.meanStepSeconds, backend: o.backend,
      runDir: r.runDir, createdAt: new Date().toISOString(), dataset: syntheticDatasetInfo(spec.dataRoot),
    },
  });
  log(`exported ${spec.model} to ${out} (${o.quantization} weights)`);
  if (r.eval && o.quantization !== 'none' && !spec.holdout) {
    // the package's own numbers: evaluate the dequantised weights as a user will load them
    await recordPackageEval(out, spec.dataRoot, spec.downsample, spec.valLimit, log);
  }
}

/**
 * Write a run folder's newest intact checkpoint as a package in `out` and record its val mIoU (on the
 * run's recorded data, else `dataRoot()`).
 */
export async function exportRun(runDir: string, out: string, o: ExportOptions & { valLimit?: number; dataRoot: () => Promise<string> }): Promise<void> {
  const run = openRun(runDir);
  const info = run.info;
  if (!info) throw new Error(`export: ${runDir} is not a run folder (${path.join(runDir, 'config.json')} is missing)`);
  const { net, checkpoint } = run.loadStudent((m) => (o.log ?? console.error)(`export: ${m}`));
  const train = info.config.train;
  try {
    await saveModelPackage(net, out, {
      quantization: o.quantization,
      manifest: {
        command: info.command ?? null, exportCommand: o.command,
        seed: train.seed, trainConfig: train, configHash: info.configHash, model: info.model ?? null, data: info.data ?? null,
        stepsTrained: checkpoint.step, stepsPlanned: train.iters, backend: o.backend, runDir, createdAt: new Date().toISOString(),
        dataset: info.data?.root ? syntheticDatasetInfo(info.data.root) : null,
        valMIoU: run.eval?.mIoU,
      },
    });
  } finally {
    net.model.dispose();
  }
  await recordPackageEval(out, info.data?.root ?? await o.dataRoot(), info.data?.downsample ?? EXPERIMENT_DEFAULTS.downsample, o.valLimit, o.log);
}
