import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { deltaBarSpec, deltaHeatmapSpec, deltaDomain, heatmapSpec, renderSVG, loadVega, VegaLiteSpec } from '../../lib/viz';

/** Run a spec through vega (renderer 'none') and return the scenegraph items of each named mark plus the view. */
async function scene(spec: VegaLiteSpec): Promise<{ view: any; items: (name: string) => any[]; all: () => any[] }> {
  const { vega, vegaLite } = await loadVega();
  const view = new vega.View(vega.parse(vegaLite.compile(spec as any).spec), { renderer: 'none' });
  await view.runAsync();
  const found: Record<string, any[]> = {};
  const walk = (node: any) => {
    if (!node) return;
    if (node.marktype && node.name) (found[node.name] ??= []).push(...(node.items ?? []));
    for (const item of node.items ?? []) if (item.items) for (const child of item.items) walk(child);
  };
  walk(view.scenegraph().root);
  return { view, items: (name) => found[name] ?? [], all: () => Object.values(found).flat() };
}

const rows = [
  { label: 'CWD', delta: 1.11, std: 0.4, n: 3, group: 'Table 2' },
  { label: 'AT', delta: -0.2, std: 0.5, n: 3, group: 'Table 2' },
  { label: 'KL reverse', delta: 0.3, std: 0.35, n: 3, group: 'Table 4' },
  { label: 'spatial', delta: -1.4, std: NaN, n: 1, group: 'Table 4' },
];

test('deltaBarSpec: error bars span Δ ± std in the rendered scene, zero rule at 0, labels carry n', async () => {
  const spec = deltaBarSpec(rows, { threshold: 0.5, title: 'mIoU − student' }) as any;
  const { view, items, all } = await scene(spec);
  const x = view.scale('x');
  // the noise band: a rect from x(−0.5) to x(0.5)
  const band = all().filter((it) => it.datum?.label === 'within noise' && it.mark.marktype === 'rect');
  assert.is(band.length, 1);
  assert.ok(Math.abs(band[0].x - x(-0.5)) < 1e-6 && Math.abs(band[0].x + band[0].width - x(0.5)) < 1e-6, `band ${band[0].x} + ${band[0].width}`);
  const bars = items('bars_marks');
  const errs = items('errorbars_marks');
  assert.is(bars.length, 4);
  assert.is(errs.length, 3, 'no error bar for the single-seed row');
  for (const r of rows.filter((r) => r.n > 1)) {
    const e = errs.find((it) => it.datum.label === r.label);
    assert.ok(e, r.label);
    const [lo, hi] = [Math.min(e.x, e.x2), Math.max(e.x, e.x2)];
    assert.ok(Math.abs(lo - x(r.delta - r.std)) < 1e-6 && Math.abs(hi - x(r.delta + r.std)) < 1e-6, `${r.label}: rule ${lo}..${hi}`);
    const b = bars.find((it) => it.datum.label === r.label);
    // the bar runs from 0 to Δ
    const bx = [b.x, b.x + b.width].sort((p, q) => p - q);
    const want = [x(0), x(r.delta)].sort((p, q) => p - q);
    assert.ok(Math.abs(bx[0] - want[0]) < 1e-6 && Math.abs(bx[1] - want[1]) < 1e-6, `${r.label}: bar ${bx} vs ${want}`);
  }
  const zero = items('zero_marks');
  assert.is(zero.length, 1);
  assert.ok(Math.abs(zero[0].x - x(0)) < 1e-6);
  const svg = await renderSVG(spec);
  for (const t of ['CWD (n=3)', 'spatial (n=1)', 'within noise (±0.5)', '+1.11 ± 0.40', '−1.40', 'Table 2', 'Table 4']) assert.ok(svg.includes(`>${t}<`), `missing text ${t}`);
  assert.not.ok(svg.includes('−1.40 ±'), 'one seed: no ± written');
  assert.equal(spec.layer[1].encoding.y.sort, ['CWD (n=3)', 'AT (n=3)', 'KL reverse (n=3)', 'spatial (n=1)']);
});

test('deltaBarSpec: band, sorting, one group means no legend, bad rows are clear errors', async () => {
  const spec = deltaBarSpec(rows.map(({ group: _g, ...r }) => r), { sort: true }) as any;
  assert.equal(spec.layer[0].encoding.y.sort, ['CWD (n=3)', 'KL reverse (n=3)', 'AT (n=3)', 'spatial (n=1)']);
  assert.equal(spec.layer[0].encoding.color, { value: '#4c78a8' }, 'one group: a fixed colour, no legend');
  assert.is(spec.layer.find((l: any) => l.name === 'band'), undefined, 'no threshold: no band');
  const svg = await renderSVG(spec);
  assert.not.ok(svg.includes('role-legend'), 'no legend');
  const banded = deltaBarSpec(rows, { threshold: 0.25 }) as any;
  assert.equal(banded.layer[0].data.values[0], { lo: -0.25, hi: 0.25, label: 'within noise' });
  assert.ok((await renderSVG(banded)).includes('role-legend'), 'two groups: a legend');
  assert.throws(() => deltaBarSpec([{ label: 'a', delta: NaN, std: 0, n: 3 }]), /row 0 has delta=NaN/);
  assert.throws(() => deltaBarSpec([{ label: 'a', delta: 1, std: 0, n: 0 }]), /row 0 \(a\) has n=0/);
  assert.throws(() => deltaBarSpec([{ label: 'a', delta: 1, std: -1, n: 2 }]), /std=-1, expected ≥ 0/);
  assert.throws(() => deltaBarSpec([{ label: 'a', delta: 1, std: 0, n: 2 }, { label: 'a', delta: 2, std: 0, n: 2 }]), /'a \(n=2\)' appears twice/);
  assert.throws(() => deltaBarSpec(rows, { threshold: -1 }), /threshold must be a positive number/);
  // the same label in two groups is told apart
  const two = deltaBarSpec([{ label: 'CWD', delta: 1, std: 0, n: 3, group: 'T2' }, { label: 'CWD', delta: 2, std: 0, n: 3, group: 'T4' }]) as any;
  assert.equal(two.layer[0].encoding.y.sort, ['CWD · T2 (n=3)', 'CWD · T4 (n=3)']);
});

const grid = [
  { x: 1, y: 1, delta: 0.5, std: 0.25, n: 3 }, { x: 4, y: 1, delta: -0.58, std: 0.45, n: 3 },
  { x: 1, y: 3, delta: 0.08, std: 0.2, n: 3 }, { x: 4, y: 3, delta: null, n: 0 },
];

test('deltaHeatmapSpec: symmetric domain ⊇ every Δ, at least ±minRange, centred on 0; cells read "+0.12 ± 0.20"', async () => {
  const spec = deltaHeatmapSpec(grid, { xTitle: 'T', yTitle: 'α' }) as any;
  const scale = spec.layer[0].encoding.color.scale;
  assert.equal(scale.domain, [-1, 1], 'max |Δ| = 0.58 < minRange 1');
  assert.is(scale.domainMid, 0);
  const wide = deltaHeatmapSpec([...grid, { x: 2, y: 2, delta: -2.5, std: 0.1, n: 3 }]) as any;
  const d = wide.layer[0].encoding.color.scale.domain;
  assert.equal(d, [-2.5, 2.5]);
  for (const c of [...grid, { delta: -2.5 }]) if (c.delta !== null) assert.ok(c.delta >= d[0] && c.delta <= d[1]);
  assert.equal(deltaDomain([0.1, -0.3, null, NaN], 0), [-0.3, 0.3]);
  assert.equal((deltaHeatmapSpec(grid, { minRange: 0 }) as any).layer[0].encoding.color.scale.domain, [-0.58, 0.58]);
  assert.is(spec.title.subtitle, '3 seeds per cell, ± = seed std · colour ±1 · 1 cell not run');
  const svg = await renderSVG(spec);
  for (const t of ['+0.50 ± 0.25', '−0.58 ± 0.45', '+0.08 ± 0.20', 'not run', 'T', 'α', '3 seeds per cell, ± = seed std · colour ±1 · 1 cell not run']) {
    assert.ok(svg.includes(`>${t}<`), `missing text ${t}`);
  }
  // the vega colour scale maps 0 to the middle of the scheme: equal distance to ±1
  const { view } = await scene(spec);
  const colour = view.scale('color');
  assert.is(colour(0), colour(1e-12));
  assert.is.not(colour(-0.5), colour(0.5));
  // one seed per cell: no ±, and the subtitle says there is no error estimate
  const single = deltaHeatmapSpec([{ x: 'a', y: 'b', delta: 0.12, std: 0.3, n: 1 }, { x: 'c', y: 'b', delta: 0.2, n: 1 }]) as any;
  assert.is(single.title.subtitle, '1 seed per cell (no error estimate) · colour ±1');
  assert.ok((await renderSVG(single)).includes('>+0.12<'));
  const mixed = deltaHeatmapSpec([{ x: 'a', y: 'b', delta: 0.1, std: 0.1, n: 2 }, { x: 'c', y: 'b', delta: 0.2, std: 0.1, n: 3 }]) as any;
  assert.match(mixed.title.subtitle, /^2–3 seeds per cell/);
  assert.throws(() => deltaHeatmapSpec([{ x: 1, y: 1, delta: 1, n: -1 }]), /n=-1, expected the number of seeds/);
});

test('heatmapSpec: domain and diverging options', () => {
  const cells = [{ x: 1, y: 1, value: 24.6 }, { x: 2, y: 1, value: 25.0 }];
  const fixed = heatmapSpec(cells, { domain: [20, 30] }) as any;
  assert.equal(fixed.layer[0].encoding.color.scale, { scheme: 'viridis', domain: [20, 30], clamp: true });
  assert.is(fixed.layer[1].encoding.color.condition.test, 'datum.value < 25', 'text colour from the fixed domain');
  const div = heatmapSpec([{ x: 1, y: 1, value: -0.4 }, { x: 2, y: 1, value: 0.1 }], { diverging: true }) as any;
  assert.equal(div.layer[0].encoding.color.scale, { scheme: 'redblue', domain: [-0.4, 0.4], clamp: true, domainMid: 0 });
  assert.throws(() => heatmapSpec(cells, { domain: [1, 1] }), /domain must be \[lo, hi\] with lo < hi/);
  // default behaviour unchanged
  assert.equal(heatmapSpec(cells).layer === undefined, false);
  assert.equal((heatmapSpec(cells) as any).layer[0].encoding.color.scale, { scheme: 'viridis' });
});

test.run();
