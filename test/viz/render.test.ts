import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  renderSVG, figure, heatmapSpec, curvesSpec, groupedBarSpec, channelGridSpec, imageGridSpec,
  maskDataURL, pngDataURL, dataFrame, tableHTML, saveCSV, show, inNotebook,
  colormap, upscale, channelImagesSpec, channelMaps, COLORMAPS, svgSize, svgToPNG, figureBundle, figureText, MUTED_COLOUR,
} from '../../lib/viz';
import * as tf from '@tensorflow/tfjs';

test('renderSVG: heatmap SVG has the axis titles and the cell values as text', async () => {
  const svg = await renderSVG(heatmapSpec([
    { x: 1, y: 1, value: 0.4123 }, { x: 2, y: 1, value: 0.5 }, { x: 1, y: 2, value: 0.61 }, { x: 2, y: 2, value: null },
  ], { xTitle: 'temperature T', yTitle: 'loss weight', title: 'val mIoU' }));
  assert.ok(svg.startsWith('<svg'), svg.slice(0, 40));
  for (const label of ['temperature T', 'loss weight', 'val mIoU', '0.41', '0.50', '0.61']) assert.ok(svg.includes(`>${label}<`), `missing text ${label}`);
  assert.is((svg.match(/>0\.\d\d</g) ?? []).length, 3, 'three value labels (the null cell has none)');
});

test('renderSVG: curves, grouped bars and channel grid carry their labels', async () => {
  const curves = await renderSVG(curvesSpec([
    { run: 'student', step: 1, metric: 'loss', value: 2 }, { run: 'student', step: 2, metric: 'loss', value: 1 },
    { run: 'cwd', step: 2, metric: 'val mIoU', value: 0.3 },
  ]));
  for (const l of ['loss', 'val mIoU', 'student', 'cwd', 'step']) assert.ok(curves.includes(`>${l}<`), `curves: ${l}`);
  const bars = await renderSVG(groupedBarSpec([
    { category: 'traffic light', group: 'CWD', value: 0.7 }, { category: 'traffic light', group: 'PA', value: 0.6 },
  ], { yTitle: 'class IoU' }));
  for (const l of ['traffic light', 'CWD', 'PA', 'class IoU']) assert.ok(bars.includes(`>${l}<`), `bars: ${l}`);
  const grid = await renderSVG(channelGridSpec([
    { title: 'channel 7', height: 3, width: 3, values: [1, 2, 3, 4, 5, 6, 7, 8, 9] },
  ]));
  assert.ok(grid.includes('>channel 7<'));
  assert.is((grid.match(/<path/g) ?? []).length >= 9, true);
});

test('image grid: colourised masks become <image> elements with PNG data', async () => {
  const mask = new Uint8Array([0, 1, 2, 255, 13, 13, 10, 10]); // road, sidewalk, building, ignore, car, sky
  const url = await maskDataURL(mask, 4, 2);
  assert.ok(url.startsWith('data:image/png;base64,iVBOR'), url.slice(0, 40));
  const png = Buffer.from(url.split(',')[1], 'base64');
  assert.is(png.readUInt32BE(16), 4); // IHDR width
  assert.is(png.readUInt32BE(20), 2); // IHDR height
  const svg = await renderSVG(imageGridSpec([
    { row: 'frame', column: 'ground truth', url }, { row: 'frame', column: 'CWD', url },
  ], { width: 40, height: 20 }));
  assert.is((svg.match(/<image/g) ?? []).length, 2);
  assert.match(svg, />ground<[\s\S]{0,120}>truth</, 'the column title, wrapped to the 40 px panel');
  assert.throws(() => maskDataURL(mask, 3, 3), /expected width·height = 3·3 = 9/);
  assert.ok((await pngDataURL(new Uint8Array(6), 2, 1, 3)).startsWith('data:image/png;base64,'));
  let message = '';
  try { await pngDataURL(new Uint8Array(5), 2, 1, 3); } catch (e) { message = (e as Error).message; }
  assert.match(message, /got 5 bytes, expected width·height·channels = 2·1·3 = 6/);
});

test('figure: saves spec JSON, SVG and a PNG of the SVG\'s size at 144 dpi; show() outside a notebook only reports', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cwd-viz-'));
  const fig = await figure('t-heat', heatmapSpec([{ x: 'a', y: 'b', value: 1 }, { x: 'c', y: 'b', value: 2 }], { title: 'val mIoU' }), { dir });
  assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 't-heat.vl.json'), 'utf8')), fig.spec);
  assert.is(fs.readFileSync(path.join(dir, 't-heat.svg'), 'utf8'), fig.svg);
  assert.equal(fig.files, { spec: path.join(dir, 't-heat.vl.json'), svg: path.join(dir, 't-heat.svg'), png: path.join(dir, 't-heat.png') });
  assert.ok(fs.readFileSync(path.join(dir, 't-heat.png')).equals(fig.png));
  // the PNG decodes, at twice the SVG's CSS size (density 144 = 2 × 72)
  const sharp = require('sharp');
  const meta = await sharp(fig.png).metadata();
  const size = svgSize(fig.svg);
  assert.is(meta.format, 'png');
  assert.is(meta.width, 2 * size.width);
  assert.is(meta.height, 2 * size.height);
  assert.equal(fig.pngInfo, { width: meta.width, height: meta.height, svgWidth: size.width, svgHeight: size.height, density: 144 });
  // the cell colours are painted: the PNG is not blank (the top-left is white, the cells' pixels are not)
  const { data, info } = await sharp(fig.png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const colours = new Set<string>();
  for (let i = 0; i < info.width * info.height; i += 97) colours.add(`${data[i * 3]},${data[i * 3 + 1]},${data[i * 3 + 2]}`);
  assert.ok(colours.size > 20, `${colours.size} distinct colours sampled`);
  assert.ok(fig.png.length < 150000, `${fig.png.length} bytes`);
  assert.is(inNotebook(), false);
  show(fig);
  // what show() sends in a notebook: PNG (base64), SVG, vega-lite, and text naming the files
  const bundle = figureBundle(fig);
  assert.equal(Object.keys(bundle.data).sort(), ['application/vnd.vegalite.v5+json', 'image/png', 'image/svg+xml', 'text/plain']);
  assert.ok(Buffer.from(bundle.data['image/png'] as string, 'base64').equals(fig.png));
  assert.equal(bundle.metadata, { 'image/png': { width: size.width, height: size.height } });
  assert.is(bundle.data['text/plain'], `figure t-heat: ${path.join(dir, 't-heat.png')} (.svg, .vl.json)`, 'outside the working directory: absolute');
  const cwd = process.cwd();
  try {
    process.chdir(path.dirname(dir));
    assert.is(figureText(fig), `figure t-heat: ${path.basename(dir)}/t-heat.png (.svg, .vl.json)`, 'below it: relative');
  } finally {
    process.chdir(cwd);
  }
  assert.is(figureBundle(fig, { interactive: false }).data['application/vnd.vegalite.v5+json'], undefined);
  const unsaved = await figure('t-mem', heatmapSpec([{ x: 'a', y: 'b', value: 1 }]), { save: false, pngDensity: 72 });
  assert.is(unsaved.files, undefined);
  assert.is(figureText(unsaved), 'figure t-mem (not saved)');
  assert.is(unsaved.pngInfo.width, unsaved.pngInfo.svgWidth);
  let message = '';
  try { await figure('bad name/..', {}, { dir }); } catch (e) { message = (e as Error).message; }
  assert.match(message, /figure name "bad name\/\.\.": use letters/);
});

test('svgToPNG: image marks with data: URLs are painted; the density is capped by maxPixels', async () => {
  // a 2×1 image: pure red | pure blue, shown 100×50 CSS pixels
  const url = await pngDataURL(new Uint8Array([255, 0, 0, 0, 0, 255]), 2, 1, 3);
  const svg = await renderSVG(imageGridSpec([{ row: 'r', column: 'c', url }], { width: 100, height: 50 }));
  const { png, width, height, density } = await svgToPNG(svg, { density: 72 });
  const size = svgSize(svg);
  assert.equal([width, height, density], [size.width, size.height, 72]);
  const sharp = require('sharp');
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  let red = 0; let blue = 0;
  for (let i = 0; i < info.width * info.height; i++) {
    const [r, g, b] = [data[i * 3], data[i * 3 + 1], data[i * 3 + 2]];
    if (r > 240 && g < 15 && b < 15) red++;
    if (b > 240 && g < 15 && r < 15) blue++;
  }
  // each half is 50×50 = 2500 CSS pixels (a pixel or two of the edge may blend)
  assert.ok(red > 2300 && red <= 2500, `red pixels ${red}`);
  assert.ok(blue > 2300 && blue <= 2500, `blue pixels ${blue}`);
  const capped = await svgToPNG(svg, { density: 288, maxPixels: 4 * size.width * size.height });
  assert.is(capped.density, 144);
  assert.is(capped.width, 2 * size.width);
  assert.throws(() => svgSize('<svg viewBox="0 0 1 1"></svg>'), /no numeric width\/height/);
  // palette (default) against true colour: same size, fewer bytes for a chart, an indexed PNG
  const chart = await renderSVG(curvesSpec(Array.from({ length: 60 }, (_, i) => ({ run: `r${i % 3}`, step: i, metric: 'loss', value: Math.sin(i / 5) + (i % 3) }))));
  const pal = await svgToPNG(chart);
  const rgb = await svgToPNG(chart, { palette: false });
  assert.equal([pal.width, pal.height], [rgb.width, rgb.height]);
  assert.ok(pal.png.length < rgb.png.length, `palette ${pal.png.length} B vs true colour ${rgb.png.length} B`);
  assert.is(pal.png.readUInt8(25), 3, 'IHDR colour type 3: an indexed PNG');
  assert.is.not(rgb.png.readUInt8(25), 3);
});

test('danfojs tables: HTML marks the best per column, CSV round-trips', () => {
  const df = dataFrame([
    { method: 'student', mIoU: 0.61, road: 0.9, wall: 0.2 },
    { method: 'CWD', mIoU: 0.65, road: 0.9, wall: NaN },
    { method: 'AT <x>', mIoU: 0.62, road: 0.85, wall: 0.3 },
  ]);
  const html = tableHTML(df, { scale: 100, digits: 1, caption: 'per-class IoU' });
  assert.ok(html.includes('<caption>per-class IoU</caption>'));
  assert.ok(html.includes('<b>65.0</b>'), 'best mIoU bold');
  assert.is((html.match(/<b>/g) ?? []).length, 2, 'road: a tie (90.0 twice) is not bold; mIoU and wall are');
  assert.ok(html.includes('<b>30.0</b>'), 'NaN ignored when finding the best');
  assert.ok(html.includes('>—<'), 'NaN printed as a dash');
  assert.ok(html.includes('AT &lt;x&gt;'), 'text escaped');
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cwd-csv-')), 't.csv');
  const csv = saveCSV(df, file);
  assert.is(csv.split('\n')[0], 'method,mIoU,road,wall');
  assert.is(fs.readFileSync(file, 'utf8'), csv);
  assert.throws(() => dataFrame([{ a: 1 }, { b: 2 }]), /row 1 has columns \[b\], row 0 has \[a\]/);
  const flat = tableHTML(dataFrame([{ T: 1, v: 0 }, { T: 4, v: 0 }]), { digits: 2 });
  assert.ok(flat.includes('>4<') && !flat.includes('4.00'), 'integer column without decimals');
  assert.ok(!flat.includes('<b>0</b>'), 'all-equal column not marked');
});

test('tableHTML: ties as printed and zeros are not bold; muted cells are grey and never best; a note under the table', () => {
  const df = dataFrame([
    { method: 'student', pole: 0, rider: 0.00004, car: 0.801, bus: 0.1 },
    { method: 'CWD', pole: 0, rider: 0, car: 0.80104, bus: 0.3 },
    { method: 'AT', pole: 0, rider: 0, car: 0.7, bus: 0.9 },
  ]);
  // car: 80.10 and 80.10 as printed (digits 2, scale 100) is a tie; rider: 0.00 is best; pole all 0
  const html = tableHTML(df, { scale: 100, digits: 2, muted: (row, col) => col !== 'method' && row[col] === 0 || (row.method === 'AT' && col === 'bus'), note: 'grey: a class the student never predicts' });
  const rows = html.split('\n').filter((l) => l.startsWith('<tr>') && l.includes('<td'));
  assert.is(rows.length, 3);
  assert.is((html.match(/<b>/g) ?? []).length, 1, html);
  // bus: AT's 90.00 is muted, so the best is CWD's 30.00
  assert.ok(rows[1].includes('<b>30.00</b>'), rows[1]);
  assert.not.ok(html.includes('<b>90.00</b>'));
  assert.not.ok(html.includes('<b>80.10</b>'), 'a tie as printed is not bold');
  assert.not.ok(html.includes('<b>0.00</b>'), 'a best of 0 is not bold');
  // muted: every printed 0 of pole/rider (not student's 0.00004) and AT's bus
  const grey = (html.match(new RegExp(`color:${MUTED_COLOUR}">[^<]*<`, 'g')) ?? []).map((m) => m.slice(m.indexOf('>') + 1, -1));
  assert.equal(grey, ['0.00', '0.00', '0.00', '0.00', '0.00', '90.00']);
  assert.ok(rows[0].includes('<td style="text-align:right">0.00</td>'), 'student rider 0.00004: not muted');
  assert.ok(html.endsWith('<p class="channel-distill-note" style="font-size:90%;margin-top:4px">grey: a class the student never predicts</p>'));
  // the earlier behaviour stays: best 'min', a single clear best
  const min = tableHTML(dataFrame([{ m: 'a', ms: 3.2 }, { m: 'b', ms: 1.5 }]), { best: 'min', digits: 1 });
  assert.ok(min.includes('<b>1.5</b>'));
});

test('colormap, upscale, channelImagesSpec: compact image panels for big maps', async () => {
  const rgb = colormap([0, 0.5, 1, NaN], 'viridis');
  assert.equal(Array.from(rgb.slice(0, 3)), [...COLORMAPS.viridis[0]]);
  assert.equal(Array.from(rgb.slice(6, 9)), [...COLORMAPS.viridis[9]]);
  assert.equal(Array.from(rgb.slice(9, 12)), [128, 128, 128]);
  // 0.5 of 9 intervals = 4.5: halfway between control points 4 and 5
  const mid = COLORMAPS.viridis[4].map((v, i) => Math.round((v + COLORMAPS.viridis[5][i]) / 2));
  assert.equal(Array.from(rgb.slice(3, 6)), mid);
  assert.equal(Array.from(upscale(new Uint8Array([1, 2]), 2, 1, 1, 2)), [1, 1, 2, 2, 1, 1, 2, 2]);
  const x = tf.tensor4d(Array.from({ length: 2 * 40 * 40 * 3 }, (_, i) => i % 7), [2, 40, 40, 3]);
  const maps = await channelMaps(x, [0, 2], (c) => `ch ${c}`, { image: 1, maxSize: 20 });
  x.dispose();
  assert.is(maps.length, 2);
  assert.is(maps[0].height, 20);
  assert.is(maps[1].title, 'ch 2');
  const spec = await channelImagesSpec(maps, { columns: 2 }) as any;
  assert.is(spec.data.values.length, 2);
  const svg = await renderSVG(spec);
  assert.is((svg.match(/<image/g) ?? []).length, 2);
  assert.ok(svg.includes('>ch 2<'));
  assert.ok(svg.length < 20000, `compact SVG (${svg.length} bytes)`);
  const z = tf.zeros([4, 4, 3]) as tf.Tensor3D;
  try {
    await channelMaps(z, [3], String);
    assert.unreachable('channel 3 of 3 accepted');
  } catch (e) {
    assert.match((e as Error).message, /channel 3 out of range: the tensor has 3 channels/);
  }
  z.dispose();
});

test.run();
