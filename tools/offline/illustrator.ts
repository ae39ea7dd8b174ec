/**
 * The offline Artistic Director: real 1280×720 images derived from the upload with sharp, marked as
 * offline so nobody mistakes them for model output. Seeds change framing and tint deterministically,
 * which is what a re-roll or a new preview needs to look different.
 */
import sharp from "sharp";
import type { Illustrator, Media, PreviewInput, StyleReferenceInput } from "../ports.js";
import { escapeXml, prng } from "./draw-helpers.js";
import { fromHex, MAX_INPUT_PIXELS, measureImage } from "./image-stats.js";

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

/** A framing and tint chosen by seed and scene, with a caption band so the card explains itself. */
async function preview({ prompt, styleReference: ref, seed, sequenceIndex, sceneCount }: PreviewInput): Promise<Media> {
  const rand = prng(hashInts(seed, sequenceIndex));
  const zoom = 1.05 + rand() * 0.45;
  const source = sharp(ref.data, { limitInputPixels: MAX_INPUT_PIXELS, autoOrient: true })
    .flatten({ background: "#ffffff" })
    .resize(W, H, { fit: "cover" });
  const cropW = Math.round(W / zoom), cropH = Math.round(H / zoom);
  const left = Math.floor(rand() * (W - cropW + 1));
  const top = Math.floor(rand() * (H - cropH + 1));
  const framed = await source.raw().toBuffer({ resolveWithObject: true });
  const out = await sharp(framed.data, { raw: framed.info })
    .extract({ left, top, width: cropW, height: cropH })
    .resize(W, H)
    .modulate({ hue: Math.round(rand() * 30 - 15), saturation: 0.85 + rand() * 0.4, brightness: 0.92 + rand() * 0.16 })
    .composite([
      { input: caption(prompt, sequenceIndex, sceneCount, seed), top: 0, left: 0 },
      { input: mark("OFFLINE PREVIEW", "tr"), top: 0, left: 0 },
    ])
    .jpeg({ quality: 85 })
    .toBuffer();
  return { data: new Uint8Array(out), contentType: "image/jpeg" };
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
