/**
 * Parameter and FLOP counts per model at a given input size (the Params/FLOPs columns of the
 * paper's Table 5), computed by walking the layer graph with concrete shapes (no forward pass, so
 * paper-size models at 512×1024 are counted in milliseconds).
 *
 * Conventions (say which when you report):
 * - `countParams`: trainable weights (conv kernels, biases, BatchNorm γ/β) — PyTorch's
 *   `sum(p.numel() for p in model.parameters())`; BatchNorm moving statistics are not parameters.
 * - `countMacs`: multiply-accumulates of Conv2D / DepthwiseConv2D / Dense layers
 *   (K_h·K_w·C_in/groups·C_out per output pixel). BatchNorm, activations, pooling, resizes and adds
 *   are not counted (they are < 1% here, and BatchNorm folds into the conv at inference).
 * - `countFlops` = 2 × MACs (one multiply + one add). The paper's Table 5 "FLOPs (G)" are computed
 *   with mmcv's counter, which reports MACs: compare Table 5 with `countMacs`/1e9 (for PSPNet-R18 at
 *   512×1024 our MACs are within a few % of its 125.8 G; see test/models/complexity.test.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { SegmentationNet } from './types';

type Shape = number[];

export interface LayerCost {
  name: string;
  className: string;
  /** Output shape at batch 1. */
  outputShape: Shape;
  macs: number;
  params: number;
}

function asModel(net: SegmentationNet | tf.LayersModel): tf.LayersModel {
  return (net as SegmentationNet).model ?? (net as tf.LayersModel);
}

/**
 * Trainable parameter count (PyTorch convention). `{includeNonTrainable: true}` adds BatchNorm
 * moving mean/variance (what a checkpoint stores).
 * @example countParams(createModel('student-r18')) // ≈ 0.8 M
 */
export function countParams(net: SegmentationNet | tf.LayersModel, options: { includeNonTrainable?: boolean } = {}): number {
  const model = asModel(net);
  const weights = options.includeNonTrainable ? model.weights : model.trainableWeights;
  return weights.reduce((sum, w) => sum + (w.shape as number[]).reduce((a, b) => a * b, 1), 0);
}

function concrete(shape: (number | null)[], layer: string): Shape {
  if (shape.some((d) => d == null)) {
    throw new Error(`countFlops: could not infer a concrete output shape for layer '${layer}' (got [${shape}])`);
  }
  return shape as Shape;
}

/**
 * Per-layer MACs and output shapes at input [H, W] (batch 1), in graph order.
 * @example layerCosts(net, [256, 512]).filter((l) => l.macs > 0)
 */
export function layerCosts(net: SegmentationNet | tf.LayersModel, inputSize: [number, number]): LayerCost[] {
  const model = asModel(net);
  const [h, w] = inputSize;
  if (!(Number.isInteger(h) && h > 0 && Number.isInteger(w) && w > 0)) {
    throw new Error(`countFlops: inputSize must be [H, W] with positive integers, got ${JSON.stringify(inputSize)}`);
  }
  const shapes = new Map<string, Shape>();
  const costs: LayerCost[] = [];
  for (const layer of model.layers) {
    const className = layer.getClassName();
    const node = layer.inboundNodes[0];
    let out: Shape;
    let inputs: Shape[] = [];
    if (className === 'InputLayer') {
      const batchShape = (layer as unknown as { batchInputShape: (number | null)[] }).batchInputShape;
      out = [1, h, w, batchShape[batchShape.length - 1] as number];
    } else {
      inputs = node.inboundLayers.map((l) => {
        const s = shapes.get(l.name);
        if (!s) throw new Error(`countFlops: layer '${layer.name}' uses '${l.name}' before its shape is known`);
        return s;
      });
      const inferred = layer.computeOutputShape(inputs.length === 1 ? inputs[0] : inputs) as (number | null)[];
      out = concrete(inferred, layer.name);
    }
    shapes.set(layer.name, out);
    const params = layer.trainableWeights.reduce((s, v) => s + (v.shape as number[]).reduce((a, b) => a * b, 1), 0);
    let macs = 0;
    const outPixels = out.slice(1, -1).reduce((a, b) => a * b, 1);
    if (className === 'Conv2D' || className === 'AtrousConv2D') {
      const cfg = layer.getConfig() as { kernelSize: number[]; filters: number };
      const cin = inputs[0][3];
      macs = outPixels * cfg.filters * cfg.kernelSize[0] * cfg.kernelSize[1] * cin;
    } else if (className === 'DepthwiseConv2D') {
      const cfg = layer.getConfig() as { kernelSize: number[]; depthMultiplier: number };
      const cin = inputs[0][3];
      macs = outPixels * cin * cfg.depthMultiplier * cfg.kernelSize[0] * cfg.kernelSize[1];
    } else if (className === 'Dense') {
      const cfg = layer.getConfig() as { units: number };
      const cin = inputs[0][inputs[0].length - 1];
      macs = outPixels * cfg.units * cin;
    } else if (params > 0 && className !== 'BatchNormalization' && className !== 'FastBatchNorm') {
      throw new Error(`countFlops: no MAC rule for layer '${layer.name}' (${className}) which has weights: add one in lib/models/complexity.ts`);
    }
    costs.push({ name: layer.name, className, outputShape: out, macs, params });
  }
  return costs;
}

/**
 * Multiply-accumulates of one forward pass at [H, W], batch 1 (defaults to the config's inputSize).
 * @example countMacs(net, [512, 1024]) / 1e9 // compare with Table 5's "FLOPs (G)"
 */
export function countMacs(net: SegmentationNet | tf.LayersModel, inputSize?: [number, number]): number {
  const size = inputSize ?? ((net as SegmentationNet).config?.inputSize as [number, number] | undefined);
  if (!size) throw new Error('countMacs: give inputSize [H, W] (the model has no config.inputSize)');
  return layerCosts(net, size).reduce((s, l) => s + l.macs, 0);
}

/**
 * FLOPs of one forward pass at [H, W], batch 1: 2 × MACs (see the module note on Table 5).
 * @example countFlops(net, [256, 512]) / 1e9 // GFLOPs
 */
export function countFlops(net: SegmentationNet | tf.LayersModel, inputSize?: [number, number]): number {
  return 2 * countMacs(net, inputSize);
}
