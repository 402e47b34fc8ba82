/**
 * vega-lite specifications for the notebooks' figures. Plain functions from data rows to specs:
 * render them with `renderSVG` / `figure`, or hand them to any vega-lite renderer.
 */
import type { VegaLiteSpec } from './vega';

export const VEGA_LITE_SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

function checkRows(rows: unknown[], what: string): void {
  if (!Array.isArray(rows) || rows.length === 0) throw new Error(`${what}: no data rows (got ${Array.isArray(rows) ? 'an empty array' : typeof rows})`);
}

function checkFinite(v: unknown, what: string, i: number, field: string): void {
  if (typeof v !== 'number' || Number.isNaN(v)) throw new Error(`${what}: row ${i} has ${field}=${String(v)}, expected a number`);
}

export interface HeatmapCell {
  x: string | number;
  y: string | number;
  /** NaN / null: an empty cell (e.g. a sweep cell not run yet). */
  value: number | null;
}

export interface HeatmapOptions {
  title?: string;
  xTitle?: string;
  yTitle?: string;
  valueTitle?: string;
  /** d3-format of the numbers written in the cells (default '.2f'). */
  format?: string;
  /** vega colour scheme (default 'viridis'). */
  scheme?: string;
  cellSize?: number;
  /** Sort order of the y axis values (default: as they first appear). */
  yOrder?: (string | number)[];
  xOrder?: (string | number)[];
}

/**
 * Heatmap with the value written in each cell (the paper's Fig. 3: temperature × loss weight → mIoU).
 * @example
 *   heatmapSpec([{x: 1, y: 1, value: 0.41}, {x: 2, y: 1, value: 0.43}], {xTitle: 'temperature T', yTitle: 'weight α'})
 */
export function heatmapSpec(cells: HeatmapCell[], options: HeatmapOptions = {}): VegaLiteSpec {
  checkRows(cells, 'heatmapSpec');
  const values = cells.map((c, i) => {
    if (c.value !== null) checkFinite(c.value, 'heatmapSpec', i, 'value');
    return { x: String(c.x), y: String(c.y), value: c.value === null || Number.isNaN(c.value) ? null : c.value };
  });
  const uniq = (a: (string | number)[]) => [...new Set(a.map(String))];
  const xs = options.xOrder ? uniq(options.xOrder) : uniq(cells.map((c) => c.x));
  const ys = options.yOrder ? uniq(options.yOrder) : uniq(cells.map((c) => c.y));
  const size = options.cellSize ?? 48;
  const fmt = options.format ?? '.2f';
  const finite = values.map((v) => v.value).filter((v): v is number => v !== null);
  const mid = finite.length ? (Math.min(...finite) + Math.max(...finite)) / 2 : 0;
  return {
    $schema: VEGA_LITE_SCHEMA,
    ...(options.title ? { title: options.title } : {}),
    data: { values },
    width: size * xs.length,
    height: size * ys.length,
    encoding: {
      x: { field: 'x', type: 'ordinal', sort: xs, title: options.xTitle ?? 'x', axis: { labelAngle: 0 } },
      y: { field: 'y', type: 'ordinal', sort: ys, title: options.yTitle ?? 'y' },
    },
    layer: [
      {
        mark: { type: 'rect', stroke: 'white' },
        encoding: {
          color: {
            field: 'value', type: 'quantitative', title: options.valueTitle ?? 'value',
            scale: { scheme: options.scheme ?? 'viridis' },
          },
          tooltip: [{ field: 'x' }, { field: 'y' }, { field: 'value', format: fmt }],
        },
      },
      {
        mark: { type: 'text', fontSize: 11 },
        transform: [{ filter: 'datum.value != null' }],
        encoding: {
          text: { field: 'value', type: 'quantitative', format: fmt },
          color: { condition: { test: `datum.value < ${mid}`, value: 'white' }, value: 'black' },
        },
      },
    ],
  };
}

export interface CurvePoint {
  /** The run (line colour), e.g. 'student', 'cwd'. */
  run: string;
  step: number;
  /** The metric (one panel each), e.g. 'loss', 'val mIoU'. */
  metric: string;
  value: number;
}

/**
 * Training curves: one panel per metric (independent y scales), one line per run.
 * @example
 *   curvesSpec([{run: 'cwd', step: 10, metric: 'loss', value: 1.2}, {run: 'cwd', step: 20, metric: 'loss', value: 0.9}])
 */
export function curvesSpec(points: CurvePoint[], options: { title?: string; xTitle?: string; width?: number; height?: number; columns?: number } = {}): VegaLiteSpec {
  checkRows(points, 'curvesSpec');
  points.forEach((p, i) => { checkFinite(p.step, 'curvesSpec', i, 'step'); checkFinite(p.value, 'curvesSpec', i, 'value'); });
  const metrics = [...new Set(points.map((p) => p.metric))];
  return {
    $schema: VEGA_LITE_SCHEMA,
    ...(options.title ? { title: options.title } : {}),
    data: { values: points.map((p) => ({ run: p.run, step: p.step, metric: p.metric, value: p.value })) },
    facet: { field: 'metric', type: 'nominal', sort: metrics, title: null },
    columns: options.columns ?? Math.min(metrics.length, 3),
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: options.width ?? 260,
      height: options.height ?? 180,
      mark: { type: 'line', point: points.length <= 200 },
      encoding: {
        x: { field: 'step', type: 'quantitative', title: options.xTitle ?? 'step' },
        y: { field: 'value', type: 'quantitative', title: null, scale: { zero: false } },
        color: { field: 'run', type: 'nominal', title: 'run' },
        tooltip: [{ field: 'run' }, { field: 'step' }, { field: 'value', format: '.4f' }],
      },
    },
  };
}

export interface GroupedBar {
  /** x axis category, e.g. a class name. */
  category: string;
  /** bar within the group (colour), e.g. a method. */
  group: string;
  value: number;
}

/**
 * Grouped bar chart: one group of bars per category, one bar (colour) per group (Table 3 as a chart).
 * @example
 *   groupedBarSpec([{category: 'road', group: 'CWD', value: 0.9}, {category: 'road', group: 'student', value: 0.8}])
 */
export function groupedBarSpec(bars: GroupedBar[], options: { title?: string; yTitle?: string; xTitle?: string; width?: number; height?: number; format?: string } = {}): VegaLiteSpec {
  checkRows(bars, 'groupedBarSpec');
  bars.forEach((b, i) => checkFinite(b.value, 'groupedBarSpec', i, 'value'));
  const categories = [...new Set(bars.map((b) => b.category))];
  const groups = [...new Set(bars.map((b) => b.group))];
  return {
    $schema: VEGA_LITE_SCHEMA,
    ...(options.title ? { title: options.title } : {}),
    data: { values: bars.map((b) => ({ category: b.category, group: b.group, value: b.value })) },
    width: options.width ?? Math.max(300, categories.length * (groups.length * 7 + 8)),
    height: options.height ?? 220,
    mark: 'bar',
    encoding: {
      x: { field: 'category', type: 'nominal', sort: categories, title: options.xTitle ?? null, axis: { labelAngle: -45 } },
      xOffset: { field: 'group', type: 'nominal', sort: groups },
      y: { field: 'value', type: 'quantitative', title: options.yTitle ?? 'value' },
      color: { field: 'group', type: 'nominal', sort: groups, title: null },
      tooltip: [{ field: 'category' }, { field: 'group' }, { field: 'value', format: options.format ?? '.3f' }],
    },
  };
}

export interface GridMap {
  /** Panel title, e.g. 'channel 3 · spatial'. */
  title: string;
  height: number;
  width: number;
  /** Row-major values, length height·width. */
  values: ArrayLike<number>;
}

/**
 * A grid of small heatmaps (e.g. the distribution of several channels over H×W, Fig. 2).
 * Each map is one panel; `columns` panels per row; colour per panel (`independent`) or shared.
 * Keep maps small (≤ 48×48): every pixel becomes an SVG rect.
 * @example
 *   channelGridSpec([{title: 'c0', height: 2, width: 2, values: [0.1, 0.2, 0.3, 0.4]}], {columns: 4})
 */
export function channelGridSpec(maps: GridMap[], options: { title?: string; columns?: number; pixel?: number; scheme?: string; colour?: 'independent' | 'shared'; valueTitle?: string } = {}): VegaLiteSpec {
  checkRows(maps, 'channelGridSpec');
  const values: { panel: string; x: number; y: number; value: number }[] = [];
  const titles = maps.map((m) => m.title);
  if (new Set(titles).size !== titles.length) throw new Error(`channelGridSpec: panel titles must be unique (got ${titles.join(', ')})`);
  let h = 0; let w = 0;
  for (const m of maps) {
    if (m.values.length !== m.height * m.width) {
      throw new Error(`channelGridSpec: panel '${m.title}' has ${m.values.length} values, expected height·width = ${m.height}·${m.width} = ${m.height * m.width}`);
    }
    h = Math.max(h, m.height); w = Math.max(w, m.width);
    for (let y = 0; y < m.height; y++) {
      for (let x = 0; x < m.width; x++) {
        const v = m.values[y * m.width + x];
        if (!Number.isFinite(v)) throw new Error(`channelGridSpec: panel '${m.title}' has a non-finite value ${v} at (y=${y}, x=${x})`);
        values.push({ panel: m.title, x, y, value: v });
      }
    }
  }
  const px = options.pixel ?? Math.max(2, Math.floor(120 / Math.max(h, w)));
  const independent = (options.colour ?? 'independent') === 'independent';
  return {
    $schema: VEGA_LITE_SCHEMA,
    ...(options.title ? { title: options.title } : {}),
    data: { values },
    facet: { field: 'panel', type: 'nominal', sort: titles, title: null, header: { labelFontSize: 11 } },
    columns: options.columns ?? Math.min(maps.length, 4),
    ...(independent ? { resolve: { scale: { color: 'independent' } } } : {}),
    spec: {
      width: px * w,
      height: px * h,
      mark: { type: 'rect' },
      encoding: {
        x: { field: 'x', type: 'ordinal', axis: null },
        y: { field: 'y', type: 'ordinal', axis: null },
        color: {
          field: 'value', type: 'quantitative', scale: { scheme: options.scheme ?? 'inferno' },
          legend: independent ? null : { title: options.valueTitle ?? 'value' },
        },
      },
    },
  };
}

export interface ImagePanel {
  /** Column title, e.g. 'ground truth'. */
  column: string;
  /** Row title, e.g. the frame id. */
  row: string;
  /** An image URL, typically `data:image/png;base64,…` (see `pngDataURL`). */
  url: string;
}

/**
 * A grid of images (rows × columns), e.g. Fig. 4: image, ground truth and predictions, colourised.
 * @example
 *   imageGridSpec([{row: 'frame 1', column: 'image', url: 'data:image/png;base64,…'}], {width: 256, height: 128})
 */
export function imageGridSpec(panels: ImagePanel[], options: { title?: string; width: number; height: number }): VegaLiteSpec {
  checkRows(panels, 'imageGridSpec');
  panels.forEach((p, i) => {
    if (typeof p.url !== 'string' || p.url.length === 0) throw new Error(`imageGridSpec: panel ${i} (${p.row} / ${p.column}) has no url`);
  });
  const columns = [...new Set(panels.map((p) => p.column))];
  const rows = [...new Set(panels.map((p) => p.row))];
  return {
    $schema: VEGA_LITE_SCHEMA,
    ...(options.title ? { title: options.title } : {}),
    data: { values: panels.map((p) => ({ column: p.column, row: p.row, url: p.url })) },
    facet: {
      row: { field: 'row', type: 'nominal', sort: rows, title: null },
      column: { field: 'column', type: 'nominal', sort: columns, title: null, header: { labelFontSize: 12 } },
    },
    spec: {
      width: options.width,
      height: options.height,
      mark: { type: 'image', width: options.width, height: options.height, aspect: false, aria: false, smooth: false },
      encoding: {
        url: { field: 'url', type: 'nominal' },
        x: { value: options.width / 2 },
        y: { value: options.height / 2 },
      },
    },
    config: { view: { stroke: null } },
  };
}

/**
 * Channel maps as colour-mapped images in a grid (compact SVG for large maps: one <image> per panel
 * instead of one rect per pixel). Each panel is scaled to its own min..max unless `range` is given.
 * @example
 *   await channelImagesSpec(await channelMaps(feature, [0, 1, 2], (c) => `channel ${c}`), {columns: 3})
 */
export async function channelImagesSpec(maps: GridMap[], options: { title?: string | string[]; columns?: number; scheme?: 'viridis' | 'inferno' | 'greys'; panelSize?: number; range?: [number, number] } = {}): Promise<VegaLiteSpec> {
  checkRows(maps, 'channelImagesSpec');
  const { colormap, upscale, pngDataURL } = require('./image') as typeof import('./image');
  const titles = maps.map((m) => m.title);
  if (new Set(titles).size !== titles.length) throw new Error(`channelImagesSpec: panel titles must be unique (got ${titles.join(', ')})`);
  const h = Math.max(...maps.map((m) => m.height));
  const w = Math.max(...maps.map((m) => m.width));
  const size = options.panelSize ?? 120;
  const scale = size / Math.max(h, w);
  const values = [];
  for (const m of maps) {
    if (m.values.length !== m.height * m.width) {
      throw new Error(`channelImagesSpec: panel '${m.title}' has ${m.values.length} values, expected height·width = ${m.height}·${m.width} = ${m.height * m.width}`);
    }
    const f = Math.max(1, Math.floor(scale));
    const rgb = upscale(colormap(m.values, options.scheme ?? 'inferno', options.range), m.width, m.height, 3, f);
    values.push({ panel: m.title, url: await pngDataURL(rgb, m.width * f, m.height * f, 3) });
  }
  const pw = Math.round(w * scale); const ph = Math.round(h * scale);
  return {
    $schema: VEGA_LITE_SCHEMA,
    ...(options.title ? { title: options.title } : {}),
    data: { values },
    facet: { field: 'panel', type: 'nominal', sort: titles, title: null, header: { labelFontSize: 11 } },
    columns: options.columns ?? Math.min(maps.length, 4),
    spec: {
      width: pw,
      height: ph,
      mark: { type: 'image', width: pw, height: ph, aspect: false, aria: false, smooth: false },
      encoding: { url: { field: 'url', type: 'nominal' }, x: { value: pw / 2 }, y: { value: ph / 2 } },
    },
    config: { view: { stroke: null } },
  };
}
