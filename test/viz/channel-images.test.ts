import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { channelImagesSpec, channelImagesRange, channelMaps, colormap, COLORMAPS, renderSVG, wrapText, GridMap } from '../../lib/viz';

/** RGB of pixel (x, y) of a PNG data URL. */
async function pixel(url: string, x: number, y: number): Promise<number[]> {
  const sharp = require('sharp');
  const { data, info } = await sharp(Buffer.from(url.split(',')[1], 'base64')).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const i = (y * info.width + x) * 3;
  return [data[i], data[i + 1], data[i + 2]];
}

const ramp = (offset: number, title: string): GridMap => ({ title, height: 2, width: 2, values: [0 + offset, 1 + offset, 2 + offset, 3 + offset] });

test('colormap rdbu: diverging, white-ish at the centre, red low, blue high', () => {
  assert.is(COLORMAPS.rdbu.length, 11);
  const rgb = colormap([-1, 0, 1], 'rdbu', [-1, 1]);
  assert.equal(Array.from(rgb.slice(0, 3)), [103, 0, 31]);
  assert.equal(Array.from(rgb.slice(3, 6)), [247, 247, 247]);
  assert.equal(Array.from(rgb.slice(6, 9)), [5, 48, 97]);
});

test('channelImagesSpec: a shared range paints equal values alike across panels, with a colour bar of that range', async () => {
  const maps = [ramp(0, 'a'), ramp(2, 'b')];   // values 0..3 and 2..5
  const spec = await channelImagesSpec(maps, { range: 'shared', valueTitle: 'p', panelSize: 2 }) as any;
  assert.equal(channelImagesRange(maps, { range: 'shared' }), [0, 5]);
  const [grid, bar] = spec.vconcat;
  // value 2 is pixel (0,1) of panel a and pixel (0,0) of panel b: one colour; it is colormap(2) over [0, 5]
  const a = grid.data.values[0].url; const b = grid.data.values[1].url;
  const want = Array.from(colormap([2], 'inferno', [0, 5]));
  assert.equal(await pixel(a, 0, 1), want);
  assert.equal(await pixel(b, 0, 0), want);
  // the colour bar covers the range, with the same colours, and its axis carries tick values
  assert.equal(bar.encoding.x.scale.domain, [0, 5]);
  assert.is(bar.data.values[0].lo, 0);
  assert.is(bar.data.values[bar.data.values.length - 1].hi, 5);
  const mid = bar.data.values.find((v: any) => v.lo <= 2.5 && v.hi > 2.5);
  const c = colormap([(mid.lo + mid.hi) / 2], 'inferno', [0, 5]);
  assert.is(mid.colour, `rgb(${c[0]},${c[1]},${c[2]})`);
  const svg = await renderSVG(spec);
  for (const t of ['p', '0', '1', '2', '3', '4', '5']) assert.ok(svg.includes(`>${t}<`), `colour bar text ${t}`);
  // per-panel scaling (no range): each panel spans the whole map, no colour bar, and the title says so
  const own = await channelImagesSpec(maps, { panelSize: 2 }) as any;
  assert.is(own.vconcat, undefined);
  assert.equal(await pixel(own.data.values[1].url, 0, 0), Array.from(colormap([0], 'inferno', [0, 1])), 'panel b\'s minimum is the darkest colour');
  assert.match(JSON.stringify(own.title), /each panel scaled to its own min … max/);
  // a fixed range
  assert.equal((await channelImagesSpec(maps, { range: [0, 10] }) as any).vconcat[1].encoding.x.scale.domain, [0, 10]);
  let message = '';
  try { await channelImagesSpec(maps, { range: [1, 1] }); } catch (e) { message = (e as Error).message; }
  assert.match(message, /range must be \[lo, hi\] with lo < hi/);
});

test('channelImagesSpec rdbu: symmetric range centred on 0 (shared by default), 0 painted the middle colour', async () => {
  const maps: GridMap[] = [{ title: 'KL term', height: 1, width: 3, values: [-0.2, 0, 0.5] }];
  assert.equal(channelImagesRange(maps, { scheme: 'rdbu' }), [-0.5, 0.5]);
  assert.equal(channelImagesRange(maps, { scheme: 'rdbu', range: [-0.1, 2] }), [-2, 2]);
  const spec = await channelImagesSpec(maps, { scheme: 'rdbu', panelSize: 3 }) as any;
  assert.equal(spec.vconcat[1].encoding.x.scale.domain, [-0.5, 0.5]);
  const url = spec.vconcat[0].data.values[0].url;
  assert.equal(await pixel(url, 1, 0), [247, 247, 247], '0 → the centre of RdBu');
  assert.equal(await pixel(url, 2, 0), [5, 48, 97], '+0.5 → the blue end');
  assert.equal(await pixel(url, 0, 0), Array.from(colormap([-0.2], 'rdbu', [-0.5, 0.5])));
});

test('channelImagesSpec: long panel titles wrap, every word is drawn, nothing truncated', async () => {
  assert.equal(wrapText('p_S·log(p_S/p_T): swapped direction of the KL', 20), ['p_S·log(p_S/p_T):', 'swapped direction of', 'the KL']);
  assert.equal(wrapText('supercalifragilistic word', 5), ['supercalifragilistic', 'word']);
  const title = 'p_S·log(p_S/p_T): swapped direction of the KL term';
  const svg = await renderSVG(await channelImagesSpec([ramp(0, title), ramp(1, 'teacher')], { panelSize: 100, range: 'shared' }));
  assert.not.ok(svg.includes('…'), 'an ellipsis means a truncated label');
  const texts = (svg.match(/>[^<>]+</g) ?? []).map((t) => t.slice(1, -1)).join(' ');
  for (const word of title.split(' ')) assert.ok(texts.includes(word), `missing "${word}"`);
});

test('channelMaps → channelImagesSpec leaves no tensors behind', async () => {
  const x = tf.randomNormal([1, 8, 8, 4]) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  await channelImagesSpec(await channelMaps(x, [0, 3], (c) => `c${c}`), { scheme: 'rdbu' });
  assert.is(tf.memory().numTensors, before);
  x.dispose();
});

test.run();
