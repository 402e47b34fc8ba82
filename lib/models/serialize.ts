/**
 * Saving and loading a SegmentationNet through any TF.js IOHandler (the project's checkpoint
 * writer, `tf.io.withSaveHandler` / `tf.io.fromMemory`, browser storage, …). The model topology
 * (with this project's custom layers, registered in ./layers) and weights go through `model.save`;
 * the ModelConfig, featureChannels and outputStride travel in the model's userDefinedMetadata.
 */
import * as tf from '@tensorflow/tfjs';
import './layers'; // registers the custom layer classes before any load
import { validateConfig, type ModelConfig } from './archs';
import type { SegmentationNet } from './types';

const META_KEY = 'channelDistillNet';

interface NetMeta { config: ModelConfig; featureChannels: number; outputStride: number }

/**
 * Save through an IOHandler (also stores the config in userDefinedMetadata).
 * @example await saveNet(net, myFileHandler);
 */
export async function saveNet(net: SegmentationNet, handler: tf.io.IOHandler): Promise<tf.io.SaveResult> {
  const meta: NetMeta = { config: net.config as ModelConfig, featureChannels: net.featureChannels, outputStride: net.outputStride };
  net.model.setUserDefinedMetadata({ ...(net.model.getUserDefinedMetadata() ?? {}), [META_KEY]: meta });
  return net.model.save(handler);
}

/**
 * Load a net saved by `saveNet` (or any model with outputs [feature, logits] and that metadata).
 * @example const net = await loadNet(tf.io.fromMemory(artifacts));
 */
export async function loadNet(handler: tf.io.IOHandler): Promise<SegmentationNet> {
  const model = await tf.loadLayersModel(handler);
  const meta = (model.getUserDefinedMetadata() as Record<string, unknown> | undefined)?.[META_KEY] as NetMeta | undefined;
  if (!meta || !meta.config) {
    model.dispose();
    throw new Error(`loadNet: the saved model '${model.name}' has no '${META_KEY}' metadata (was it saved with saveNet?)`);
  }
  if (model.outputs.length !== 2) {
    model.dispose();
    throw new Error(`loadNet: model '${model.name}' has ${model.outputs.length} outputs, expected [feature, logits]`);
  }
  return { model, config: validateConfig(meta.config), featureChannels: meta.featureChannels, outputStride: meta.outputStride };
}

/**
 * In-memory save (model JSON + weights), e.g. for tests or to copy a net.
 * @example const artifacts = await netToArtifacts(net); const copy = await loadNet(tf.io.fromMemory(artifacts));
 */
export async function netToArtifacts(net: SegmentationNet): Promise<tf.io.ModelArtifacts> {
  let saved: tf.io.ModelArtifacts | null = null;
  await saveNet(net, tf.io.withSaveHandler(async (artifacts) => {
    saved = artifacts;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  if (!saved) throw new Error('netToArtifacts: the save handler was not called');
  return saved;
}
