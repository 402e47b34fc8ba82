/**
 * Loading vega / vega-lite 6 from CommonJS, and rendering a vega-lite spec to SVG in Node.
 *
 * vega and vega-lite 6 are ESM-only and have a top-level await in their module graph, so
 * `require('vega-lite')` fails on Node 20 (ERR_REQUIRE_ASYNC_MODULE). A dynamic `import()` works,
 * but TypeScript compiling to CommonJS (tsc, tsx in CJS mode, and tslab for notebook cells and the
 * library files they import) rewrites `import('x')` into `require('x')`. The import below is built
 * with `new Function`, which no compiler rewrites, so it stays a real dynamic import everywhere
 * (verified under tsx, plain Node and inside the tslab kernel).
 */

/** A vega-lite specification (kept structural: vega-lite's own types are ESM-only). */
export type VegaLiteSpec = Record<string, unknown>;

// a real import() that TypeScript's CommonJS output does not turn into require() (vega-lite is ESM-only)
const dynamicImport = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<any>;

export interface VegaModules {
  vega: any;
  vegaLite: any;
}

let loaded: Promise<VegaModules> | null = null;

/** vega and vega-lite, loaded once with a real dynamic import. */
export function loadVega(): Promise<VegaModules> {
  if (!loaded) {
    loaded = Promise.all([dynamicImport('vega'), dynamicImport('vega-lite')]).then(([vega, vegaLite]) => ({ vega, vegaLite }));
    loaded.catch(() => { loaded = null; });
  }
  return loaded;
}

/**
 * Compile a vega-lite spec and render it to an SVG string (vega View, renderer 'none').
 * @example
 *   const svg = await renderSVG({data: {values: [{x: 'a', y: 1}]}, mark: 'bar',
 *     encoding: {x: {field: 'x', type: 'nominal'}, y: {field: 'y', type: 'quantitative'}}});
 *   svg.startsWith('<svg')  // true
 */
export async function renderSVG(spec: VegaLiteSpec): Promise<string> {
  const { vega, vegaLite } = await loadVega();
  let compiled: any;
  try {
    compiled = vegaLite.compile(spec as any).spec;
  } catch (e) {
    throw new Error(`renderSVG: vega-lite could not compile the spec: ${(e as Error).message}`);
  }
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
