/**
 * Figures for notebooks and reports: render a vega-lite spec to SVG and to PNG (sharp), save spec,
 * SVG and PNG under `runs/figures/`, and show it in the notebook (tslab) as one output carrying
 * image/png (shown by every client, also in an untrusted notebook), image/svg+xml, the interactive
 * vega-lite JSON and a text/plain line naming the saved files.
 */
import * as fs from 'fs';
import * as path from 'path';
import { renderSVG, VegaLiteSpec } from './vega';

export interface Figure {
  name: string;
  spec: VegaLiteSpec;
  svg: string;
  /** The SVG rendered to PNG at `pngInfo.density` dpi (72 dpi = the SVG's own size). */
  png: Buffer;
  /** Pixel size of the PNG, the SVG's size in CSS pixels (the size the notebook displays it at), and the density used. */
  pngInfo: { width: number; height: number; svgWidth: number; svgHeight: number; density: number };
  /** Where the files were written (absent when `save: false`). */
  files?: { spec: string; svg: string; png: string };
}

export interface FigureOptions {
  /** Folder for `<name>.vl.json`, `<name>.svg` and `<name>.png` (default `runs/figures`, relative to the working directory). */
  dir?: string;
  /** Write the files (default true). */
  save?: boolean;
  /**
   * PNG resolution in dpi, 72 being the SVG's own size (default 144: two device pixels per CSS pixel,
   * crisp text on high-density screens). Lowered automatically so that the PNG stays within `pngMaxPixels`.
   */
  pngDensity?: number;
  /** Most pixels (width·height) of the PNG (default 4 000 000); the density is lowered to fit, never below 72 dpi. */
  pngMaxPixels?: number;
  /**
   * Quantise the PNG to a 256-colour palette (default true): charts come out at about 40 % of the
   * true-colour size (training curves 283 → 115 kB, a 21-image Fig. 4 grid 821 → 279 kB). false keeps true colour.
   */
  pngPalette?: boolean;
}

function checkName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new Error(`figure name ${JSON.stringify(name)}: use letters, digits, '.', '_' and '-' (it becomes a file name)`);
  }
}

/** Width and height (CSS pixels) of an SVG from its root element's width/height attributes. */
export function svgSize(svg: string): { width: number; height: number } {
  const root = /<svg\b[^>]*>/.exec(svg)?.[0];
  const num = (attr: string) => Number(new RegExp(`\\s${attr}="([0-9.]+)(px)?"`).exec(root ?? '')?.[1]);
  const width = num('width'); const height = num('height');
  if (!root || !(width > 0) || !(height > 0)) throw new Error(`svgSize: the SVG has no numeric width/height on its root element (starts ${JSON.stringify(svg.slice(0, 80))})`);
  return { width, height };
}

/**
 * Render an SVG string to PNG with sharp (librsvg: text through fontconfig, <image> marks with
 * data: URLs included). `density` in dpi (72 = the SVG's size), lowered to keep width·height within
 * `maxPixels` (never below 72); `palette` (default true) quantises to 256 colours (libimagequant).
 * @example
 *   const { png, width } = await svgToPNG(await renderSVG(spec));   // width = 2 × the SVG's width
 */
export async function svgToPNG(svg: string, options: { density?: number; maxPixels?: number; palette?: boolean } = {}): Promise<{ png: Buffer; width: number; height: number; density: number }> {
  const { width, height } = svgSize(svg);
  let density = options.density ?? 144;
  if (!(density > 0)) throw new Error(`svgToPNG: density must be a positive number of dpi, got ${density}`);
  const maxPixels = options.maxPixels ?? 4e6;
  const pixels = (d: number) => (width * d / 72) * (height * d / 72);
  if (pixels(density) > maxPixels) density = Math.max(72, Math.floor(72 * Math.sqrt(maxPixels / (width * height))));
  const mod = require('sharp') as any; // sharp 0.35's types are ESM-only under node10 resolution
  const sharp = mod.default ?? mod;
  // limitInputPixels: vega figures are trusted local input; sharp's default limit would refuse very large figures
  const png: Buffer = await sharp(Buffer.from(svg), { density, limitInputPixels: false })
    .png(options.palette ?? true ? { palette: true, quality: 100, effort: 7, compressionLevel: 9 } : { compressionLevel: 9, adaptiveFiltering: true })
    .toBuffer();
  const meta = await sharp(png).metadata();
  return { png, width: meta.width, height: meta.height, density };
}

/**
 * Render `spec` to SVG and PNG and save `<dir>/<name>.vl.json`, `<dir>/<name>.svg`, `<dir>/<name>.png`.
 * @example
 *   const fig = await figure('heatmap', heatmapSpec(cells), {dir: 'runs/figures/03'});
 *   show(fig);   // in a notebook
 */
export async function figure(name: string, spec: VegaLiteSpec, options: FigureOptions = {}): Promise<Figure> {
  checkName(name);
  const svg = await renderSVG(spec);
  const size = svgSize(svg);
  const r = await svgToPNG(svg, { density: options.pngDensity, maxPixels: options.pngMaxPixels, palette: options.pngPalette });
  const fig: Figure = {
    name, spec, svg, png: r.png,
    pngInfo: { width: r.width, height: r.height, svgWidth: size.width, svgHeight: size.height, density: r.density },
  };
  if (options.save ?? true) {
    const dir = path.resolve(options.dir ?? path.join('runs', 'figures'));
    fs.mkdirSync(dir, { recursive: true });
    const files = { spec: path.join(dir, `${name}.vl.json`), svg: path.join(dir, `${name}.svg`), png: path.join(dir, `${name}.png`) };
    fs.writeFileSync(files.spec, JSON.stringify(spec, null, 1) + '\n');
    fs.writeFileSync(files.svg, svg);
    fs.writeFileSync(files.png, r.png);
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
 * The text/plain of a figure's output: its name and the PNG it was saved to (relative to the working
 * directory when below it, else absolute), with the other two files' extensions.
 */
export function figureText(fig: Figure): string {
  if (!fig.files) return `figure ${fig.name} (not saved)`;
  const rel = path.relative(process.cwd(), fig.files.png);
  const shown = rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel.split(path.sep).join('/') : fig.files.png;
  return `figure ${fig.name}: ${shown} (.svg, .vl.json)`;
}

/** The MIME bundle and metadata that `show` sends (exported for tests and for other front ends). */
export function figureBundle(fig: Figure, options: { interactive?: boolean } = {}): { data: Record<string, unknown>; metadata: Record<string, unknown> } {
  const data: Record<string, unknown> = {
    'image/png': fig.png.toString('base64'),
    'image/svg+xml': fig.svg,
    'text/plain': figureText(fig),
  };
  // the interactive copy duplicates the data: only for specs of modest size unless asked for
  if (options.interactive ?? JSON.stringify(fig.spec).length < 40000) {
    // JupyterLab's renderer takes this MIME type; our specs only use features vega-lite 5 has.
    data['application/vnd.vegalite.v5+json'] = { ...fig.spec, $schema: 'https://vega.github.io/schema/vega-lite/v5.json' };
  }
  // the PNG is rendered at pngInfo.density: display it at the SVG's size (crisp on high-density screens)
  const metadata = { 'image/png': { width: fig.pngInfo.svgWidth, height: fig.pngInfo.svgHeight } };
  return { data, metadata };
}

/**
 * Show a figure in the notebook: one display_data carrying image/png (shown by every client, in an
 * untrusted notebook too, and by GitHub), image/svg+xml, the vega-lite spec as
 * `application/vnd.vegalite.v5+json` (interactive in JupyterLab when trusted; by default only when the
 * spec is under 40 kB, as it duplicates the data) and a text/plain line naming the saved files.
 * A bare SVG string is shown as SVG only. Outside a notebook it prints the text/plain line.
 */
export function show(fig: Figure | string, options: { interactive?: boolean } = {}): void {
  const display = kernelDisplay();
  if (typeof fig === 'string') {
    if (!display) console.log(`[figure] ${fig.length} bytes of SVG`);
    else display({ data: { 'image/svg+xml': fig, 'text/plain': '<svg figure>' }, metadata: {}, transient: {} }, false);
    return;
  }
  if (!display) {
    console.log(`[${figureText(fig)}]`);
    return;
  }
  display({ ...figureBundle(fig, options), transient: {} }, false);
}

/**
 * Show HTML in the notebook (tables). `text` is the text/plain fallback, saying what the table is
 * (default 'table'); outside a notebook it is printed with the HTML's length.
 * @example
 *   showHTML(tableHTML(df), {text: 'Table 3: per-class IoU (%), 3 seeds'})
 */
export function showHTML(html: string, options: { text?: string } = {}): void {
  const display = kernelDisplay();
  const text = options.text ?? 'table';
  if (!display) {
    console.log(`[html] ${text} (${html.length} characters)`);
    return;
  }
  display({ data: { 'text/html': html, 'text/plain': text }, metadata: {}, transient: {} }, false);
}
