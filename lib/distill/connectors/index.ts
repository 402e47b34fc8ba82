import * as tf from '@tensorflow/tfjs';
import { ChannelMLP } from './channel-mlp';
import { Connector, ConnectorConfig, ConnectorState } from './connector';
import { Conv1x1Aligner } from './conv1x1';

export { BaseConnector } from './connector';
export type {
  Connector, ConnectorConfig, ConnectorState, ConnectorType, ConnectorWeightState,
} from './connector';
export { Conv1x1Aligner } from './conv1x1';
export type { Conv1x1AlignerConfig } from './conv1x1';
export { ChannelMLP } from './channel-mlp';
export type { ChannelMLPConfig } from './channel-mlp';

export const CONNECTOR_TYPES = ['conv1x1', 'channel-mlp'] as const;

/**
 * Build a connector from its config (`getConfig()` output): `{type: 'conv1x1' | 'channel-mlp', inChannels, outChannels, …}`.
 * @example
 *   const tf = require('@tensorflow/tfjs');
 *   const { createConnector, connectorFromJSON } = require('./lib/distill');
 *   const c = createConnector({type: 'conv1x1', inChannels: 64, outChannels: 256});
 *   const saved = JSON.stringify(c.toJSON());                  // config + weights, for a checkpoint
 *   const copy = connectorFromJSON(JSON.parse(saved));
 *   console.log(copy.getConfig(), copy.apply(tf.zeros([1, 4, 4, 64])).shape);   // [1, 4, 4, 256]
 */
export function createConnector(config: ConnectorConfig): Connector {
  const { type, ...rest } = config;
  if (type === 'conv1x1') {
    if (rest.hiddenChannels !== undefined) throw new Error('createConnector: hiddenChannels applies only to type channel-mlp');
    return new Conv1x1Aligner(rest);
  }
  if (type === 'channel-mlp') return new ChannelMLP(rest);
  throw new Error(`createConnector: unknown connector type '${String(type)}'; valid: ${CONNECTOR_TYPES.join(', ')}`);
}

/** Rebuild a connector with its trained weights from `connector.toJSON()` (e.g. a checkpoint). */
export function connectorFromJSON(state: ConnectorState): Connector {
  const c = createConnector(state.config);
  if (state.weights.length !== c.variables.length) {
    c.dispose();
    throw new Error(`connectorFromJSON: ${state.config.type} has ${c.variables.length} weights, the state has ${state.weights.length}`);
  }
  const tensors = state.weights.map((w) => tf.tensor(w.values, w.shape, 'float32'));
  try {
    c.setWeights(tensors);
  } finally {
    tensors.forEach((t) => t.dispose());
  }
  return c;
}
