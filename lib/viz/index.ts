// Public API of lib/viz: vega-lite specs, SVG rendering, figures in notebooks, danfojs tables.
export * from './vega';
export * from './specs';
export * from './figure';
export * from './image';
export * from './table';
export * from './iou-table';
export * from './profile';
export * from './tensor';
export * from './runs';
