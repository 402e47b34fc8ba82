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

/** The x (columns) and y (rows) encodings of a grid of cells: the heatmaps' shared axes. */
function gridAxes(xs: string[], ys: string[], options: { xTitle?: string; yTitle?: string }): Record<string, unknown> {
  return {
    x: { field: 'x', type: 'ordinal', sort: xs, title: options.xTitle ?? 'x', axis: { labelAngle: 0 } },
    y: { field: 'y', type: 'ordinal', sort: ys, title: options.yTitle ?? 'y' },
  };
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
  /**
   * Colour domain [lo, hi] (default: the values' min..max, or symmetric around 0 when `diverging`).
   * Give a fixed range so that a spread within the noise is not painted as structure.
   */
  domain?: [number, number];
  /**
   * Signed values: a diverging scheme ('redblue' unless `scheme` is given) centred on 0, with a
   * symmetric domain ±max |value| unless `domain` is given.
   */
  diverging?: boolean;
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
  if (options.domain && !(options.domain.length === 2 && options.domain[0] < options.domain[1])) {
    throw new Error(`heatmapSpec: domain must be [lo, hi] with lo < hi, got ${JSON.stringify(options.domain)}`);
  }
  const domain = options.domain ?? (options.diverging ? deltaDomain(finite, 0) : undefined);
  // the cell text is white on the dark end(s) of the scale
  let textTest: string;
  if (options.diverging) {
    const half = domain ? Math.max(Math.abs(domain[0]), Math.abs(domain[1])) : 0;
    textTest = `abs(datum.value) > ${0.55 * half}`;
  } else {
    const lo = domain ? domain[0] : finite.length ? Math.min(...finite) : 0;
    const hi = domain ? domain[1] : finite.length ? Math.max(...finite) : 0;
    textTest = `datum.value < ${(lo + hi) / 2}`;
  }
  return {
    $schema: VEGA_LITE_SCHEMA,
    ...(options.title ? { title: options.title } : {}),
    data: { values },
    width: size * xs.length,
    height: size * ys.length,
    encoding: gridAxes(xs, ys, options),
    layer: [
      {
        mark: { type: 'rect', stroke: 'white' },
        encoding: {
          color: {
            field: 'value', type: 'quantitative', title: options.valueTitle ?? 'value',
            scale: {
              scheme: options.scheme ?? (options.diverging ? 'redblue' : 'viridis'),
              ...(domain ? { domain, clamp: true } : {}),
              ...(options.diverging ? { domainMid: 0 } : {}),
            },
          },
          tooltip: [{ field: 'x' }, { field: 'y' }, { field: 'value', format: fmt }],
        },
      },
      {
        mark: { type: 'text', fontSize: 11 },
        transform: [{ filter: 'datum.value != null' }],
        encoding: {
          text: { field: 'value', type: 'quantitative', format: fmt },
          color: { condition: { test: textTest, value: 'white' }, value: 'black' },
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

export interface ImageGridOptions {
  title?: string;
  /** Panel size in px before fitting to maxWidth (an image's own aspect: width/height). */
  width: number;
  height: number;
  /**
   * Widest the whole figure may be, row labels included (default 1000 px, a notebook's text column):
   * panels are scaled down, keeping their aspect, so that every column fits. Infinity turns it off.
   */
  maxWidth?: number;
  /** Space between panels in px (default 6). */
  spacing?: number;
}

/** The panel size imageGridSpec uses for `columns` columns and row labels of up to `rowLabelChars` characters. */
export function imageGridPanelSize(columns: number, rowLabelChars: number, options: ImageGridOptions): { width: number; height: number; scale: number } {
  const maxWidth = options.maxWidth ?? 1000;
  const spacing = options.spacing ?? 6;
  if (!(options.width > 0 && options.height > 0)) throw new Error(`imageGridSpec: width and height must be positive, got ${options.width}×${options.height}`);
  // row labels (horizontal text left of the grid) + their padding + the gaps between columns
  // (vega lays text out with its estimate of 0.8 × font size per character when there is no canvas, as in Node)
  const rowLabels = rowLabelChars > 0 ? Math.ceil(rowLabelChars * VEGA_CHAR_PX_11) + 12 : 0;
  const avail = maxWidth - rowLabels - (columns - 1) * spacing - 2;
  const scale = Math.min(1, avail / (columns * options.width));
  if (!(scale > 0)) throw new Error(`imageGridSpec: maxWidth ${maxWidth} px leaves no room for ${columns} columns (row labels need ~${rowLabels} px)`);
  return { width: Math.floor(options.width * scale), height: Math.floor(options.height * scale), scale };
}

/**
 * A grid of images (rows × columns), e.g. Fig. 4: image, ground truth and predictions, colourised.
 * Panels are scaled down (aspect kept) so that the figure is at most `maxWidth` wide (default 1000 px);
 * column titles wrap to the panel width.
 * @example
 *   imageGridSpec([{row: 'frame 1', column: 'image', url: 'data:image/png;base64,…'}], {width: 256, height: 128})
 */
export function imageGridSpec(panels: ImagePanel[], options: ImageGridOptions): VegaLiteSpec {
  checkRows(panels, 'imageGridSpec');
  panels.forEach((p, i) => {
    if (typeof p.url !== 'string' || p.url.length === 0) throw new Error(`imageGridSpec: panel ${i} (${p.row} / ${p.column}) has no url`);
  });
  const columns = [...new Set(panels.map((p) => p.column))];
  const rows = [...new Set(panels.map((p) => p.row))];
  const { width, height } = imageGridPanelSize(columns.length, Math.max(...rows.map((r) => r.length)), options);
  const maxChars = Math.max(6, Math.floor((width + (options.spacing ?? 6)) / (12 / 11 * VEGA_CHAR_PX_11)));
  const wrapped = (c: string) => wrapText(c, maxChars).join('\n');
  return {
    $schema: VEGA_LITE_SCHEMA,
    ...(options.title ? { title: options.title } : {}),
    data: { values: panels.map((p) => ({ column: wrapped(p.column), row: p.row, url: p.url })) },
    facet: {
      row: { field: 'row', type: 'nominal', sort: rows, title: null, header: { labelAngle: 0, labelAlign: 'left', labelFontSize: 11, labelLimit: 0 } },
      column: {
        field: 'column', type: 'nominal', sort: columns.map(wrapped), title: null,
        header: { labelFontSize: 12, labelLimit: 0, labelExpr: "split(datum.label, '\\n')", labelLineHeight: 14 },
      },
    },
    spacing: options.spacing ?? 6,
    spec: {
      width,
      height,
      mark: { type: 'image', width, height, aspect: false, aria: false, smooth: false },
      encoding: {
        url: { field: 'url', type: 'nominal' },
        x: { value: width / 2 },
        y: { value: height / 2 },
      },
    },
    config: { view: { stroke: null } },
  };
}

/**
 * Break `text` into lines of at most `maxChars` characters at spaces (a word longer than that keeps
 * its own line): panel titles are wrapped, never truncated.
 */
export function wrapText(text: string, maxChars: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > maxChars) { lines.push(line); line = word; } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.length ? lines : [''];
}

/** Approximate width of a character at font size 11 in the sans-serif vega uses (DejaVu Sans / Helvetica). */
const CHAR_PX_11 = 6.6;
/** The width per character at font size 11 that vega's layout assumes in Node (no canvas: 0.8 × font size). */
const VEGA_CHAR_PX_11 = 8.8;

export interface ChannelImagesOptions {
  /** Figure title; an array gives several lines. */
  title?: string | string[];
  /** Panels per row (default min(panels, 4)). */
  columns?: number;
  /** Colour map (see COLORMAPS); 'rdbu' is diverging, for signed maps: centred on 0 with a symmetric range. */
  scheme?: 'viridis' | 'inferno' | 'greys' | 'rdbu';
  /** Longest side of a panel in px (default 120). */
  panelSize?: number;
  /**
   * Colour range: [lo, hi] for every panel, 'shared' for the min..max over all panels, or absent for
   * each panel's own min..max (no colour bar then, and the subtitle says so). With 'rdbu' the range is
   * made symmetric around 0 (±max |lo|, |hi|), and absent means 'shared'.
   */
  range?: [number, number] | 'shared';
  /** Title of the colour bar (default 'value'). */
  valueTitle?: string;
  /** d3-format of the colour bar's tick labels (default: vega's). */
  format?: string;
}

/** The colour range channelImagesSpec uses, or null for per-panel scaling. */
export function channelImagesRange(maps: GridMap[], options: Pick<ChannelImagesOptions, 'range' | 'scheme'> = {}): [number, number] | null {
  const diverging = options.scheme === 'rdbu';
  let range: [number, number] | null = null;
  if (Array.isArray(options.range)) {
    const [lo, hi] = options.range;
    if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo < hi)) throw new Error(`channelImagesSpec: range must be [lo, hi] with lo < hi, got ${JSON.stringify(options.range)}`);
    range = [lo, hi];
  } else if (options.range === 'shared' || (diverging && options.range === undefined)) {
    let lo = Infinity; let hi = -Infinity;
    for (const m of maps) for (let i = 0; i < m.values.length; i++) { const v = m.values[i]; if (Number.isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; } }
    if (lo === Infinity) throw new Error('channelImagesSpec: no finite value in any panel');
    range = lo < hi ? [lo, hi] : [lo - 1, hi + 1];
  } else if (options.range !== undefined) {
    throw new Error(`channelImagesSpec: range must be [lo, hi] or 'shared', got ${JSON.stringify(options.range)}`);
  }
  if (range && diverging) {
    const m = Math.max(Math.abs(range[0]), Math.abs(range[1])) || 1;
    range = [-m, m];
  }
  return range;
}

/**
 * Channel maps as colour-mapped images in a grid (compact SVG for large maps: one <image> per panel
 * instead of one rect per pixel). With a shared range (`range: [lo, hi]` or 'shared', and always with
 * the diverging 'rdbu') every panel uses the same colours and a colour bar with tick values sits under
 * the grid; without one, each panel is scaled to its own min..max and the subtitle says so. Panel
 * titles are wrapped to the panel width, never truncated.
 * @example
 *   await channelImagesSpec(await channelMaps(feature, [0, 1, 2], (c) => `channel ${c}`), {columns: 3, range: 'shared'})
 */
export async function channelImagesSpec(maps: GridMap[], options: ChannelImagesOptions = {}): Promise<VegaLiteSpec> {
  checkRows(maps, 'channelImagesSpec');
  const { colormap, upscale, pngDataURL, COLORMAPS } = require('./image') as typeof import('./image');
  const titles = maps.map((m) => m.title);
  if (new Set(titles).size !== titles.length) throw new Error(`channelImagesSpec: panel titles must be unique (got ${titles.join(', ')})`);
  const scheme = options.scheme ?? 'inferno';
  if (!COLORMAPS[scheme]) throw new Error(`channelImagesSpec: unknown scheme '${scheme}' (use ${Object.keys(COLORMAPS).join(', ')})`);
  for (const m of maps) {
    if (m.values.length !== m.height * m.width) {
      throw new Error(`channelImagesSpec: panel '${m.title}' has ${m.values.length} values, expected height·width = ${m.height}·${m.width} = ${m.height * m.width}`);
    }
  }
  const range = channelImagesRange(maps, options);
  const h = Math.max(...maps.map((m) => m.height));
  const w = Math.max(...maps.map((m) => m.width));
  const size = options.panelSize ?? 120;
  const scale = size / Math.max(h, w);
  const pw = Math.round(w * scale); const ph = Math.round(h * scale);
  const maxChars = Math.max(8, Math.floor((pw + 16) / CHAR_PX_11)); // a header may overhang the panel a little
  const values = [];
  for (const m of maps) {
    const f = Math.max(1, Math.floor(scale));
    const rgb = upscale(colormap(m.values, scheme, range ?? undefined), m.width, m.height, 3, f);
    values.push({ panel: m.title, header: wrapText(m.title, maxChars).join('\n'), url: await pngDataURL(rgb, m.width * f, m.height * f, 3) });
  }
  const columns = options.columns ?? Math.min(maps.length, 4);
  const grid = {
    data: { values },
    facet: {
      field: 'header', type: 'nominal', sort: values.map((v) => v.header), title: null,
      header: { labelFontSize: 11, labelExpr: "split(datum.label, '\\n')", labelLimit: 0, labelLineHeight: 13, labelPadding: 4 },
    },
    columns,
    spec: {
      width: pw,
      height: ph,
      mark: { type: 'image', width: pw, height: ph, aspect: false, aria: false, smooth: false },
      encoding: { url: { field: 'url', type: 'nominal' }, x: { value: pw / 2 }, y: { value: ph / 2 } },
    },
  };
  const titleLines = options.title === undefined ? [] : Array.isArray(options.title) ? options.title : [options.title];
  const perPanel = 'each panel scaled to its own min … max (no shared colour scale)';
  let title: Record<string, unknown> = {};
  if (titleLines.length) title = { title: { text: titleLines, ...(range ? {} : { subtitle: perPanel }) } };
  else if (!range) title = { title: { text: perPanel, fontSize: 11, fontWeight: 'normal' } };
  if (!range) {
    return { $schema: VEGA_LITE_SCHEMA, ...title, ...grid, config: { view: { stroke: null } } };
  }
  // the colour bar: 64 steps of the colour map over [lo, hi], with a quantitative axis for the ticks
  const steps = 64;
  const stepValues = Array.from({ length: steps }, (_, i) => range[0] + ((i + 0.5) / steps) * (range[1] - range[0]));
  const rgb = colormap(stepValues, scheme, range);
  const bar = Array.from({ length: steps }, (_, i) => ({
    lo: range[0] + (i / steps) * (range[1] - range[0]),
    hi: range[0] + ((i + 1) / steps) * (range[1] - range[0]),
    colour: `rgb(${rgb[i * 3]},${rgb[i * 3 + 1]},${rgb[i * 3 + 2]})`,
  }));
  const barWidth = Math.min(Math.max(160, Math.round(0.6 * (Math.min(columns, maps.length) * (pw + 20)))), 360);
  const colourBar = {
    data: { values: bar },
    width: barWidth,
    height: 10,
    mark: { type: 'rect', aria: false },
    encoding: {
      x: {
        field: 'lo', type: 'quantitative', scale: { domain: range, nice: false, zero: false },
        axis: { title: options.valueTitle ?? 'value', tickCount: 5, ...(options.format ? { format: options.format } : {}), grid: false },
      },
      x2: { field: 'hi' },
      color: { field: 'colour', type: 'nominal', scale: null, legend: null },
      stroke: { field: 'colour', type: 'nominal', scale: null, legend: null }, // no seams between the steps
    },
  };
  return {
    $schema: VEGA_LITE_SCHEMA,
    ...title,
    vconcat: [grid, colourBar],
    spacing: 12,
    config: { view: { stroke: null } },
  };
}

export interface DeltaBarRow {
  /** The method or ablation, e.g. 'CWD'; shown as 'CWD (n=3)'. Unique within a group. */
  label: string;
  /** Δ against the baseline, e.g. mIoU − baseline mIoU in points. */
  delta: number;
  /** The seed standard deviation of Δ (0 or NaN with one seed: no error bar). */
  std: number;
  /** Seeds behind the mean. */
  n: number;
  /** e.g. 'Table 2', 'Table 4': the bars' colour (a legend only with two groups or more). */
  group?: string;
}

export interface DeltaBarOptions {
  title?: string;
  /** x axis title (default 'Δ vs baseline'). */
  xTitle?: string;
  /** Shade ±threshold as "within noise" (e.g. the baseline's seed spread). */
  threshold?: number;
  /** Sort bars by Δ, largest on top (default false: the order given). */
  sort?: boolean;
  width?: number;
  /** Total height (default 26 px per bar). */
  height?: number;
  /** d3-format of the values written beside the bars (default '+.2f'). */
  format?: string;
}

/** d3-format without a forced sign (for ± values). */
function unsigned(format: string): string {
  return format.replace(/^([^0-9.,]?[<>=^])?\+/, '$1');
}

/**
 * Δ against a baseline as horizontal bars: seed-std error bars (Δ ± std), a zero rule, and a grey
 * band ±threshold labelled "within noise"; each bar labelled with its seed count and its value
 * ('+0.12 ± 0.20'). Groups (e.g. Table 2 / Table 4) are colours; a legend only when there are several.
 * Layers are named (`band`, `bars`, `errorbars`, `zero`, `values`) for tests and restyling.
 * @example
 *   deltaBarSpec([{label: 'CWD', delta: 1.1, std: 0.4, n: 3}, {label: 'AT', delta: -0.2, std: 0.5, n: 3}],
 *     {title: 'mIoU − student (points)', threshold: 0.5})
 */
export function deltaBarSpec(rows: DeltaBarRow[], options: DeltaBarOptions = {}): VegaLiteSpec {
  checkRows(rows, 'deltaBarSpec');
  const fmt = options.format ?? '+.2f';
  const seen = new Set<string>();
  const values = rows.map((r, i) => {
    checkFinite(r.delta, 'deltaBarSpec', i, 'delta');
    if (!Number.isFinite(r.delta)) throw new Error(`deltaBarSpec: row ${i} (${r.label}) has delta=${r.delta}, expected a finite number`);
    if (!Number.isInteger(r.n) || r.n < 1) throw new Error(`deltaBarSpec: row ${i} (${r.label}) has n=${r.n}, expected the number of seeds (≥ 1)`);
    if (typeof r.std !== 'number' || r.std < 0) throw new Error(`deltaBarSpec: row ${i} (${r.label}) has std=${r.std}, expected ≥ 0 (or NaN for one seed)`);
    const display = `${r.label} (n=${r.n})`;
    const key = `${r.group ?? ''}\u0000${display}`;
    if (seen.has(key)) throw new Error(`deltaBarSpec: label '${display}'${r.group ? ` in group '${r.group}'` : ''} appears twice`);
    seen.add(key);
    const std = Number.isFinite(r.std) ? r.std : 0;
    return { label: r.label, display, delta: r.delta, std, lo: r.delta - std, hi: r.delta + std, n: r.n, group: r.group ?? '' };
  });
  if (new Set(values.map((v) => v.display)).size !== values.length) {
    // the same label in two groups: tell them apart on the axis
    values.forEach((v) => { if (v.group) v.display = `${v.label} · ${v.group} (n=${v.n})`; });
  }
  const order = (options.sort ? values.slice().sort((a, b) => b.delta - a.delta) : values).map((v) => v.display);
  const groups = [...new Set(values.map((v) => v.group))];
  const t = options.threshold;
  if (t !== undefined && !(t > 0 && Number.isFinite(t))) throw new Error(`deltaBarSpec: threshold must be a positive number, got ${t}`);
  const y = { field: 'display', type: 'nominal', sort: order, title: null, axis: { labelLimit: 400 } };
  const color = groups.length > 1
    ? { field: 'group', type: 'nominal', sort: groups, legend: { title: null, orient: 'bottom' } }
    : { value: '#4c78a8' };
  const layer: Record<string, unknown>[] = [];
  if (t !== undefined) {
    layer.push({
      name: 'band',
      data: { values: [{ lo: -t, hi: t, label: 'within noise' }] },
      layer: [
        { mark: { type: 'rect', color: '#bbbbbb', opacity: 0.3 }, encoding: { x: { field: 'lo', type: 'quantitative' }, x2: { field: 'hi' } } },
        {
          // above the plot area, over the band's centre
          mark: { type: 'text', baseline: 'bottom', dy: -3, fontSize: 10, color: '#555555' },
          encoding: { x: { datum: 0, type: 'quantitative' }, y: { value: 0 }, text: { value: `within noise (±${unsignedNumber(t)})` } },
        },
      ],
    });
  }
  layer.push(
    {
      name: 'bars',
      mark: { type: 'bar', height: { band: 0.6 } },
      encoding: {
        y, x: { field: 'delta', type: 'quantitative', title: options.xTitle ?? 'Δ vs baseline' }, color,
        tooltip: [{ field: 'label' }, { field: 'group' }, { field: 'delta', format: fmt }, { field: 'std', format: unsigned(fmt) }, { field: 'n' }],
      },
    },
    {
      name: 'errorbars',
      transform: [{ filter: 'datum.std > 0' }],
      mark: { type: 'rule', color: 'black', strokeWidth: 1.5 },
      encoding: { y, x: { field: 'lo', type: 'quantitative' }, x2: { field: 'hi' } },
    },
    {
      name: 'zero',
      data: { values: [{ zero: 0 }] },
      mark: { type: 'rule', color: 'black', strokeWidth: 1 },
      encoding: { x: { field: 'zero', type: 'quantitative' } },
    },
    {
      name: 'values',
      transform: [
        { calculate: `format(datum.delta, '${fmt}') + (datum.std > 0 ? ' ± ' + format(datum.std, '${unsigned(fmt)}') : '')`, as: 'text' },
        { calculate: 'max(datum.hi, 0)', as: 'at' },
      ],
      mark: { type: 'text', align: 'left', dx: 4, fontSize: 10 },
      encoding: { y, x: { field: 'at', type: 'quantitative' }, text: { field: 'text' } },
    },
  );
  return {
    $schema: VEGA_LITE_SCHEMA,
    ...(options.title ? { title: t !== undefined ? { text: options.title, offset: 16 } : options.title } : {}),
    data: { values },
    width: options.width ?? 420,
    height: options.height ?? Math.max(60, 26 * values.length),
    layer,
    config: { axisY: { labelFontSize: 11 } },
  };
}

function unsignedNumber(v: number): string {
  return Number(v.toPrecision(3)).toString();
}

export interface DeltaCell {
  x: string | number;
  y: string | number;
  /** Δ against the baseline (mean over seeds); null / NaN: a cell not run. */
  delta: number | null;
  /** Seed standard deviation of Δ (absent or NaN with one seed). */
  std?: number;
  /** Seeds behind the mean. */
  n: number;
}

export interface DeltaHeatmapOptions {
  title?: string;
  xTitle?: string;
  yTitle?: string;
  xOrder?: (string | number)[];
  yOrder?: (string | number)[];
  /** d3-format of Δ in the cells (default '+.2f'; the ± part uses it without the sign). */
  format?: string;
  /** Cell size in px, one number (square) or [width, height] (default [96, 40], room for '+0.12 ± 0.20'). */
  cellSize?: number | [number, number];
  /**
   * Smallest half-range of the colour scale (default 1, in Δ's unit): the domain is
   * ±max(minRange, max |Δ|), so differences below minRange stay pale instead of being painted as structure.
   */
  minRange?: number;
  /** Legend title (default 'Δ'). */
  valueTitle?: string;
  /** Diverging vega scheme (default 'redblue': red below 0, blue above). */
  scheme?: string;
}

/** The colour domain of a Δ heatmap: symmetric around 0, ±max(minRange, max |Δ|). */
export function deltaDomain(deltas: (number | null)[], minRange = 1): [number, number] {
  let m = minRange;
  for (const d of deltas) if (d !== null && Number.isFinite(d)) m = Math.max(m, Math.abs(d));
  return [-m, m];
}

/**
 * Heatmap of Δ against a baseline (e.g. the Fig. 3 grid minus the student): a diverging colour scale
 * centred on 0 with a symmetric domain (±max |Δ|, at least ±minRange), each cell written as
 * '+0.12 ± 0.20', and a subtitle stating the seeds per cell and the colour range.
 * @example
 *   deltaHeatmapSpec([{x: 4, y: 3, delta: 0.4, std: 0.3, n: 3}], {xTitle: 'temperature T', yTitle: 'α'})
 */
export function deltaHeatmapSpec(cells: DeltaCell[], options: DeltaHeatmapOptions = {}): VegaLiteSpec {
  checkRows(cells, 'deltaHeatmapSpec');
  const values = cells.map((c, i) => {
    if (c.delta !== null) checkFinite(c.delta, 'deltaHeatmapSpec', i, 'delta');
    if (!Number.isInteger(c.n) || c.n < 0) throw new Error(`deltaHeatmapSpec: row ${i} (x=${c.x}, y=${c.y}) has n=${c.n}, expected the number of seeds`);
    const delta = c.delta === null || Number.isNaN(c.delta) ? null : c.delta;
    const std = c.std !== undefined && Number.isFinite(c.std) && c.n > 1 ? c.std : null;
    return { x: String(c.x), y: String(c.y), delta, std, n: c.n };
  });
  const uniq = (a: (string | number)[]) => [...new Set(a.map(String))];
  const xs = options.xOrder ? uniq(options.xOrder) : uniq(cells.map((c) => c.x));
  const ys = options.yOrder ? uniq(options.yOrder) : uniq(cells.map((c) => c.y));
  const [cw, ch] = Array.isArray(options.cellSize) ? options.cellSize : options.cellSize ? [options.cellSize, options.cellSize] : [96, 40];
  const fmt = options.format ?? '+.2f';
  const minRange = options.minRange ?? 1;
  if (!(minRange >= 0)) throw new Error(`deltaHeatmapSpec: minRange must be ≥ 0, got ${minRange}`);
  const domain = deltaDomain(values.map((v) => v.delta), minRange);
  if (domain[1] === 0) domain[1] = 1, domain[0] = -1; // every Δ is 0 and minRange 0: any non-empty range
  const run = values.filter((v) => v.delta !== null).map((v) => v.n);
  const nMin = run.length ? Math.min(...run) : 0; const nMax = run.length ? Math.max(...run) : 0;
  const seeds = nMin === nMax ? `${nMin} seed${nMin === 1 ? '' : 's'} per cell` : `${nMin}–${nMax} seeds per cell`;
  const empty = values.length - run.length;
  const subtitle = `${seeds}${nMax <= 1 ? ' (no error estimate)' : ', ± = seed std'} · colour ±${Number(domain[1].toPrecision(3))}${empty ? ` · ${empty} cell${empty === 1 ? '' : 's'} not run` : ''}`;
  const sfmt = unsigned(fmt);
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: { text: options.title ?? 'Δ vs baseline', subtitle },
    data: { values },
    width: cw * xs.length,
    height: ch * ys.length,
    encoding: gridAxes(xs, ys, options),
    layer: [
      {
        name: 'cells',
        mark: { type: 'rect', stroke: 'white' },
        encoding: {
          color: {
            field: 'delta', type: 'quantitative', title: options.valueTitle ?? 'Δ',
            scale: { scheme: options.scheme ?? 'redblue', domain, domainMid: 0 },
          },
          tooltip: [{ field: 'x' }, { field: 'y' }, { field: 'delta', format: fmt }, { field: 'std', format: sfmt }, { field: 'n' }],
        },
      },
      {
        name: 'empty',
        transform: [{ filter: 'datum.delta == null' }],
        mark: { type: 'rect', stroke: 'white', color: '#eeeeee' },
      },
      {
        name: 'labels',
        transform: [{
          calculate: `datum.delta == null ? 'not run' : format(datum.delta, '${fmt}') + (datum.std != null ? ' ± ' + format(datum.std, '${sfmt}') : '')`,
          as: 'label',
        }],
        mark: { type: 'text', fontSize: 11 },
        encoding: {
          text: { field: 'label' },
          color: { condition: { test: `datum.delta != null && abs(datum.delta) > ${0.55 * domain[1]}`, value: 'white' }, value: 'black' },
        },
      },
    ],
  };
}
