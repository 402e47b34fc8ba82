/**
 * Export a tfjs layers model as a plain JSON layer graph, which `bench/torch/keras_graph.py`
 * turns into the same architecture in PyTorch (so the tfjs/PyTorch ratios compare equal networks).
 */
import * as tf from '@tensorflow/tfjs';

export interface GraphLayer {
  name: string;
  className: string;
  /**
   * Class names of the layer's ancestors, nearest first (e.g. a project layer `FastBatchNorm`
   * extending tfjs's `BatchNormalization`): the translator falls back on them for custom subclasses.
   */
  baseClassNames: string[];
  config: Record<string, unknown>;
  /** [inbound layer name, node index, tensor index] per input. */
  inbound: [string, number, number][];
  inputShapes: (number | null)[][];
  outputShape: (number | null)[] | (number | null)[][];
  weights: { name: string; shape: number[]; trainable: boolean }[];
}

export interface LayerGraph {
  name: string;
  inputs: string[];
  /** [layer name, tensor index] per model output, in output order. */
  outputs: [string, number][];
  layers: GraphLayer[];
  trainableParams: number;
}

interface NodeLike {
  inboundLayers: tf.layers.Layer[];
  nodeIndices: number[];
  tensorIndices: number[];
  inputShapes: tf.Shape | tf.Shape[];
}

function ancestors(layer: tf.layers.Layer): string[] {
  const out: string[] = [];
  let c = Object.getPrototypeOf(layer.constructor) as { className?: string } | null;
  while (c && c !== Object && c !== Function.prototype) {
    if (typeof c.className === 'string' && !out.includes(c.className) && c.className !== layer.getClassName()) out.push(c.className);
    c = Object.getPrototypeOf(c);
  }
  return out;
}

/** Trainable parameter count of a layers model. */
export function countTrainable(model: tf.LayersModel): number {
  return model.trainableWeights.reduce((n, w) => n + (w.shape as number[]).reduce((a, b) => a * b, 1), 0);
}

/**
 * The layer graph of `model` (functional models; nested models are flattened one level deep).
 * Throws, naming the layer, for a layer used at more than one node (shared layers).
 */
export function exportGraph(model: tf.LayersModel): LayerGraph {
  const layers: GraphLayer[] = [];
  const rename = new Map<string, [string, number]>(); // nested model name -> its output layer
  const visit = (m: tf.LayersModel, prefix: string): void => {
    for (const layer of m.layers) {
      const nodes = (layer as unknown as { inboundNodes: NodeLike[] }).inboundNodes;
      // nodes of a layer inside a nested model: the first belongs to the nested model's own graph
      if (layer instanceof tf.LayersModel) {
        throw new Error(`bench/graph.ts: nested model '${layer.name}' inside '${m.name}' is not supported yet`);
      }
      const node = nodes[prefix ? 0 : 0];
      if (nodes.length > 1) {
        throw new Error(`bench/graph.ts: layer '${layer.name}' of '${m.name}' is shared by ${nodes.length} nodes (not supported)`);
      }
      const inbound: [string, number, number][] = node.inboundLayers.map((l, i) => {
        const r = rename.get(l.name);
        return r ? [r[0], 0, r[1]] : [prefix + l.name, node.nodeIndices[i], node.tensorIndices[i]];
      });
      const rawIn = node.inputShapes;
      const inputShapes = (Array.isArray(rawIn[0]) || rawIn.length === 0 ? rawIn : [rawIn]) as (number | null)[][];
      layers.push({
        name: prefix + layer.name,
        className: layer.getClassName(),
        baseClassNames: ancestors(layer),
        config: layer.getConfig() as Record<string, unknown>,
        inbound,
        inputShapes: layer.getClassName() === 'InputLayer' ? [] : inputShapes,
        outputShape: layer.outputShape as (number | null)[],
        weights: layer.weights.map((w) => ({ name: w.name, shape: w.shape as number[], trainable: w.trainable })),
      });
    }
  };
  visit(model, '');
  const outLayers = (model as unknown as { outputLayers: tf.layers.Layer[]; outputLayersTensorIndices: number[] });
  return {
    name: model.name,
    inputs: model.inputLayers.map((l) => l.name),
    outputs: outLayers.outputLayers.map((l, i) => [l.name, outLayers.outputLayersTensorIndices[i]]),
    layers,
    trainableParams: countTrainable(model),
  };
}

/** Keras-order weights of every layer that has some, as nested arrays (small models only: tests). */
export function exportWeights(model: tf.LayersModel): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const layer of model.layers) {
    const ws = layer.getWeights();
    if (ws.length) out[layer.name] = ws.map((w) => w.arraySync());
  }
  return out;
}
