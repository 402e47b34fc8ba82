/**
 * Procedural street-scene renderer for the synthetic Cityscapes set: one pinhole camera at
 * ~1.4 m looking down a street, a z-buffer, and a handful of vertical planar primitives (facades,
 * walls, fences, hedges, vehicle sides/backs, billboards for people, poles, trees, signs) over a
 * ground plane (road, sidewalks, terrain, parking, rails) and a sky. Every pixel gets a Cityscapes
 * **labelId** (0..33) and an RGB colour.
 *
 * What makes it a segmentation problem rather than a colour lookup:
 * - look-alike classes share palettes and are told apart by shape, size and context: road vs
 *   sidewalk vs parking (all asphalt/paving greys; position relative to the curb), car vs truck vs
 *   bus vs train (same paints; length, height, windows), person vs rider (same clothes; on a
 *   two-wheeler or not), vegetation vs terrain (greens; upright leafy vs flat grass), wall vs
 *   building (same materials; low and windowless vs tall with windows);
 * - textures in world coordinates (perspective), directional light per face, shadows, haze,
 *   exposure/tint changes, sensor noise and blur;
 * - void labels (ego vehicle, rectification border, out of roi, static, dynamic, ground, parking,
 *   rail track, guard rail, polegroup, caravan, trailer) that map to trainId 255.
 *
 * @example
 * const { image, labelIds } = renderStreetScene({ width: 512, height: 256, seed: 1 });
 */
import { Rng } from '../rng';
import { CITYSCAPES_LABELS } from './labels';

/** Cityscapes labelIds used by the renderer. */
export const ID = {
  unlabeled: 0, egoVehicle: 1, rectificationBorder: 2, outOfRoi: 3, static: 4, dynamic: 5, ground: 6,
  road: 7, sidewalk: 8, parking: 9, railTrack: 10, building: 11, wall: 12, fence: 13, guardRail: 14,
  bridge: 15, tunnel: 16, pole: 17, polegroup: 18, trafficLight: 19, trafficSign: 20, vegetation: 21,
  terrain: 22, sky: 23, person: 24, rider: 25, car: 26, truck: 27, bus: 28, caravan: 29, trailer: 30,
  train: 31, motorcycle: 32, bicycle: 33,
} as const;

/** Objects the caller can force into a frame (so that rare classes occur in every split). */
export interface SceneRequirements {
  train?: boolean;
  bus?: boolean;
  truck?: boolean;
  motorcyclist?: boolean;
  cyclist?: boolean;
}

/** Per-city look (palettes and densities), so cities differ like real ones do. */
export interface CityStyle {
  /** Facade base colours. */
  facades: Array<[number, number, number]>;
  /** Sidewalk paving colour. */
  sidewalk: [number, number, number];
  /** Probability that a street segment is green (trees/park) rather than built. */
  greenery: number;
  /** Building heights in metres [min, max]. */
  heights: [number, number];
  /** Mean number of pedestrians. */
  pedestrians: number;
  /** Mean number of cars. */
  cars: number;
}

export interface SceneOptions {
  width: number;
  height: number;
  seed: number;
  style?: CityStyle;
  require?: SceneRequirements;
}

type RGB = [number, number, number];
/** A shader receives local metric coordinates (a: along the face, b: height) and returns a labelId
 * (writing the colour into the canvas scratch colour) or −1 for a transparent pixel. */
type Shader = (a: number, b: number) => number;

const PAINTS: RGB[] = [
  [200, 200, 205], [30, 30, 35], [150, 20, 25], [20, 40, 120], [230, 230, 225], [90, 95, 100],
  [200, 170, 40], [40, 90, 50], [120, 120, 125], [170, 60, 20], [60, 60, 80], [220, 200, 150],
];
const CLOTHES: RGB[] = [
  [30, 30, 40], [60, 70, 110], [150, 30, 40], [200, 200, 190], [80, 60, 40], [40, 80, 60],
  [170, 140, 100], [100, 100, 105], [200, 120, 40], [20, 20, 20],
];
const SKIN: RGB[] = [[230, 190, 160], [200, 150, 120], [150, 100, 70], [100, 70, 50]];

export const DEFAULT_STYLE: CityStyle = {
  facades: [[180, 170, 155], [150, 140, 130], [200, 190, 170], [120, 110, 100], [170, 120, 90], [140, 150, 160]],
  sidewalk: [165, 160, 155],
  greenery: 0.35,
  heights: [9, 22],
  pedestrians: 5,
  cars: 5,
};

class ValueNoise {
  private table = new Float32Array(256 * 256);
  constructor(rng: Rng) {
    for (let i = 0; i < this.table.length; i++) this.table[i] = rng.next();
  }
  /** Smooth value noise in [0,1), period 256. */
  n(x: number, y: number): number {
    const xf = Math.floor(x);
    const yf = Math.floor(y);
    const tx = x - xf;
    const ty = y - yf;
    const sx = tx * tx * (3 - 2 * tx);
    const sy = ty * ty * (3 - 2 * ty);
    const x0 = xf & 255;
    const y0 = yf & 255;
    const x1 = (x0 + 1) & 255;
    const y1 = (y0 + 1) & 255;
    const t = this.table;
    const a = t[y0 * 256 + x0] + (t[y0 * 256 + x1] - t[y0 * 256 + x0]) * sx;
    const b = t[y1 * 256 + x0] + (t[y1 * 256 + x1] - t[y1 * 256 + x0]) * sx;
    return a + (b - a) * sy;
  }
  /** 3-octave fractal noise in [0,1). */
  fbm(x: number, y: number): number {
    return 0.55 * this.n(x, y) + 0.3 * this.n(2.03 * x + 17.1, 2.03 * y + 5.3) + 0.15 * this.n(4.1 * x + 3.7, 4.1 * y + 31.9);
  }
}

let ws: { W: number; H: number; rgb: Float32Array; zbuf: Float32Array; tmp: Float32Array } | null = null;
/** Scratch buffers reused across frames of the same size (less GC pressure). */
function workspace(W: number, H: number) {
  if (!ws || ws.W !== W || ws.H !== H) {
    ws = { W, H, rgb: new Float32Array(W * H * 3), zbuf: new Float32Array(W * H), tmp: new Float32Array(W * H * 3) };
  }
  return ws;
}

/** The frame buffer + camera. */
class Canvas {
  readonly N: number;
  readonly label: Uint8Array;
  /** Object number of every pixel (0: no object), written by `put` alongside the label. */
  readonly inst: Uint16Array;
  /** The object number `put` writes (set around each object's drawing; 0 for stuff). */
  instance = 0;
  readonly rgb: Float32Array;
  readonly zbuf: Float32Array;
  /** Scratch colour written by shaders. */
  r = 0;
  g = 0;
  b = 0;
  hazeDist = 150;
  hazeCol: RGB = [190, 200, 210];
  constructor(
    readonly W: number,
    readonly H: number,
    /** focal length in pixels */
    readonly f: number,
    /** vanishing point column */
    readonly xv: number,
    /** horizon row */
    readonly yh: number,
    /** camera height in metres */
    readonly camH: number,
  ) {
    this.N = W * H;
    this.label = new Uint8Array(this.N);
    this.inst = new Uint16Array(this.N);
    const ws = workspace(W, H);
    this.rgb = ws.rgb;
    this.rgb.fill(0);
    this.zbuf = ws.zbuf;
    this.zbuf.fill(Infinity);
  }
  set(r: number, g: number, b: number): void {
    this.r = r;
    this.g = g;
    this.b = b;
  }
  /** Write the scratch colour (times light, then haze by depth) if z passes the depth test. */
  put(i: number, z: number, id: number, light: number): void {
    const h = z === Infinity ? 0 : 1 - Math.exp(-z / this.hazeDist);
    const k = light * (1 - h);
    const o = i * 3;
    this.rgb[o] = this.r * k + this.hazeCol[0] * h;
    this.rgb[o + 1] = this.g * k + this.hazeCol[1] * h;
    this.rgb[o + 2] = this.b * k + this.hazeCol[2] * h;
    this.label[i] = id;
    this.inst[i] = this.instance;
    this.zbuf[i] = z;
  }
  /** A vertical plane at lateral position X (metres, camera at 0), spanning depth [z0,z1] and height [y0,y1]. */
  sideFace(X: number, z0: number, z1: number, y0: number, y1: number, shade: Shader, light: number): void {
    if (X === 0 || z1 <= 0.3) return;
    z0 = Math.max(z0, 0.3);
    const { W, H, f, xv, yh, camH, zbuf } = this;
    const ua = xv + (f * X) / z0;
    const ub = xv + (f * X) / z1;
    const u0 = Math.max(0, Math.floor(Math.min(ua, ub)));
    const u1 = Math.min(W - 1, Math.ceil(Math.max(ua, ub)));
    for (let u = u0; u <= u1; u++) {
      const du = u + 0.5 - xv;
      if (du * X <= 0) continue;
      const Z = (f * X) / du;
      if (Z < z0 || Z > z1) continue;
      const vT = Math.max(0, Math.floor(yh + (f * (camH - y1)) / Z));
      const vB = Math.min(H - 1, Math.ceil(yh + (f * (camH - y0)) / Z));
      for (let v = vT; v <= vB; v++) {
        const Y = camH - ((v + 0.5 - yh) * Z) / f;
        if (Y < y0 || Y > y1) continue;
        const i = v * W + u;
        if (Z >= zbuf[i]) continue;
        const id = shade(Z - z0, Y);
        if (id >= 0) this.put(i, Z, id, light);
      }
    }
  }
  /** A plane facing the camera at depth z, spanning [x0,x1] × [y0,y1] metres. */
  frontFace(z: number, x0: number, x1: number, y0: number, y1: number, shade: Shader, light: number): void {
    if (z <= 0.3) return;
    const { W, H, f, xv, yh, camH, zbuf } = this;
    const u0 = Math.max(0, Math.floor(xv + (f * x0) / z));
    const u1 = Math.min(W - 1, Math.ceil(xv + (f * x1) / z));
    const v0 = Math.max(0, Math.floor(yh + (f * (camH - y1)) / z));
    const v1 = Math.min(H - 1, Math.ceil(yh + (f * (camH - y0)) / z));
    // Keep thin things (poles, bars) at least ~1 px wide at any distance.
    const minHalf = (0.5 * z) / f;
    for (let v = v0; v <= v1; v++) {
      const Y = camH - ((v + 0.5 - yh) * z) / f;
      if (Y < y0 || Y > y1) continue;
      for (let u = u0; u <= u1; u++) {
        const i = v * W + u;
        if (z >= zbuf[i]) continue;
        let X = ((u + 0.5 - xv) * z) / f;
        if (X < x0 || X > x1) {
          if (x1 - x0 < 2 * minHalf && Math.abs(X - 0.5 * (x0 + x1)) <= minHalf) X = 0.5 * (x0 + x1);
          else continue;
        }
        const id = shade(X - x0, Y);
        if (id >= 0) this.put(i, z, id, light);
      }
    }
  }
  /** A box on the ground: visible near end (front face) and the side facing the camera. */
  box(
    x0: number, x1: number, z0: number, z1: number, h: number,
    front: Shader, side: Shader, lightFront: number, lightSide: number,
  ): void {
    if (x0 > 0) this.sideFace(x0, z0, z1, 0, h, side, lightSide);
    else if (x1 < 0) this.sideFace(x1, z0, z1, 0, h, (a, b) => side(a, b), lightSide);
    this.frontFace(z0, x0, x1, 0, h, front, lightFront);
  }
}

interface Segment {
  z0: number;
  z1: number;
  kind: 'building' | 'wall' | 'park' | 'crossStreet';
  /** lateral distance of the facade from the sidewalk outer edge */
  setback: number;
  height: number;
  colour: RGB;
  fence: 'none' | 'bars' | 'planks' | 'hedge';
  windowW: number;
  floorH: number;
  bayW: number;
}

interface Side {
  sign: -1 | 1;
  /** road edge (curb) |X| */
  curb: number;
  /** sidewalk outer edge |X| */
  walkOuter: number;
  segments: Segment[];
  parking: boolean;
}


interface GroundParams {
  S: number; skyTop: RGB; skyBottom: RGB; cloudiness: number; sides: Side[]; laneW: number; zebra: number; shadowX: number;
  groundShadow: boolean; sunSide: number; sidewalkCol: RGB; asphalt: number; grass: RGB; tram: boolean;
}

function segAt(side: Side, Z: number): Segment | undefined {
  const segs = side.segments;
  for (let i = 0; i < segs.length; i++) if (Z >= segs[i].z0 && Z < segs[i].z1) return segs[i];
  return undefined;
}

/** Sky (gradient + clouds) and the ground plane (road, parking, rails, sidewalks, terrain). Kept
 * out of renderStreetScene so that V8 can inline the noise calls in these per-pixel loops. */
function paintSkyAndGround(c: Canvas, noise: ValueNoise, p: GroundParams): void {
  const { W, H, f, xv, yh, camH } = c;
  const { S, skyTop, skyBottom, cloudiness, sides, laneW, zebra, shadowX, groundShadow, sunSide, sidewalkCol, asphalt, grass, tram } = p;
  // ---- sky ----
  for (let v = 0; v < Math.min(H, Math.ceil(yh) + 2); v++) {
    const t = Math.min(1, v / yh);
    for (let u = 0; u < W; u++) {
      const cl = noise.fbm(u / (60 * S), v / (25 * S) + 40);
      const k = Math.max(0, cl - 1 + cloudiness) * 1.8;
      c.set(
        skyTop[0] + (skyBottom[0] - skyTop[0]) * t + k * 90,
        skyTop[1] + (skyBottom[1] - skyTop[1]) * t + k * 80,
        skyTop[2] + (skyBottom[2] - skyTop[2]) * t + k * 50,
      );
      c.put(v * W + u, Infinity, ID.sky, 1);
    }
  }

  // ---- ground plane ----
  for (let v = Math.max(0, Math.floor(yh) + 1); v < H; v++) {
    const Z = (f * camH) / (v + 0.5 - yh);
    for (let u = 0; u < W; u++) {
      const X = ((u + 0.5 - xv) * Z) / f;
      const side = X < 0 ? sides[0] : sides[1];
      const ax = Math.abs(X);
      let id: number;
      const n1 = noise.n(X * 3.1 + 50, Z * 3.1);
      const n2 = noise.fbm(X * 0.35 + 100, Z * 0.35);
      let light = 1;
      if (groundShadow && (sunSide > 0 ? X > shadowX + side.curb : X < shadowX - side.curb)) light = 0.6;
      if (ax < side.curb) {
        // road, with parking strip, rails, markings
        if (side.parking && ax > side.curb - 2.2) {
          id = ID.parking;
          const g = asphalt + 10 + 25 * (n1 - 0.5) + 20 * (n2 - 0.5);
          const line = (Math.abs(((Z + 100) % 5.5) - 0.1) < 0.12 || Math.abs(ax - (side.curb - 2.2)) < 0.08) && ax < side.curb - 0.3;
          if (line) c.set(215, 215, 210);
          else c.set(g, g, g * 1.02);
        } else if (tram && Math.abs(Math.abs(X) - 0.75) < 0.9) {
          id = ID.railTrack;
          const rail = Math.abs(Math.abs(X) - 0.75) < 0.05;
          const g = asphalt - 10 + 20 * (n1 - 0.5);
          if (rail) c.set(170, 165, 160);
          else c.set(g, g * 0.98, g * 0.95);
        } else {
          id = ID.road;
          let g = asphalt + 22 * (n1 - 0.5) + 28 * (n2 - 0.5);
          // tyre tracks
          const lanePos = (((X + laneW * 0.5) % laneW) + laneW) % laneW;
          if (Math.abs(lanePos - laneW * 0.25) < 0.35 || Math.abs(lanePos - laneW * 0.75) < 0.35) g -= 7;
          const laneLine = Math.abs(lanePos - laneW * 0.5 + laneW * 0.5) < 0.07 && (Z + 50) % 9 < 3.5 && ax > 0.5 && !tram;
          const centre = Math.abs(X) < 0.08 && !tram;
          const edge = Math.abs(ax - (side.curb - 0.35)) < 0.07 && !side.parking;
          const zeb = Z > zebra && Z < zebra + 4 && ((X + 100) % 1.0) < 0.5;
          if (laneLine || centre || edge || zeb) c.set(220, 220, 215);
          else c.set(g, g, g * 1.03);
        }
      } else if (ax < side.walkOuter) {
        const seg = segAt(side, Z);
        if (seg && seg.kind === 'crossStreet' && ax > side.curb + 0.2) {
          id = ID.road;
          const g = asphalt + 22 * (n1 - 0.5) + 20 * (n2 - 0.5);
          c.set(g, g, g * 1.03);
        } else {
          id = ID.sidewalk;
          const curbStrip = ax - side.curb < 0.18;
          const tile = 0.4;
          const jx = ((ax % tile) + tile) % tile;
          const jz = ((Z % tile) + tile) % tile;
          const joint = jx < 0.03 || jz < 0.03;
          const k = (curbStrip ? 1.15 : joint ? 0.8 : 1) * (0.92 + 0.16 * n2) + 0.08 * (n1 - 0.5);
          c.set(sidewalkCol[0] * k, sidewalkCol[1] * k, sidewalkCol[2] * k);
        }
      } else {
        const seg = segAt(side, Z);
        if (seg && seg.kind === 'crossStreet') {
          id = ID.road;
          const g = asphalt + 22 * (n1 - 0.5) + 20 * (n2 - 0.5);
          c.set(g, g, g * 1.03);
        } else if (seg && (seg.kind === 'park' || seg.kind === 'wall')) {
          const dirt = noise.fbm(X * 0.2 + 7, Z * 0.2 + 9);
          if (dirt < 0.33) {
            id = ID.ground;
            c.set(120 + 30 * n1, 100 + 20 * n1, 75);
          } else {
            id = ID.terrain;
            const k = 0.8 + 0.35 * n2 + 0.15 * (n1 - 0.5);
            c.set(grass[0] * k, grass[1] * k, grass[2] * k);
          }
        } else {
          id = ID.sidewalk;
          const k = 0.9 + 0.15 * n2;
          c.set(sidewalkCol[0] * k, sidewalkCol[1] * k, sidewalkCol[2] * k);
        }
      }
      c.put(v * W + u, Z, id, light);
    }
  }

}

/**
 * Everything the parts of one scene share: the frame (canvas + camera), the random stream and noise,
 * the lights, and the street layout drawn by `setUpScene`. The parts below draw from `rng` in a fixed
 * order (setup, sky and ground, frontage, traffic, street furniture, void regions, camera), which is
 * what makes a frame a pure function of its options: their order must not change.
 */
interface Scene {
  W: number;
  H: number;
  /** Resolution scale for pixel-sized effects (W / 512). */
  S: number;
  rng: Rng;
  noise: ValueNoise;
  c: Canvas;
  style: CityStyle;
  req: SceneRequirements;
  sunSide: number;
  lightFront: number;
  /** Light for a face whose outward normal points towards +X (n = 1) or −X (n = −1). */
  sideLight: (n: number) => number;
  skyTop: RGB;
  skyBottom: RGB;
  cloudiness: number;
  tram: boolean;
  sides: Side[];
  laneW: number;
  zebra: number;
  shadowX: number;
  groundShadow: boolean;
  asphalt: number;
  grass: RGB;
  leaf: RGB;
  /** Nearest visible ground depth, plus a margin. */
  zMin: number;
}

/** Camera, lights and street layout: the first draws of a frame's random stream. */
function setUpScene(options: SceneOptions): Scene {
  const { width: W, height: H } = options;
  const style = options.style ?? DEFAULT_STYLE;
  const req = options.require ?? {};
  const rng = Rng.fromState(options.seed);
  const noise = new ValueNoise(rng);
  const S = W / 512; // resolution scale for pixel-sized effects

  // Camera.
  const f = W * rng.uniform(0.55, 0.65);
  const yh = H * rng.uniform(0.36, 0.46);
  const xv = W * rng.uniform(0.42, 0.58);
  const camH = rng.uniform(1.3, 1.6);
  const c = new Canvas(W, H, f, xv, yh, camH);
  const sunSide = rng.chance(0.5) ? 1 : -1;
  const overcast = rng.chance(0.35);
  const lightLit = overcast ? 1.0 : rng.uniform(1.05, 1.25);
  const lightShade = overcast ? 0.85 : rng.uniform(0.55, 0.75);
  const lightFront = overcast ? 0.92 : rng.uniform(0.8, 0.95);
  c.hazeDist = rng.uniform(90, 260);
  const skyTop: RGB = overcast ? [150, 155, 165] : [70 + rng.intIn(0, 30), 120 + rng.intIn(0, 30), 190 + rng.intIn(0, 40)];
  const skyBottom: RGB = overcast ? [200, 202, 208] : [175, 200, 225];
  c.hazeCol = [skyBottom[0] * 0.95, skyBottom[1] * 0.95, skyBottom[2] * 0.95];
  /** light for a face whose outward normal points towards +X (n = 1) or −X (n = −1) */
  const sideLight = (n: number) => (n === sunSide ? lightLit : lightShade);

  // Street layout.
  const tram = !!req.train || rng.chance(0.05);
  const makeSide = (sign: -1 | 1): Side => {
    const curb = rng.uniform(3.2, 6.5) + (tram ? 1.5 : 0);
    const walkOuter = curb + rng.uniform(2.0, 4.5);
    const segments: Segment[] = [];
    let z = rng.uniform(-5, 2);
    while (z < 220) {
      const r = rng.next();
      const kind: Segment['kind'] = r < style.greenery ? 'park' : r < style.greenery + 0.08 ? 'crossStreet' : r < style.greenery + 0.16 ? 'wall' : 'building';
      const len = kind === 'crossStreet' ? rng.uniform(8, 14) : rng.uniform(10, 35);
      segments.push({
        z0: z, z1: z + len, kind,
        setback: kind === 'park' ? rng.uniform(6, 25) : kind === 'wall' ? rng.uniform(3, 10) : rng.chance(0.2) ? rng.uniform(0.5, 3) : 0,
        height: rng.uniform(style.heights[0], style.heights[1]),
        colour: rng.pick(style.facades),
        fence: kind === 'park' ? rng.pick(['bars', 'planks', 'hedge', 'none'] as const) : kind === 'wall' ? 'none' : rng.chance(0.12) ? rng.pick(['bars', 'hedge'] as const) : 'none',
        windowW: rng.uniform(0.9, 1.6), floorH: rng.uniform(2.9, 3.6), bayW: rng.uniform(2.4, 3.6),
      });
      z += len;
    }
    return { sign, curb, walkOuter, segments, parking: rng.chance(0.15) };
  };
  const sides: Side[] = [makeSide(-1), makeSide(1)];
  const laneW = rng.uniform(3.0, 3.6);
  const zebra = rng.chance(0.3) ? rng.uniform(8, 25) : -100;
  const shadowX = rng.uniform(-8, 8);
  const groundShadow = !overcast && rng.chance(0.6);
  const asphalt = rng.uniform(80, 110);
  const grass: RGB = [rng.uniform(90, 130), rng.uniform(150, 185), rng.uniform(70, 100)];
  const leaf: RGB = [rng.uniform(55, 85), rng.uniform(95, 130), rng.uniform(30, 50)];

  const cloudiness = rng.uniform(0, overcast ? 0.3 : 0.8);
  const zMin = (f * camH) / (H - yh) + 1.5;
  return {
    W, H, S, rng, noise, c, style, req, sunSide, lightFront, sideLight, skyTop, skyBottom, cloudiness, tram, sides, laneW,
    zebra, shadowX, groundShadow, asphalt, grass, leaf, zMin,
  };
}

/** Street frontage: buildings, walls, fences, hedges along each side. */
function paintFrontage(x: Scene): void {
  const { c, rng, noise, sides, leaf, lightFront, sideLight } = x;
  const leafShade = (scale: number, base: RGB, offset: number): Shader => (a, b) => {
    const n = noise.fbm(a * scale + offset, b * scale);
    const k = 0.45 + 0.9 * n;
    c.set(base[0] * k, base[1] * k, base[2] * k);
    return ID.vegetation;
  };
  for (const side of sides) {
    const s = side.sign;
    const nFace = -s; // facades face the road
    for (const seg of side.segments) {
      if (seg.kind === 'crossStreet') continue;
      const Xf = s * (side.walkOuter + seg.setback);
      const col = seg.colour;
      const hasWindows = seg.kind !== 'wall' || seg.height > 0;
      const off = seg.z0 * 13.7;
      const facade: Shader = (a, b) => {
        const n = noise.fbm(a * 0.8 + off, b * 0.8);
        let k = 0.85 + 0.3 * n;
        const top = seg.height - b;
        if (top < 0.5) k *= 0.7; // cornice
        let glass = false;
        if (hasWindows && b > 0.6 && top > 1.0) {
          const ground = b < 4;
          const bay = ((a % seg.bayW) + seg.bayW) % seg.bayW;
          if (ground) glass = bay > 0.3 && bay < seg.bayW - 0.3 && b > 0.7 && b < 3.2;
          else {
            const fl = ((b - 4) % seg.floorH + seg.floorH) % seg.floorH;
            glass = Math.abs(bay - seg.bayW / 2) < seg.windowW / 2 && fl > 0.8 && fl < 2.4;
          }
        }
        if (glass) {
          const r = noise.n(a * 0.5 + off, b * 0.3) * 40;
          c.set(40 + r, 50 + r, 60 + r * 1.3);
        } else c.set(col[0] * k, col[1] * k, col[2] * k);
        return ID.building;
      };
      if (seg.kind === 'building' || seg.kind === 'park' || seg.kind === 'wall') {
        const depth = 15;
        const x0 = s < 0 ? Xf - depth : Xf;
        const x1 = s < 0 ? Xf : Xf + depth;
        const h = seg.kind === 'building' ? seg.height : seg.height * rng.uniform(0.6, 1.1);
        c.box(x0, x1, seg.z0, seg.z1, h, facade, facade, lightFront, sideLight(nFace));
      }
      // frontage structures along the sidewalk's outer edge
      const Xe = s * (side.walkOuter + 0.1);
      if (seg.kind === 'wall') {
        const wh = rng.uniform(1.0, 3.2);
        const brick = rng.chance(0.4);
        const wallShade: Shader = (a, b) => {
          const n = noise.fbm(a * 1.3 + off, b * 1.3 + 11);
          let k = 0.8 + 0.35 * n;
          if (wh - b < 0.15) k *= 0.75;
          if (brick) {
            const row = Math.floor(b / 0.075);
            const bx = ((a + (row % 2) * 0.12) % 0.24 + 0.24) % 0.24;
            if (b % 0.075 < 0.012 || bx < 0.015) k *= 0.7;
          }
          c.set(col[0] * k, col[1] * k, col[2] * k);
          return ID.wall;
        };
        c.sideFace(Xe, seg.z0, seg.z1, 0, wh, wallShade, sideLight(nFace));
      }
      if (seg.fence === 'hedge') {
        const hh = rng.uniform(0.8, 1.8);
        c.sideFace(Xe, seg.z0, seg.z1, 0, hh, leafShade(2.2, leaf, off), sideLight(nFace));
      } else if (seg.fence !== 'none') {
        const fh = rng.uniform(1.0, 2.0);
        const bars = seg.fence === 'bars';
        const spacing = bars ? rng.uniform(0.12, 0.25) : rng.uniform(0.1, 0.16);
        const fcol: RGB = bars ? rng.pick<RGB>([[60, 65, 70], [40, 60, 45], [150, 150, 150]]) : rng.pick<RGB>([[140, 105, 70], [170, 160, 140], [110, 90, 70]]);
        const fenceShade: Shader = (a, b) => {
          const rail = b < 0.08 || fh - b < 0.08 || Math.abs(b - fh * 0.5) < 0.04;
          const ph = ((a % spacing) + spacing) % spacing;
          const isBar = bars ? ph < spacing * 0.35 : ph < spacing * 0.85;
          if (!rail && !isBar) return -1;
          const k = 0.85 + 0.3 * noise.n(a * 4 + off, b * 4);
          c.set(fcol[0] * k, fcol[1] * k, fcol[2] * k);
          return ID.fence;
        };
        c.sideFace(Xe, seg.z0, seg.z1, 0, fh, fenceShade, sideLight(nFace));
      }
    }
  }
}

// ---- objects (z-buffered, any order) ----
function drawPole(x: Scene, X: number, Z: number, h: number, w: number, id: number = ID.pole): void {
  const { c, rng, lightFront } = x;
  const tone = rng.uniform(90, 160);
  c.frontFace(Z, X - w / 2, X + w / 2, 0, h, (a) => {
    const k = 0.7 + 0.6 * Math.sin((a / w) * Math.PI);
    c.set(tone * k, tone * k, tone * k * 1.05);
    return id;
  }, lightFront);
}

function drawTrafficLight(x: Scene, X: number, Z: number, y: number): void {
  const { c, rng, lightFront } = x;
  const w = 0.35;
  const h = 0.95;
  const housing: RGB = rng.chance(0.6) ? [35, 35, 35] : [170, 150, 40];
  const lit = rng.intIn(0, 2);
  c.frontFace(Z - 0.05, X - w / 2, X + w / 2, y, y + h, (a, b) => {
    const dy = b - y;
    for (let k = 0; k < 3; k++) {
      const cy = h - 0.17 - k * 0.3;
      if ((a - w / 2) ** 2 + (dy - cy) ** 2 < 0.1 ** 2) {
        const on = k === lit;
        const col: RGB = k === 0 ? [230, 40, 30] : k === 1 ? [240, 170, 30] : [40, 220, 90];
        if (on) c.set(col[0], col[1], col[2]);
        else c.set(col[0] * 0.25, col[1] * 0.25, col[2] * 0.25);
        return ID.trafficLight;
      }
    }
    c.set(housing[0], housing[1], housing[2]);
    return ID.trafficLight;
  }, lightFront);
}

function drawTrafficSign(x: Scene, X: number, Z: number, y: number): void {
  const { c, rng, lightFront } = x;
  const shape = rng.intIn(0, 3);
  const r = rng.uniform(0.3, 0.45);
  c.frontFace(Z - 0.05, X - r, X + r, y - r, y + r, (a, b) => {
    const dx = a - r;
    const dy = b - y;
    let inside: boolean;
    let rim: boolean;
    if (shape === 0) {
      const d = Math.hypot(dx, dy);
      inside = d < r;
      rim = d > r * 0.75;
    } else if (shape === 1) {
      // triangle pointing up
      const t = (dy + r * 0.8) / (1.7 * r);
      inside = t >= 0 && t <= 1 && Math.abs(dx) < r * (1 - t);
      rim = inside && (t < 0.15 || Math.abs(dx) > r * (1 - t) - 0.08);
    } else if (shape === 2) {
      inside = Math.abs(dx) < r && Math.abs(dy) < r * 0.8;
      rim = inside && (Math.abs(dx) > r - 0.05 || Math.abs(dy) > r * 0.8 - 0.05);
    } else {
      inside = Math.abs(dx) + Math.abs(dy) < r * 1.2;
      rim = inside && Math.abs(dx) + Math.abs(dy) > r * 1.0;
    }
    if (!inside) return -1;
    if (shape === 2) {
      if (rim) c.set(240, 240, 240);
      else c.set(30, 80, 170);
    } else if (shape === 3) {
      if (rim) c.set(240, 240, 240);
      else c.set(240, 200, 20);
    } else if (rim) c.set(200, 30, 30);
    else c.set(235, 235, 230);
    return ID.trafficSign;
  }, lightFront);
}

function drawTree(x: Scene, X: number, Z: number): void {
  const { c, rng, noise, leaf, lightFront } = x;
  const trunkH = rng.uniform(2.0, 3.5);
  const rx = rng.uniform(1.4, 3.2);
  const ry = rx * rng.uniform(0.9, 1.4);
  const cy = trunkH + ry * 0.8;
  const trunkW = rng.uniform(0.2, 0.4);
  const off = rng.uniform(0, 200);
  const lc: RGB = [leaf[0] * rng.uniform(0.8, 1.2), leaf[1] * rng.uniform(0.85, 1.15), leaf[2] * rng.uniform(0.8, 1.2)];
  c.frontFace(Z, X - rx, X + rx, trunkH + ry * 0.8 - ry, cy + ry, (a, b) => {
    const dx = (a - rx) / rx;
    const dy = (b - cy) / ry;
    const n = noise.fbm(a * 1.7 + off, b * 1.7);
    if (dx * dx + dy * dy > 0.75 + 0.5 * n) return -1;
    const hf = noise.n(a * 6 + off, b * 6);
    if (hf < 0.07) return -1; // sky through the leaves
    const k = 0.45 + 0.9 * (0.6 * n + 0.4 * hf) - 0.2 * dy;
    c.set(lc[0] * k, lc[1] * k, lc[2] * k);
    return ID.vegetation;
  }, lightFront);
  c.frontFace(Z + 0.01, X - trunkW / 2, X + trunkW / 2, 0, trunkH + 0.5, (a) => {
    const k = 0.7 + 0.5 * Math.sin((a / trunkW) * Math.PI);
    c.set(95 * k, 80 * k, 60 * k);
    return ID.vegetation;
  }, lightFront);
}

/** A standing person (front view), or the upper body of a rider (side view, seated). */
function drawHuman(x: Scene, X: number, Z: number, id: number, seatY = 0, facing = 1): void {
  const { c, rng, lightFront } = x;
  const h = rng.uniform(1.55, 1.9) * (id === ID.rider ? 0.95 : 1);
  const shirt = rng.pick(CLOTHES);
  const pants = rng.pick(CLOTHES);
  const skin = rng.pick(SKIN);
  const hair: RGB = rng.pick<RGB>([[30, 20, 15], [90, 60, 30], [180, 150, 90], [60, 60, 60]]);
  const w = 0.5;
  const stride = rng.uniform(0, 0.25);
  const bag = rng.chance(0.3);
  if (id === ID.person) {
    c.frontFace(Z, X - w, X + w, 0, h, (a, b) => {
      const dx = a - w;
      const t = b / h;
      const headR = 0.11;
      if ((dx / headR) ** 2 + ((b - (h - headR)) / (headR * 1.2)) ** 2 < 1) {
        if (b > h - headR * 0.9) c.set(hair[0], hair[1], hair[2]);
        else c.set(skin[0], skin[1], skin[2]);
        return ID.person;
      }
      if (t > 0.47 && t < 0.83 && Math.abs(dx) < 0.2 - (t - 0.47) * 0.1) {
        c.set(shirt[0], shirt[1], shirt[2]);
        return ID.person;
      }
      if (t > 0.45 && t < 0.82 && Math.abs(dx) > 0.19 && Math.abs(dx) < 0.26) {
        c.set(shirt[0] * 0.85, shirt[1] * 0.85, shirt[2] * 0.85);
        return ID.person;
      }
      if (bag && t > 0.42 && t < 0.6 && dx > 0.24 && dx < 0.42) {
        c.set(60, 40, 30);
        return ID.person;
      }
      if (t <= 0.48) {
        const legX = 0.1 + stride * (0.48 - t);
        if (Math.abs(Math.abs(dx) - legX) < 0.075) {
          if (t < 0.04) c.set(25, 25, 25);
          else c.set(pants[0], pants[1], pants[2]);
          return ID.person;
        }
      }
      return -1;
    }, lightFront);
    return;
  }
  // rider: seated upper body, leaning forward, legs down to the pedals/footrests
  const torsoH = h * 0.36;
  c.frontFace(Z - 0.02, X - 0.7, X + 0.7, seatY - 0.45, seatY + torsoH + 0.32, (a, b) => {
    const dx = (a - 0.7) * facing;
    const y = b - seatY;
    // head (with helmet sometimes drawn in hair colour)
    const hx = 0.18;
    const hy = torsoH + 0.17;
    if (((dx - hx) / 0.12) ** 2 + ((y - hy) / 0.14) ** 2 < 1) {
      if (y > hy) c.set(hair[0], hair[1], hair[2]);
      else c.set(skin[0], skin[1], skin[2]);
      return ID.rider;
    }
    // torso: a slanted band from the seat to the shoulders
    const tt = y / torsoH;
    if (tt >= 0 && tt <= 1.05) {
      const cx = 0.15 * tt;
      if (Math.abs(dx - cx) < 0.15) {
        c.set(shirt[0], shirt[1], shirt[2]);
        return ID.rider;
      }
      // arms to the handlebar
      const ax = 0.15 + (1 - tt) * 0.35;
      if (tt > 0.35 && Math.abs(dx - ax) < 0.06 && tt < 0.95) {
        c.set(shirt[0] * 0.85, shirt[1] * 0.85, shirt[2] * 0.85);
        return ID.rider;
      }
    }
    // legs
    if (y < 0.05 && y > -0.45 && Math.abs(dx - 0.12 + y * 0.2) < 0.08) {
      c.set(pants[0], pants[1], pants[2]);
      return ID.rider;
    }
    return -1;
  }, lightFront);
}

/** Bicycle or motorcycle, side view, centred at X; returns the seat height. */
function drawTwoWheeler(x: Scene, X: number, Z: number, motor: boolean, facing: number): number {
  const { c, rng, lightFront } = x;
  const R = motor ? rng.uniform(0.3, 0.34) : rng.uniform(0.33, 0.36);
  const wb = motor ? rng.uniform(1.35, 1.5) : rng.uniform(1.0, 1.1);
  const tyre = motor ? 0.1 : 0.035;
  const frameCol: RGB = rng.pick(PAINTS);
  const id = motor ? ID.motorcycle : ID.bicycle;
  const half = wb / 2 + R + 0.05;
  const seatY = motor ? 0.8 : 0.95;
  c.frontFace(Z, X - half, X + half, 0, seatY + 0.25, (a, b) => {
    const dx = (a - half) * facing;
    for (let wi = 0; wi < 2; wi++) {
      const wx = wi === 0 ? -wb / 2 : wb / 2;
      const d = Math.hypot(dx - wx, b - R);
      if (d < R && d > R - tyre) {
        c.set(25, 25, 25);
        return id;
      }
      if (!motor && d < R - tyre && (Math.abs((dx - wx) * 0.3) < 0.01 || d < 0.04)) {
        c.set(150, 150, 150);
        return id;
      }
      if (motor && d < R - tyre) {
        c.set(120, 120, 125);
        return id;
      }
    }
    if (motor) {
      // engine + tank + seat blob
      if (((dx + 0.05) / (wb * 0.42)) ** 2 + ((b - 0.6) / 0.22) ** 2 < 1) {
        const k = b > 0.7 ? 1.1 : 0.8;
        c.set(frameCol[0] * k, frameCol[1] * k, frameCol[2] * k);
        return id;
      }
      if (dx > wb / 2 - 0.25 && dx < wb / 2 && b > R && b < 1.05 && Math.abs(dx - (wb / 2 - 0.05) + (b - R) * 0.3) < 0.05) {
        c.set(60, 60, 60);
        return id;
      }
    } else {
      // diamond frame: seat tube, down tube, top tube, fork
      const seatX = -0.12;
      const crankX = 0;
      const onSeg = (x0: number, y0: number, x1: number, y1: number, w: number) => {
        const vx = x1 - x0;
        const vy = y1 - y0;
        const t = Math.max(0, Math.min(1, ((dx - x0) * vx + (b - y0) * vy) / (vx * vx + vy * vy)));
        return Math.hypot(dx - x0 - t * vx, b - y0 - t * vy) < w;
      };
      if (
        onSeg(crankX, R, seatX, seatY, 0.025) || onSeg(crankX, R, wb / 2 - 0.12, 0.85, 0.025) ||
        onSeg(seatX, seatY - 0.05, wb / 2 - 0.12, 0.85, 0.022) || onSeg(-wb / 2, R, crankX, R, 0.02) ||
        onSeg(-wb / 2, R, seatX, seatY - 0.05, 0.02) || onSeg(wb / 2, R, wb / 2 - 0.15, 1.0, 0.025) ||
        onSeg(seatX - 0.1, seatY + 0.02, seatX + 0.08, seatY + 0.02, 0.03)
      ) {
        c.set(frameCol[0], frameCol[1], frameCol[2]);
        return id;
      }
    }
    return -1;
  }, lightFront);
  return seatY;
}

type VehicleKind = 'car' | 'truck' | 'bus' | 'train' | 'caravan';
function drawVehicle(x: Scene, kind: VehicleKind, X: number, Z: number): void {
  const { c, rng, noise, lightFront, sideLight } = x;
  const dims = {
    car: [rng.uniform(1.7, 1.9), rng.uniform(4.0, 4.8), rng.uniform(1.4, 1.6)],
    truck: [rng.uniform(2.3, 2.55), rng.uniform(6.5, 9.5), rng.uniform(3.0, 3.8)],
    bus: [2.55, rng.uniform(11, 13.5), rng.uniform(3.0, 3.3)],
    train: [2.65, rng.uniform(25, 40), rng.uniform(3.4, 3.7)],
    caravan: [2.3, rng.uniform(5, 7), 2.6],
  }[kind];
  const [w, len, h] = dims;
  const id = { car: ID.car, truck: ID.truck, bus: ID.bus, train: ID.train, caravan: ID.caravan }[kind];
  const paint = kind === 'train' ? rng.pick<RGB>([[230, 230, 225], [200, 170, 40], [150, 20, 25], [20, 40, 120]]) : rng.pick(PAINTS);
  const paint2 = rng.pick(PAINTS);
  const x0 = X - w / 2;
  const x1 = X + w / 2;
  const glass = (a: number, b: number) => {
    const r = noise.n(a * 0.7 + X, b * 0.7) * 35;
    c.set(35 + r, 45 + r, 55 + r * 1.2);
  };
  const wheel = (t: number, b: number, cx: number, r: number) => (t - cx) ** 2 + (b - r) ** 2 < r * r;
  const front: Shader = (a, b) => {
    const dx = a - w / 2;
    const k = 0.9 + 0.2 * noise.n(a * 2 + X, b * 2);
    if (kind === 'car') {
      const cabin = b > h * 0.58;
      if (cabin && Math.abs(dx) > w / 2 - 0.12 - (b - h * 0.58) * 0.5) return -1; // tapered roof
      if (cabin && b > h * 0.62 && b < h * 0.94 && Math.abs(dx) < w / 2 - 0.22 - (b - h * 0.58) * 0.5) glass(a, b);
      else if (b < 0.32 && Math.abs(dx) > w / 2 - 0.3) c.set(20, 20, 20);
      else if (b > 0.7 && b < 0.85 && Math.abs(dx) > w / 2 - 0.35) c.set(200, 30, 30);
      else if (b > 0.4 && b < 0.52 && Math.abs(dx) < 0.26) c.set(235, 235, 235);
      else c.set(paint[0] * k, paint[1] * k, paint[2] * k);
    } else if (kind === 'truck') {
      if (b < 0.5 && Math.abs(dx) > w / 2 - 0.45) c.set(20, 20, 20);
      else if (b < 0.8) c.set(50, 50, 50);
      else if (Math.abs(dx) < 0.03 || Math.abs(dx) > w / 2 - 0.05) c.set(paint[0] * 0.6, paint[1] * 0.6, paint[2] * 0.6);
      else c.set(paint[0] * k, paint[1] * k, paint[2] * k);
    } else if (kind === 'bus' || kind === 'train' || kind === 'caravan') {
      if (b > h * 0.5 && b < h * 0.9 && Math.abs(dx) < w / 2 - 0.15) glass(a, b);
      else if (b < 0.45 && Math.abs(dx) > w / 2 - 0.4 && kind !== 'train') c.set(20, 20, 20);
      else if (b > 0.6 && b < 0.8 && Math.abs(dx) > w / 2 - 0.3) c.set(220, 200, 120);
      else c.set(paint[0] * k, paint[1] * k, paint[2] * k);
      if (kind === 'train' && b > h - 0.05 && Math.abs(dx) > 0.4) return -1;
    }
    return id;
  };
  const side: Shader = (t, b) => {
    const k = 0.9 + 0.2 * noise.n(t * 2 + X, b * 2);
    if (kind === 'car') {
      if (b > h * 0.6 && (t < len * 0.2 || t > len * 0.85)) return -1;
      if (wheel(t, b, len * 0.17, 0.32) || wheel(t, b, len * 0.82, 0.32)) { c.set(22, 22, 22); return id; }
      if (b > h * 0.63 && b < h * 0.93 && t > len * 0.24 && t < len * 0.81 && Math.abs(t - len * 0.52) > 0.06) glass(t, b);
      else c.set(paint[0] * k, paint[1] * k, paint[2] * k);
    } else if (kind === 'truck') {
      const cab = t > len - 2.2;
      if (cab && b > h * 0.8) return -1;
      if (wheel(t, b, 1.2, 0.48) || wheel(t, b, 2.4, 0.48) || wheel(t, b, len - 1.3, 0.48)) { c.set(22, 22, 22); return id; }
      if (b < 0.9) c.set(45, 45, 45);
      else if (cab && b > h * 0.5 && b < h * 0.75 && t > len - 1.6) glass(t, b);
      else if (cab) c.set(paint2[0] * k, paint2[1] * k, paint2[2] * k);
      else if (Math.abs(((t % 1.2) + 1.2) % 1.2) < 0.04) c.set(paint[0] * 0.7, paint[1] * 0.7, paint[2] * 0.7);
      else c.set(paint[0] * k, paint[1] * k, paint[2] * k);
    } else {
      // bus / train / caravan: long body with a window row
      if (kind === 'bus' ? wheel(t, b, 2.8, 0.5) || wheel(t, b, len - 3.0, 0.5) : kind === 'caravan' && wheel(t, b, len * 0.5, 0.5)) { c.set(22, 22, 22); return id; }
      const pitch = kind === 'train' ? 1.8 : 1.4;
      const joint = kind === 'train' && ((t % 9) + 9) % 9 < 0.35;
      const win = b > h * 0.45 && b < h * 0.85 && ((t % pitch) + pitch) % pitch > 0.15;
      if (joint) c.set(40, 40, 40);
      else if (win) glass(t, b);
      else if (b < 0.35) c.set(40, 40, 40);
      else if (kind === 'train' && b > h * 0.88) c.set(paint2[0] * k, paint2[1] * k, paint2[2] * k);
      else c.set(paint[0] * k, paint[1] * k, paint[2] * k);
    }
    return id;
  };
  const n = x0 > 0 ? -1 : 1; // outward normal of the visible side
  c.box(x0, x1, Z, Z + len, h, front, side, lightFront, sideLight(n));
  if (kind === 'train') {
    // pantograph
    c.frontFace(Z + len * 0.3, X - 0.6, X + 0.6, h, h + 0.9, (a, b) => {
      const dx = a - 0.6;
      const y = b - h;
      if (Math.abs(Math.abs(dx) - (0.6 - y * 0.55)) < 0.04 || y > 0.85) {
        c.set(60, 60, 60);
        return ID.train;
      }
      return -1;
    }, lightFront);
  }
}

/**
 * Traffic: the tram, vehicles, two-wheelers (with riders) and pedestrians, placed without overlap.
 * Every vehicle, two-wheeler and person is one object: the pixels it wins in the z-buffer carry
 * its number (c.inst), from which the Cityscapes instanceIds are made at the end. Numbering
 * consumes no random numbers, so images and labelIds are exactly those of the renderer without it.
 */
function placeTraffic(x: Scene): void {
  const { c, rng, req, style, sides, laneW, tram, zebra, zMin } = x;
  let objects = 0;
  const asObject = <T>(draw: () => T): T => {
    c.instance = ++objects;
    try {
      return draw();
    } finally {
      c.instance = 0;
    }
  };

  const laneCentres: number[] = [];
  {
    const [L, R] = [sides[0], sides[1]];
    const lo = -L.curb + (L.parking ? 2.2 : 0) + laneW / 2;
    const hi = R.curb - (R.parking ? 2.2 : 0) - laneW / 2;
    for (let x = lo; x <= hi + 1e-6; x += laneW) laneCentres.push(x);
    if (laneCentres.length === 0) laneCentres.push(0);
  }
  const occupied: Array<[number, number, number, number]> = []; // x0,x1,z0,z1
  const free = (x0: number, x1: number, z0: number, z1: number) =>
    occupied.every(([a0, a1, b0, b1]) => x1 < a0 || x0 > a1 || z1 < b0 || z0 > b1);
  const reserve = (x0: number, x1: number, z0: number, z1: number) => occupied.push([x0, x1, z0, z1]);

  if (tram) {
    const Z = rng.uniform(zMin + 4, 30);
    asObject(() => drawVehicle(x, 'train', 0, Z));
    reserve(-1.4, 1.4, Z, Z + 40);
    // overhead wire poles
    for (let z = rng.uniform(5, 20); z < 120; z += rng.uniform(25, 35)) drawPole(x, sides[1].curb + 0.4, z, 6.5, 0.22, ID.pole);
  }
  const placeVehicle = (kind: VehicleKind, want: boolean) => {
    for (let attempt = 0; attempt < 12; attempt++) {
      const lanes = tram ? laneCentres.filter((x) => Math.abs(x) > 1.8) : laneCentres;
      const parked = !want && rng.chance(0.45);
      let X: number;
      if (parked) {
        const side = rng.pick(sides);
        X = side.sign * (side.curb - (side.parking ? 1.1 : 1.0));
      } else X = lanes.length ? rng.pick(lanes) + rng.uniform(-0.3, 0.3) : rng.pick(sides).sign * (sides[0].curb - 1);
      const near = kind === 'car' ? zMin : zMin + 6;
      const Z = want ? rng.uniform(near + 2, near + 22) : rng.uniform(near, 80);
      const len = { car: 4.8, truck: 9.5, bus: 13.5, train: 40, caravan: 7 }[kind];
      const w = kind === 'car' ? 1.9 : 2.6;
      if (!free(X - w / 2 - 0.3, X + w / 2 + 0.3, Z - 1, Z + len + 1)) continue;
      reserve(X - w / 2, X + w / 2, Z, Z + len);
      asObject(() => drawVehicle(x, kind, X, Z));
      return;
    }
  };
  if (req.bus || rng.chance(0.06)) placeVehicle('bus', !!req.bus);
  if (req.truck || rng.chance(0.07)) placeVehicle('truck', !!req.truck);
  if (rng.chance(0.04)) placeVehicle('caravan', false);
  const nCars = Math.max(0, Math.round(style.cars + rng.normal() * 2.5));
  for (let k = 0; k < nCars; k++) placeVehicle('car', false);

  // two-wheelers with riders (and parked bicycles)
  const placeTwoWheeler = (motor: boolean, ridden: boolean, forced: boolean) => {
    for (let attempt = 0; attempt < 12; attempt++) {
      const side = rng.pick(sides);
      const onRoad = motor || rng.chance(0.6);
      const X = onRoad ? side.sign * (side.curb - rng.uniform(0.6, 1.6)) : side.sign * rng.uniform(side.curb + 0.6, side.walkOuter - 0.5);
      const Z = forced ? rng.uniform(zMin + 1, zMin + 14) : rng.uniform(zMin, 45);
      if (!free(X - 1.1, X + 1.1, Z - 0.5, Z + 0.5)) continue;
      reserve(X - 1.1, X + 1.1, Z - 0.5, Z + 0.5);
      const facing = rng.chance(0.5) ? 1 : -1;
      const seatY = asObject(() => drawTwoWheeler(x, X, Z, motor, facing));
      if (ridden) asObject(() => drawHuman(x, X - 0.1 * facing, Z - 0.03, ID.rider, seatY, facing));
      return;
    }
  };
  if (req.motorcyclist || rng.chance(0.12)) placeTwoWheeler(true, true, !!req.motorcyclist);
  if (req.cyclist || rng.chance(0.3)) placeTwoWheeler(false, true, !!req.cyclist);
  for (let k = rng.intIn(0, 2); k > 0; k--) placeTwoWheeler(false, false, false);

  // pedestrians on sidewalks (some crossing)
  const nPeds = Math.max(0, Math.round(style.pedestrians + rng.normal() * 3));
  for (let k = 0; k < nPeds; k++) {
    const side = rng.pick(sides);
    const crossing = rng.chance(0.1);
    const X = crossing ? rng.uniform(-side.curb, side.curb) : side.sign * rng.uniform(side.curb + 0.5, side.walkOuter - 0.3);
    const Z = crossing && zebra > 0 ? zebra + rng.uniform(0.5, 3.5) : rng.uniform(zMin, 50);
    if (!free(X - 0.3, X + 0.3, Z - 0.3, Z + 0.3)) continue;
    reserve(X - 0.3, X + 0.3, Z - 0.3, Z + 0.3);
    asObject(() => drawHuman(x, X, Z, ID.person));
  }
}

/** Street furniture on the sidewalk edge (poles, street lights, traffic lights, signs, trees, clutter), park trees, a traffic light over the road. */
function placeStreetFurniture(x: Scene): void {
  const { c, rng, sides, zMin, lightFront } = x;
  for (const side of sides) {
    const s = side.sign;
    let z = rng.uniform(zMin, zMin + 10);
    while (z < 110) {
      const X = s * (side.curb + rng.uniform(0.3, 0.6));
      const r = rng.next();
      if (r < 0.3) {
        drawTree(x, X + s * rng.uniform(0.2, 1.5), z);
      } else if (r < 0.5) {
        const h = rng.uniform(6, 9);
        drawPole(x, X, z, h, rng.uniform(0.15, 0.25));
        // street-light arm
        c.frontFace(z, Math.min(X, X - s * 1.5), Math.max(X, X - s * 1.5), h - 0.15, h, () => { c.set(120, 120, 125); return ID.pole; }, lightFront);
      } else if (r < 0.65) {
        const h = rng.uniform(3.2, 4.2);
        drawPole(x, X, z, h, rng.uniform(0.12, 0.18));
        drawTrafficLight(x, X, z, h - 0.95);
        if (rng.chance(0.4)) drawTrafficSign(x, X, z, h - 1.5);
      } else if (r < 0.85) {
        const h = rng.uniform(2.2, 3.0);
        drawPole(x, X, z, h, rng.uniform(0.06, 0.1));
        drawTrafficSign(x, X, z, h);
        if (rng.chance(0.3)) drawTrafficSign(x, X, z, h - 0.85);
      } else if (r < 0.92) {
        // static clutter (bollards, boxes) and dynamic (bins)
        const w = rng.uniform(0.4, 0.9);
        const dyn = rng.chance(0.4);
        const col: RGB = dyn ? rng.pick<RGB>([[40, 90, 50], [60, 60, 70], [170, 120, 40]]) : [110, 110, 105];
        c.frontFace(z, X - w / 2, X + w / 2, 0, rng.uniform(0.6, 1.3), () => { c.set(col[0], col[1], col[2]); return dyn ? ID.dynamic : ID.static; }, lightFront);
      } else {
        // a group of poles behind each other: polegroup (void)
        for (let k = 0; k < 3; k++) drawPole(x, X + k * 0.15 * s, z + k * 0.3, 3, 0.08, ID.polegroup);
      }
      z += rng.uniform(6, 18);
    }
    // trees in parks, behind the sidewalk
    for (const seg of side.segments) {
      if (seg.kind !== 'park') continue;
      for (let z2 = seg.z0 + rng.uniform(1, 5); z2 < seg.z1; z2 += rng.uniform(3, 8)) {
        drawTree(x, s * (side.walkOuter + rng.uniform(1.5, Math.max(2, seg.setback - 2))), z2);
      }
    }
  }
  // occasional traffic light over the road
  if (rng.chance(0.3)) {
    const z = rng.uniform(20, 45);
    const side = rng.pick(sides);
    const Xp = side.sign * (side.curb + 0.4);
    drawPole(x, Xp, z, 5.8, 0.2);
    c.frontFace(z, Math.min(Xp, Xp - side.sign * 4), Math.max(Xp, Xp - side.sign * 4), 5.5, 5.7, () => { c.set(110, 110, 115); return ID.pole; }, lightFront);
    drawTrafficLight(x, Xp - side.sign * 3.5, z, 4.5);
  }
}

/** Void regions: ego vehicle, out of roi, rectification border. */
function paintVoidRegions(x: Scene): void {
  const { c, rng, noise, W, H, S } = x;
  const label = c.label;
  const rgb = c.rgb;
  const paintVoid = (i: number, id: number, r: number, g: number, b: number) => {
    label[i] = id;
    rgb[i * 3] = r;
    rgb[i * 3 + 1] = g;
    rgb[i * 3 + 2] = b;
  };
  if (rng.chance(0.85)) {
    const hoodH = H * rng.uniform(0.05, 0.11);
    const hoodCol = rng.pick<RGB>([[30, 30, 35], [150, 150, 155], [20, 30, 60], [200, 200, 200]]);
    for (let v = Math.floor(H - hoodH); v < H; v++) {
      for (let u = 0; u < W; u++) {
        const x = (u - W / 2) / (W * 0.62);
        const edge = H - hoodH * (1 - x * x);
        if (v >= edge) {
          const refl = 0.6 + 0.5 * ((v - edge) / hoodH) + 0.2 * noise.n(u / (30 * S), v / (10 * S));
          const k = Math.min(1.3, refl);
          paintVoid(v * W + u, ID.egoVehicle, hoodCol[0] * k, hoodCol[1] * k, hoodCol[2] * k);
        }
      }
    }
  }
  if (rng.chance(0.5)) {
    const t = H * rng.uniform(0.06, 0.12);
    for (let v = Math.floor(H - t); v < H; v++) {
      const span = ((v - (H - t)) / t) * W * 0.06;
      for (let u = 0; u < span; u++) {
        paintVoid(v * W + u, ID.outOfRoi, 15, 15, 15);
        paintVoid(v * W + (W - 1 - u), ID.outOfRoi, 15, 15, 15);
      }
    }
  }
  if (rng.chance(0.3)) {
    const b = Math.max(1, Math.round(rng.uniform(1, 4) * S));
    for (let v = 0; v < H; v++) for (let u = 0; u < b; u++) {
      paintVoid(v * W + u, ID.rectificationBorder, 0, 0, 0);
      paintVoid(v * W + (W - 1 - u), ID.rectificationBorder, 0, 0, 0);
    }
  }
}

/**
 * Render one street scene. Deterministic in (width, height, seed, style, require).
 * @returns RGB uint8 HWC image, a labelId (0..33) map and Cityscapes instanceIds (`encodeInstanceIds`).
 */
export function renderStreetScene(options: SceneOptions): { image: Uint8Array; labelIds: Uint8Array; instanceIds: Uint16Array } {
  const x = setUpScene(options);
  const { c, rng, W, H } = x;
  paintSkyAndGround(c, x.noise, { ...x, sidewalkCol: x.style.sidewalk });
  paintFrontage(x);
  placeTraffic(x);
  placeStreetFurniture(x);
  paintVoidRegions(x);
  // camera: exposure, tint, blur, noise
  const exposure = rng.uniform(0.75, 1.25);
  const tint: RGB = [rng.uniform(0.92, 1.08), rng.uniform(0.95, 1.05), rng.uniform(0.9, 1.1)];
  const contrast = rng.uniform(0.85, 1.15);
  const blurPasses = rng.chance(0.5) ? rng.intIn(1, 2) : 0;
  const sigma = rng.uniform(1.5, 6);
  const image = finishImage(c.rgb, W, H, exposure, tint[0], tint[1], tint[2], contrast, blurPasses, sigma, rng);
  return { image, labelIds: c.label, instanceIds: encodeInstanceIds(c.label, c.inst) };
}

const HAS_INSTANCES: readonly boolean[] = (() => {
  const t = new Array<boolean>(256).fill(false);
  for (const l of CITYSCAPES_LABELS) if (l.id >= 0 && l.hasInstances) t[l.id] = true;
  return t;
})();

/**
 * Cityscapes `_gtFine_instanceIds.png` encoding from a labelId map and per-pixel object numbers:
 * a pixel of a class with instances (person, rider, car, truck, bus, caravan, trailer, train,
 * motorcycle, bicycle) that belongs to an object gets `labelId * 1000 + k`, k = 0, 1, … numbering
 * that class's visible objects in drawing order; every other pixel gets its labelId (as crowd
 * regions and stuff do in Cityscapes).
 */
export function encodeInstanceIds(labelIds: Uint8Array, objects: Uint16Array): Uint16Array {
  const n = labelIds.length;
  if (objects.length !== n) throw new Error(`encodeInstanceIds: ${objects.length} object numbers for ${n} labels`);
  const out = new Uint16Array(n);
  // object number -> instance index within its class, assigned in object-number order
  const firstPixel = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const o = objects[i];
    if (o > 0 && HAS_INSTANCES[labelIds[i]] && !firstPixel.has(o)) firstPixel.set(o, labelIds[i]);
  }
  const perClass = new Map<number, number>();
  const index = new Map<number, number>();
  for (const o of Array.from(firstPixel.keys()).sort((a, b) => a - b)) {
    const id = firstPixel.get(o)!;
    const k = perClass.get(id) ?? 0;
    if (k > 999) throw new Error(`encodeInstanceIds: more than 1000 objects of labelId ${id}`);
    perClass.set(id, k + 1);
    index.set(o, k);
  }
  for (let i = 0; i < n; i++) {
    const id = labelIds[i];
    const o = objects[i];
    out[i] = o > 0 && HAS_INSTANCES[id] ? id * 1000 + index.get(o)! : id;
  }
  return out;
}

/** Blur ([1 2 1]/4 separable, `passes` times), exposure/tint/contrast, ~N(0, sigma) noise, to uint8. */
function finishImage(
  buf: Float32Array, W: number, H: number, exposure: number, t0: number, t1: number, t2: number,
  contrast: number, passes: number, sigma: number, rng: Rng,
): Uint8Array {
  if (passes > 0) {
    const tmp = workspace(W, H).tmp;
    const row = W * 3;
    for (let p = 0; p < passes; p++) {
      for (let v = 0; v < H; v++) {
        const o = v * row;
        for (let x = 0; x < row; x++) {
          const l = x < 3 ? x : x - 3;
          const r = x >= row - 3 ? x : x + 3;
          tmp[o + x] = 0.25 * buf[o + l] + 0.5 * buf[o + x] + 0.25 * buf[o + r];
        }
      }
      for (let v = 0; v < H; v++) {
        const oa = (v > 0 ? v - 1 : v) * row;
        const ob = (v < H - 1 ? v + 1 : v) * row;
        const o = v * row;
        for (let x = 0; x < row; x++) buf[o + x] = 0.25 * tmp[oa + x] + 0.5 * tmp[o + x] + 0.25 * tmp[ob + x];
      }
    }
  }
  const n = W * H;
  const image = new Uint8Array(n * 3);
  const k0 = exposure * t0 * contrast;
  const k1 = exposure * t1 * contrast;
  const k2 = exposure * t2 * contrast;
  const bias = 128 - 128 * contrast;
  const s2 = 2 * sigma;
  for (let i = 0; i < n; i++) {
    const nz = (rng.next() + rng.next() + rng.next() - 1.5) * s2 + bias + 0.5;
    const o = i * 3;
    let x = buf[o] * k0 + nz;
    image[o] = x < 0 ? 0 : x > 255 ? 255 : x;
    x = buf[o + 1] * k1 + nz;
    image[o + 1] = x < 0 ? 0 : x > 255 ? 255 : x;
    x = buf[o + 2] * k2 + nz;
    image[o + 2] = x < 0 ? 0 : x > 255 ? 255 : x;
  }
  return image;
}
