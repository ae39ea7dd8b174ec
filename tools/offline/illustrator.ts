/**
 * The offline Artistic Director: real 1280×720 images derived from the upload with sharp, marked as
 * offline so nobody mistakes them for model output.
 *
 * A preview's framing and tint follow its script (the prompt without its 🟡 adjustments) and its
 * scene: a re-roll writes a new script, so it looks different; an edit keeps the script and adds a
 * note, so the new preview is the same shot with the note drawn on it (warmer light warms it,
 * "closer" crops tighter; tools/offline/adjustments.ts), and a person can see the edit loop work.
 */
import sharp from "sharp";
import type { Illustrator, Media, PreviewInput, StyleReferenceInput } from "../ports.js";
import { escapeXml, prng } from "./draw-helpers.js";
import { fromHex, MAX_INPUT_PIXELS, measureImage } from "./image-stats.js";
import { adjustmentsIn, basePrompt, lookOf, type Look } from "./adjustments.js";

const W = 1280;
const H = 720;

export function createOfflineIllustrator(): Illustrator {
  return { styleReference, preview };
}

/** Cover-crop, denoise, and pull the colours toward the upload's own dominant colour by `strength`. */
async function styleReference({ image, strength, seed }: StyleReferenceInput): Promise<Media> {
  const stats = await measureImage(image.data);
  const [r, g, b] = fromHex(stats.palette[0].hex);
  const alpha = Math.round(255 * clamp01(strength) * 0.35);
  const veil = await sharp({ create: { width: W, height: H, channels: 4, background: { r, g, b, alpha: alpha / 255 } } })
    .png()
    .toBuffer();
  const base = await sharp(image.data, { limitInputPixels: MAX_INPUT_PIXELS, autoOrient: true })
    .flatten({ background: "#ffffff" })
    .resize(W, H, { fit: "cover", position: sharp.strategy.attention })
    // Median removes speckle and compression blocks; the light blur smooths what is left, like a
    // low-strength img2img pass would.
    .median(3)
    .blur(0.6)
    .composite([
      { input: veil, blend: "soft-light" },
      { input: mark(`OFFLINE · style reference · seed ${seed}`, "br"), top: 0, left: 0 },
    ])
    .png({ compressionLevel: 6 })
    .toBuffer();
  return { data: new Uint8Array(base), contentType: "image/png" };
}

/** A framing and tint chosen by script and scene, the notes' look on top, and a caption band. */
async function preview({ prompt, styleReference: ref, seed, sequenceIndex, sceneCount }: PreviewInput): Promise<Media> {
  const rand = prng(hashInts(hashText(basePrompt(prompt)), sequenceIndex));
  const { look, labels } = lookOf(adjustmentsIn(prompt));
  // Closer or wider moves the crop from where the script put it; there is always room both ways.
  const zoom = Math.min(2.4, Math.max(1, 1.25 + rand() * 0.35 + 0.3 * look.zoom));
  const source = sharp(ref.data, { limitInputPixels: MAX_INPUT_PIXELS, autoOrient: true })
    .flatten({ background: "#ffffff" })
    .resize(W, H, { fit: "cover" });
  const cropW = Math.round(W / zoom), cropH = Math.round(H / zoom);
  const left = Math.floor(rand() * (W - cropW + 1));
  const top = Math.floor(rand() * (H - cropH + 1));
  const framed = await source.raw().toBuffer({ resolveWithObject: true });
  const hue = Math.round(rand() * 30 - 15);
  const saturation = (0.85 + rand() * 0.4) * (look.mono ? 0 : Math.max(0.15, 1 + 0.35 * look.saturation));
  const brightness = (0.92 + rand() * 0.16) * Math.max(0.3, 1 + 0.16 * look.brightness);
  // One pass per operation: sharp applies the operations of one pipeline in its own order.
  let image = await raw(sharp(framed.data, { raw: framed.info }).extract({ left, top, width: cropW, height: cropH }).resize(W, H));
  if (look.tilt !== 0) image = await tilted(image, look.tilt);
  image = await raw(sharp(image.data, { raw: image.info }).modulate({ hue, saturation, brightness }));
  image = await raw(lookFilters(sharp(image.data, { raw: image.info }), look));
  const out = await sharp(image.data, { raw: image.info })
    .composite([
      { input: caption(prompt, sequenceIndex, sceneCount, seed), top: 0, left: 0 },
      { input: mark("OFFLINE PREVIEW", "tr"), top: 0, left: 0 },
      ...(labels.length ? [{ input: adjustedMark(labels), top: 0, left: 0 }] : []),
    ])
    .jpeg({ quality: 85 })
    .toBuffer();
  return { data: new Uint8Array(out), contentType: "image/jpeg" };
}

type Raw = { data: Buffer; info: sharp.OutputInfo };
const raw = (s: sharp.Sharp): Promise<Raw> => s.raw().toBuffer({ resolveWithObject: true });

/** Warmth (a colour matrix), contrast (around mid-grey) and softness (blur or sharpen). */
function lookFilters(s: sharp.Sharp, look: Look): sharp.Sharp {
  if (look.warmth !== 0 && !look.mono) {
    const w = look.warmth;
    s = s.recomb([
      [1 + 0.1 * w, 0.04 * Math.max(0, w), 0],
      [0, 1 + 0.02 * w, 0],
      [0, 0, Math.max(0.4, 1 - 0.14 * w)],
    ]);
  }
  if (look.contrast !== 0) {
    const a = Math.max(0.4, 1 + 0.22 * look.contrast);
    s = s.linear(a, 128 * (1 - a));
  }
  if (look.softness > 0) s = s.blur(0.8 + 1.6 * look.softness);
  if (look.softness < 0) s = s.sharpen({ sigma: 1 + Math.min(2, -look.softness) });
  return s;
}

/** A dutch angle: rotated about the centre and scaled up just enough to hide the corners. */
async function tilted(image: Raw, steps: number): Promise<Raw> {
  const degrees = Math.max(-18, Math.min(18, 6 * steps));
  const t = (Math.abs(degrees) * Math.PI) / 180;
  // A centred W×H window stays inside a W×H image rotated by t once it is scaled by this.
  const k = Math.cos(t) + (W / H) * Math.sin(t);
  const bigW = Math.ceil(W * k), bigH = Math.ceil(H * k);
  const big = await raw(sharp(image.data, { raw: image.info }).resize(bigW, bigH));
  const turned = await raw(sharp(big.data, { raw: big.info }).rotate(degrees, { background: "#000000" }));
  const left = Math.floor((turned.info.width - W) / 2), top = Math.floor((turned.info.height - H) / 2);
  return raw(sharp(turned.data, { raw: turned.info }).extract({ left, top, width: W, height: H }));
}

function caption(prompt: string, index: number, count: number, seed: number): Buffer {
  const excerpt = prompt.length > 96 ? `${prompt.slice(0, 94).trimEnd()}…` : prompt;
  return Buffer.from(
    `<svg width="${W}" height="${H}" xmlns="http://www.w3.org/2000/svg">
      <rect x="0" y="${H - 118}" width="${W}" height="118" fill="#000000" fill-opacity="0.62"/>
      <text x="32" y="${H - 70}" font-family="DejaVu Sans, sans-serif" font-weight="bold" font-size="34" fill="#ffffff">Scene ${index + 1}/${count}</text>
      <text x="${W - 32}" y="${H - 70}" text-anchor="end" font-family="DejaVu Sans Mono, monospace" font-size="20" fill="#dddddd">seed ${seed}</text>
      <text x="32" y="${H - 30}" font-family="DejaVu Sans, sans-serif" font-size="20" fill="#eeeeee">${escapeXml(excerpt)}</text>
    </svg>`,
  );
}

/** Top left: what the notes changed, so the picture says why it looks different. */
function adjustedMark(labels: string[]): Buffer {
  // Large enough to read on a 320 px card: the label is what tells a person the note was drawn.
  const text = `EDITED · ${labels.join(" · ")}`.slice(0, 48);
  const w = 32 + text.length * 19;
  return Buffer.from(
    `<svg width="${W}" height="${H}" xmlns="http://www.w3.org/2000/svg">
      <rect x="24" y="24" width="${w}" height="58" rx="10" fill="#000000" fill-opacity="0.6"/>
      <text x="${24 + w / 2}" y="63" text-anchor="middle" font-family="DejaVu Sans, sans-serif" font-weight="bold" font-size="30" fill="#ffe08a">${escapeXml(text)}</text>
    </svg>`,
  );
}

function mark(text: string, corner: "tr" | "br"): Buffer {
  const w = 24 + text.length * 14;
  const x = W - w - 24;
  const y = corner === "tr" ? 24 : H - 68;
  return Buffer.from(
    `<svg width="${W}" height="${H}" xmlns="http://www.w3.org/2000/svg">
      <rect x="${x}" y="${y}" width="${w}" height="44" rx="8" fill="#000000" fill-opacity="0.55"/>
      <text x="${x + w / 2}" y="${y + 30}" text-anchor="middle" font-family="DejaVu Sans, sans-serif" font-weight="bold" font-size="20" fill="#ffffff">${escapeXml(text)}</text>
    </svg>`,
  );
}

function clamp01(x: number): number {
  return Math.min(1, Math.max(0, Number.isFinite(x) ? x : 0));
}

/** A 32-bit FNV-1a hash of a text: the script picks the framing. */
function hashText(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Mixes whole numbers into a 32-bit seed; the high word counts too, so seeds above 2^32 differ. */
function hashInts(...values: number[]): number {
  let h = 0x9e3779b9;
  for (const v of values) {
    const whole = Math.trunc(Number.isFinite(v) ? v : 0);
    for (const word of [whole >>> 0, Math.floor(whole / 2 ** 32) >>> 0]) {
      h = Math.imul(h ^ word, 0x85ebca6b);
      h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
      h ^= h >>> 16;
    }
  }
  return h >>> 0;
}
