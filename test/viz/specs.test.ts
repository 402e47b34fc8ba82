import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { heatmapSpec, curvesSpec, groupedBarSpec, channelGridSpec, imageGridSpec, imageGridPanelSize, notebookProfile, byProfile, renderSVG, svgSize } from '../../lib/viz';

const cells = [
  { x: 1, y: 3, value: 0.52 }, { x: 2, y: 3, value: 0.61 },
  { x: 1, y: 1, value: 0.40 }, { x: 2, y: 1, value: null },
];

test('heatmapSpec: data, order, axes titles, empty cells kept as null', () => {
  const s = heatmapSpec(cells, { xTitle: 'temperature T', yTitle: 'weight α', yOrder: [1, 3] }) as any;
  assert.equal(s.data.values, [
    { x: '1', y: '3', value: 0.52 }, { x: '2', y: '3', value: 0.61 },
    { x: '1', y: '1', value: 0.40 }, { x: '2', y: '1', value: null },
  ]);
  assert.equal(s.encoding.x.sort, ['1', '2']);
  assert.equal(s.encoding.y.sort, ['1', '3']);
  assert.is(s.encoding.x.title, 'temperature T');
  assert.is(s.layer[0].mark.type, 'rect');
  assert.is(s.layer[1].encoding.text.format, '.2f');
  // text colour threshold at the middle of the value range (0.40 .. 0.61)
  assert.is(s.layer[1].encoding.color.condition.test, `datum.value < ${(0.40 + 0.61) / 2}`);
  assert.is(s.width, 96);
  assert.is(s.height, 96);
});

test('heatmapSpec: bad input is a clear error', () => {
  assert.throws(() => heatmapSpec([]), /heatmapSpec: no data rows/);
  assert.throws(() => heatmapSpec([{ x: 1, y: 1, value: 'a' as any }]), /row 0 has value=a/);
});

test('curvesSpec: one panel per metric, independent y, runs as colour', () => {
  const s = curvesSpec([
    { run: 'student', step: 10, metric: 'loss', value: 2 },
    { run: 'cwd', step: 10, metric: 'loss', value: 1.5 },
    { run: 'cwd', step: 10, metric: 'val mIoU', value: 0.3 },
  ]) as any;
  assert.equal(s.facet.sort, ['loss', 'val mIoU']);
  assert.is(s.resolve.scale.y, 'independent');
  assert.is(s.spec.encoding.color.field, 'run');
  assert.is(s.data.values.length, 3);
  assert.throws(() => curvesSpec([{ run: 'a', step: NaN, metric: 'm', value: 1 }]), /row 0 has step=NaN/);
});

test('groupedBarSpec: categories on x, groups as xOffset + colour, order kept', () => {
  const s = groupedBarSpec([
    { category: 'road', group: 'student', value: 0.9 }, { category: 'road', group: 'CWD', value: 0.95 },
    { category: 'car', group: 'student', value: 0.5 }, { category: 'car', group: 'CWD', value: 0.6 },
  ], { yTitle: 'IoU' }) as any;
  assert.equal(s.encoding.x.sort, ['road', 'car']);
  assert.equal(s.encoding.xOffset.sort, ['student', 'CWD']);
  assert.is(s.encoding.color.field, 'group');
  assert.is(s.encoding.y.title, 'IoU');
  assert.is(s.mark, 'bar');
});

test('channelGridSpec: one row per pixel with x/y from row-major order; shape errors name the panel', () => {
  const s = channelGridSpec([
    { title: 'c0', height: 2, width: 3, values: [0, 1, 2, 3, 4, 5] },
    { title: 'c1', height: 2, width: 3, values: new Float32Array(6).fill(0.5) },
  ], { columns: 2 }) as any;
  assert.is(s.data.values.length, 12);
  assert.equal(s.data.values[4], { panel: 'c0', x: 1, y: 1, value: 4 });
  assert.is(s.columns, 2);
  assert.is(s.resolve.scale.color, 'independent');
  assert.throws(() => channelGridSpec([{ title: 'bad', height: 2, width: 2, values: [1, 2, 3] }]), /panel 'bad' has 3 values, expected height·width = 2·2 = 4/);
  assert.throws(() => channelGridSpec([{ title: 'n', height: 1, width: 1, values: [Infinity] }]), /non-finite/);
  assert.throws(() => channelGridSpec([{ title: 'a', height: 1, width: 1, values: [1] }, { title: 'a', height: 1, width: 1, values: [1] }]), /unique/);
});

test('imageGridSpec: row × column facets of image marks', () => {
  const s = imageGridSpec([
    { row: 'f1', column: 'image', url: 'data:image/png;base64,AA' },
    { row: 'f1', column: 'GT', url: 'data:image/png;base64,BB' },
  ], { width: 64, height: 32 }) as any;
  assert.equal(s.facet.column.sort, ['image', 'GT']);
  assert.is(s.spec.mark.type, 'image');
  assert.is(s.spec.encoding.url.field, 'url');
  assert.throws(() => imageGridSpec([{ row: 'r', column: 'c', url: '' }], { width: 1, height: 1 }), /has no url/);
});

test('imageGridSpec: maxWidth (default 1000 px) scales the panels, aspect kept, so that the rendered figure fits', async () => {
  const url = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC';
  const columns = ['image', 'ground truth', 'teacher (DeepLabV3+ R101)', 'student', 'AT', 'CWD', 'PA', 'IFVD'];
  const panels = ['frankfurt_000000_000294', 'lindau_000001'].flatMap((row) => columns.map((column) => ({ row, column, url })));
  const s = imageGridSpec(panels, { width: 512, height: 256 }) as any;
  assert.ok(s.spec.width < 512 / 4, `panel width ${s.spec.width}`);
  assert.ok(Math.abs(s.spec.width / s.spec.height - 2) < 0.05, 'aspect 2:1 kept');
  const size = svgSize(await renderSVG(s));
  assert.ok(size.width <= 1000 && size.width > 900, `figure width ${size.width}`);
  const narrow = svgSize(await renderSVG(imageGridSpec(panels, { width: 512, height: 256, maxWidth: 600 })));
  assert.ok(narrow.width <= 600, `figure width ${narrow.width}`);
  // a grid that fits keeps its size
  assert.equal(imageGridPanelSize(2, 5, { width: 100, height: 50 }), { width: 100, height: 50, scale: 1 });
  assert.is((imageGridSpec(panels, { width: 512, height: 256, maxWidth: Infinity }) as any).spec.width, 512);
  assert.throws(() => imageGridPanelSize(8, 200, { width: 10, height: 10, maxWidth: 100 }), /maxWidth 100 px leaves no room for 8 columns/);
  // long column titles wrap (never truncated, never widen a column)
  assert.ok(s.data.values.some((v: any) => v.column.includes('\n')));
});

test('notebookProfile: quick by default, full on request, anything else is an error', () => {
  assert.is(notebookProfile({}), 'quick');
  assert.is(notebookProfile({ CWD_PROFILE: 'full' }), 'full');
  assert.throws(() => notebookProfile({ CWD_PROFILE: 'fast' }), /CWD_PROFILE="fast": use 'quick'/);
  assert.is(byProfile({ quick: 1, full: 2 }, 'full'), 2);
});

test.run();
