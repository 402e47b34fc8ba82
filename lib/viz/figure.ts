/**
 * Figures for notebooks and reports: render a vega-lite spec to SVG, save spec + SVG under
 * `runs/figures/`, and show it in the notebook (tslab) as SVG plus the interactive vega-lite JSON.
 */
import * as fs from 'fs';
import * as path from 'path';
import { renderSVG, VegaLiteSpec } from './vega';

export interface Figure {
  name: string;
  spec: VegaLiteSpec;
  svg: string;
  /** Where the files were written (absent when `save: false`). */
  files?: { spec: string; svg: string };
}

export interface FigureOptions {
  /** Folder for `<name>.vl.json` and `<name>.svg` (default `runs/figures`, relative to the working directory). */
  dir?: string;
  /** Write the files (default true). */
  save?: boolean;
}

function checkName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new Error(`figure name ${JSON.stringify(name)}: use letters, digits, '.', '_' and '-' (it becomes a file name)`);
  }
}

/**
 * Render `spec` to SVG and save `<dir>/<name>.vl.json` + `<dir>/<name>.svg`.
 * @example
 *   const fig = await figure('heatmap', heatmapSpec(cells), {dir: 'runs/figures/03'});
 *   show(fig);   // in a notebook
 */
export async function figure(name: string, spec: VegaLiteSpec, options: FigureOptions = {}): Promise<Figure> {
  checkName(name);
  const svg = await renderSVG(spec);
  const fig: Figure = { name, spec, svg };
  if (options.save ?? true) {
    const dir = path.resolve(options.dir ?? path.join('runs', 'figures'));
    fs.mkdirSync(dir, { recursive: true });
    const files = { spec: path.join(dir, `${name}.vl.json`), svg: path.join(dir, `${name}.svg`) };
    fs.writeFileSync(files.spec, JSON.stringify(spec, null, 1) + '\n');
    fs.writeFileSync(files.svg, svg);
    fig.files = files;
  }
  return fig;
}

type DisplayData = (msg: { data: Record<string, unknown>; metadata: Record<string, unknown>; transient: Record<string, unknown> }, update: boolean) => void;

/** tslab's display channel when running inside the tslab kernel, else null. */
function kernelDisplay(): DisplayData | null {
  try {
    // The kernel process loaded this very module (node_modules/tslab/dist/jupyter.js); outside a kernel it is null.
    const jupyter = require('tslab/dist/jupyter') as { lastWriteDisplayData: DisplayData | null };
    return jupyter.lastWriteDisplayData ?? null;
  } catch {
    return null;
  }
}

/** True inside a tslab kernel (a notebook), false in scripts and tests. */
export function inNotebook(): boolean {
  return kernelDisplay() !== null;
}

/**
 * Show a figure in the notebook: one output carrying the SVG (seen by every viewer: GitHub,
 * nbconvert HTML) and the vega-lite spec as `application/vnd.vegalite.v5+json` (interactive in
 * JupyterLab; by default only when the spec is under 40 kB, as it duplicates the data).
 * Outside a notebook it prints where the SVG was saved.
 */
export function show(fig: Figure | string, options: { interactive?: boolean } = {}): void {
  // the interactive copy duplicates the data: only for specs of modest size unless asked for
  const specBytes = typeof fig === 'string' ? 0 : JSON.stringify(fig.spec).length;
  const svg = typeof fig === 'string' ? fig : fig.svg;
  const display = kernelDisplay();
  if (!display) {
    console.log(typeof fig !== 'string' && fig.files ? `[figure] ${fig.name}: ${fig.files.svg}` : `[figure] ${svg.length} bytes of SVG`);
    return;
  }
  const data: Record<string, unknown> = { 'image/svg+xml': svg, 'text/plain': typeof fig === 'string' ? '<svg figure>' : `<figure ${fig.name}>` };
  if (typeof fig !== 'string' && (options.interactive ?? specBytes < 40000)) {
    // JupyterLab's renderer takes this MIME type; our specs only use features vega-lite 5 has.
    data['application/vnd.vegalite.v5+json'] = { ...fig.spec, $schema: 'https://vega.github.io/schema/vega-lite/v5.json' };
  }
  display({ data, metadata: {}, transient: {} }, false);
}

/** Show HTML in the notebook (tables); outside a notebook print its length. */
export function showHTML(html: string): void {
  const display = kernelDisplay();
  if (!display) {
    console.log(`[html] ${html.length} characters`);
    return;
  }
  display({ data: { 'text/html': html, 'text/plain': '<table>' }, metadata: {}, transient: {} }, false);
}
