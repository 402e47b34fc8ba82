/**
 * A trained network as a folder: `model.json` + `weights.bin` and `manifest.json` (model config, how it
 * was made, its measured val mIoU). This is the format of the shipped teacher in `data/teacher/`.
 *
 * One model format: `model.json` + `weights.bin` are what lib/models `saveNet` writes through the file
 * IOHandler (optionally float16 / uint8), the network's config in its metadata; a checkpoint's
 * `student/` folder is the same. So `loadNet(fileIOHandler(dir))` reads a package written since, and
 * `loadModelPackage` reads every package (older ones have no metadata: it builds from the manifest).
 */
import * as fs from 'fs';
import * as path from 'path';
import { buildModel, ModelConfig, saveNet } from '../models';
import type { SegmentationNet } from '../models/types';
import { fileIOHandler, loadWeightsInto, readJSONFile, readModelArtifacts, WeightQuantization, writeFileAtomic } from './checkpoint';
import { assertFiniteModel, describeNonFinite, nonFiniteStored } from './finite';

export interface ModelManifest {
  /** Config for `buildModel`. */
  modelConfig: ModelConfig;
  quantization: WeightQuantization;
  [key: string]: unknown;
}

/**
 * @example
 *   await saveModelPackage(teacher, 'data/teacher', {quantization: 'float16', manifest: {valMIoU: 0.61}});
 *   const {net, manifest} = loadModelPackage('data/teacher');
 */
export async function saveModelPackage(
  net: SegmentationNet,
  dir: string,
  o: { quantization?: WeightQuantization; manifest?: Record<string, unknown> } = {},
): Promise<void> {
  const quantization = o.quantization ?? 'none';
  await assertFiniteModel(net.model, `the network to export to ${dir}`, 'the model package was NOT written');
  fs.mkdirSync(dir, { recursive: true });
  await saveNet(net, fileIOHandler(dir, { quantization }));
  const manifest: ModelManifest = { ...(o.manifest ?? {}), modelConfig: net.config as unknown as ModelConfig, quantization };
  writeFileAtomic(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
}

export function readManifest(dir: string): ModelManifest {
  const file = path.join(dir, 'manifest.json');
  if (!fs.existsSync(file)) throw new Error(`model package ${dir}: manifest.json is missing (is this a folder written by saveModelPackage / train-teacher --export?)`);
  return readJSONFile<ModelManifest>(file, 'model package manifest');
}

/**
 * Rebuild the network from the manifest's config and load its weights (dequantised to float32).
 * `manifest`: the package's manifest when the caller has read it already (it is not read again).
 */
export function loadModelPackage(dir: string, manifest: ModelManifest = readManifest(dir)): { net: SegmentationNet; manifest: ModelManifest } {
  const artifacts = readModelArtifacts(dir);
  const bad = nonFiniteStored(artifacts.weightSpecs ?? [], artifacts.weightData as ArrayBuffer);
  if (bad.count > 0) {
    throw new Error(`${describeNonFinite(bad, `model package ${dir}`)}: this package is damaged or was exported from a diverged run; re-export it from a good checkpoint`);
  }
  const net = buildModel(manifest.modelConfig);
  loadWeightsInto(net.model, dir);
  return { net, manifest };
}
