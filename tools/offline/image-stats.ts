/**
 * Pixel statistics of an image, computed with sharp on a small downscaled copy: what the offline
 * analyst and illustrator can honestly know about an upload without a model. Pure and deterministic:
 * the same bytes always give the same numbers.
 */
import sharp from "sharp";

/** Uploads above this are refused before decoding (a decompression bomb must not exhaust memory). */
export const MAX_INPUT_PIXELS = 40_000_000;
/** Statistics are taken on a copy that fits in this square, so they do not depend on resolution. */
const SAMPLE_SIDE = 256;
/** Palette colours closer than this (RGB distance) count as one; noisy gradients spread over bins. */
const DISTINCT = 60;

export interface PaletteColour {
  hex: string;
  /** Share of sampled pixels in this colour's histogram bin. */
  share: number;
}

export interface ImageStats {
  /** Size of the upload after EXIF orientation. */
  width: number;
  height: number;
  /** Up to 5 dominant, mutually distinct colours, most frequent first. */
  palette: PaletteColour[];
  /** Share of pixels in the 5 most populated bins of a 512-bin (3 bits/channel) histogram. */
  paletteCoverage: number;
  /** Shannon entropy of that histogram in bits (0..9). */
  colourEntropy: number;
  /** Shannon entropy of the 256-level luminance histogram in bits (0..8). */
  greyEntropy: number;
  /** Mean HSV saturation, 0..1. */
  meanSaturation: number;
  /** Hasler–Süsstrunk colourfulness M (0 for grey, ~80+ for very colourful photos). */
  colourfulness: number;
  /** Mean (R − B) / 255, −1 (cold) .. 1 (warm). */
  warmth: number;
  /** Mean luminance, 0..1. */
  meanLuminance: number;
  /** Standard deviation of luminance / 255: RMS contrast, 0..0.5. */
  lumaStd: number;
  /** Share of pixels whose Sobel gradient exceeds a visible step (~25 levels). */
  edgeDensity: number;
  /** Mean Sobel magnitude relative to a full black→white step: high-frequency energy. */
  meanGradient: number;
  /** Share of edge pixels that are strong steps (~100+ levels): crisp graphics vs soft detail. */
  crispness: number;
  /** Share of pixels close (RGB distance < 32) to the most frequent colour. */
  dominantShare: number;
}

export async function measureImage(data: Uint8Array): Promise<ImageStats> {
  const input = sharp(data, { limitInputPixels: MAX_INPUT_PIXELS, autoOrient: true });
  const meta = await input.metadata();
  const { data: px, info } = await input
    // Transparent logos are judged as they would appear on a white page.
    .flatten({ background: "#ffffff" })
    .resize(SAMPLE_SIDE, SAMPLE_SIDE, { fit: "inside", withoutEnlargement: true })
    .toColourspace("srgb")
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const n = info.width * info.height;
  const grey = new Float64Array(n);
  const bins = new Uint32Array(512);
  const binSums = new Float64Array(512 * 3);
  const greyHist = new Uint32Array(256);
  let satSum = 0, lumSum = 0, lumSq = 0, warmSum = 0;
  let rgSum = 0, rgSq = 0, ybSum = 0, ybSq = 0;

  for (let i = 0; i < n; i++) {
    const r = px[i * 3], g = px[i * 3 + 1], b = px[i * 3 + 2];
    const y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    grey[i] = y;
    greyHist[Math.min(255, Math.round(y))]++;
    lumSum += y;
    lumSq += y * y;
    const max = Math.max(r, g, b), min = Math.min(r, g, b);
    satSum += max === 0 ? 0 : (max - min) / max;
    warmSum += (r - b) / 255;
    const rg = r - g, yb = 0.5 * (r + g) - b;
    rgSum += rg; rgSq += rg * rg; ybSum += yb; ybSq += yb * yb;
    const bin = ((r >> 5) << 6) | ((g >> 5) << 3) | (b >> 5);
    bins[bin]++;
    binSums[bin * 3] += r; binSums[bin * 3 + 1] += g; binSums[bin * 3 + 2] += b;
  }

  const order = [...bins.keys()].filter((k) => bins[k] > 0).sort((a, b) => bins[b] - bins[a] || a - b);
  const meanOf = (k: number): [number, number, number] =>
    [binSums[k * 3] / bins[k], binSums[k * 3 + 1] / bins[k], binSums[k * 3 + 2] / bins[k]];
  const variance = (sum: number, sq: number) => Math.max(0, sq / n - (sum / n) ** 2);
  const rgMean = rgSum / n, ybMean = ybSum / n;
  const top = meanOf(order[0]);
  const gradient = sobel(grey, info.width, info.height);

  return {
    width: meta.autoOrient?.width ?? meta.width ?? info.width,
    height: meta.autoOrient?.height ?? meta.height ?? info.height,
    palette: pickPalette(order, bins, meanOf, n),
    paletteCoverage: order.slice(0, 5).reduce((s, k) => s + bins[k], 0) / n,
    colourEntropy: entropy(bins, n),
    greyEntropy: entropy(greyHist, n),
    meanSaturation: satSum / n,
    colourfulness:
      Math.sqrt(variance(rgSum, rgSq) + variance(ybSum, ybSq)) + 0.3 * Math.sqrt(rgMean ** 2 + ybMean ** 2),
    warmth: warmSum / n,
    meanLuminance: lumSum / n / 255,
    lumaStd: Math.sqrt(variance(lumSum, lumSq)) / 255,
    ...gradient,
    dominantShare: shareNear(px, n, top, 32),
  };
}

/** Most populated bins first, skipping colours too close to one already chosen (gradients span bins). */
function pickPalette(
  order: number[],
  bins: Uint32Array,
  meanOf: (k: number) => [number, number, number],
  n: number,
): PaletteColour[] {
  const chosen: Array<{ rgb: [number, number, number]; share: number }> = [];
  for (const k of order) {
    const rgb = meanOf(k);
    if (chosen.some((c) => distance(c.rgb, rgb) < DISTINCT)) continue;
    chosen.push({ rgb, share: bins[k] / n });
    if (chosen.length === 5) break;
  }
  return chosen.map((c) => ({ hex: toHex(c.rgb), share: Math.round(c.share * 1e4) / 1e4 }));
}

function sobel(grey: Float64Array, w: number, h: number) {
  const FULL_STEP = 4 * 255; // |gx| of a black→white step edge
  let sum = 0, edges = 0, strong = 0, count = 0;
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const i = y * w + x;
      const gx = grey[i - w + 1] + 2 * grey[i + 1] + grey[i + w + 1] - grey[i - w - 1] - 2 * grey[i - 1] - grey[i + w - 1];
      const gy = grey[i + w - 1] + 2 * grey[i + w] + grey[i + w + 1] - grey[i - w - 1] - 2 * grey[i - w] - grey[i - w + 1];
      const m = Math.sqrt(gx * gx + gy * gy) / FULL_STEP;
      sum += m;
      count++;
      if (m > 0.1) edges++;
      if (m > 0.4) strong++;
    }
  }
  return {
    meanGradient: count ? sum / count : 0,
    edgeDensity: count ? edges / count : 0,
    crispness: edges ? strong / edges : 0,
  };
}

function entropy(hist: Uint32Array, n: number): number {
  let h = 0;
  for (const c of hist) if (c > 0) h -= (c / n) * Math.log2(c / n);
  return h;
}

function shareNear(px: Uint8Array, n: number, rgb: [number, number, number], radius: number): number {
  let near = 0;
  for (let i = 0; i < n; i++) {
    if (distance([px[i * 3], px[i * 3 + 1], px[i * 3 + 2]], rgb) < radius) near++;
  }
  return near / n;
}

function distance(a: readonly number[], b: readonly number[]): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
}

export function toHex(rgb: readonly number[]): string {
  return "#" + rgb.map((v) => Math.round(Math.min(255, Math.max(0, v))).toString(16).padStart(2, "0")).join("");
}

export function fromHex(hex: string): [number, number, number] {
  const v = parseInt(hex.slice(1, 7), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

/** A plain-language name for a colour, so prompts read "deep blue" rather than only "#1a2b80". */
export function colourName(hex: string): string {
  const [r, g, b] = fromHex(hex).map((v) => v / 255);
  const max = Math.max(r, g, b), min = Math.min(r, g, b);
  const l = (max + min) / 2;
  const s = max === min ? 0 : (max - min) / (1 - Math.abs(2 * l - 1));
  if (s < 0.15 || max - min < 0.08) {
    return l < 0.12 ? "black" : l < 0.35 ? "charcoal" : l < 0.65 ? "grey" : l < 0.9 ? "silver" : "white";
  }
  const d = max - min;
  const hue = (max === r ? ((g - b) / d + 6) % 6 : max === g ? (b - r) / d + 2 : (r - g) / d + 4) * 60;
  const names: Array<[number, string]> = [
    [15, "red"], [40, "orange"], [65, "yellow"], [90, "lime"], [160, "green"], [195, "teal"],
    [250, "blue"], [280, "violet"], [330, "magenta"], [361, "red"],
  ];
  const name = names.find(([limit]) => hue < limit)![1];
  return l < 0.3 ? `deep ${name}` : l > 0.75 ? `pale ${name}` : name;
}
