/**
 * The offline FLUX.2 stand-in for the song route: real images that visibly answer to their inputs,
 * marked OFFLINE so nobody mistakes them for model output.
 *
 * - shotImage: a 1280×720 JPEG. The background is a gradient of the references' average colour, so
 *   continuity (multi-reference) shows: shots made from the same approved images share their tone;
 *   without references the colour comes from the prompt and seed. A stylised figure (loose,
 *   mid-calf dress) labelled with the LoRA id stands where the seed puts it, and a caption band
 *   carries the start of the prompt (without its metadata prefix, which the corner tag shows).
 * - inpaint: changes only what the mask allows. The edit (blur, a tint from the seed, the instruction
 *   written inside the masked area) is blended in by the mask's grey level, so black pixels keep
 *   the original exactly; the result is a PNG, because a lossy re-encode would touch every pixel.
 */
import sharp from "sharp";
import type { Media, ShotImageInput, SongIllustrator } from "../ports.js";
import { escapeXml, prng } from "./draw-helpers.js";
import { MAX_INPUT_PIXELS } from "./image-stats.js";

const W = 1280;
const H = 720;
const CAPTION_CHARS = 80;

export function createOfflineSongIllustrator(): SongIllustrator {
  return { shotImage, inpaint };
}

async function shotImage(input: ShotImageInput): Promise<Media> {
  const { prompt, loraId, references, seed } = input;
  const rand = prng(hashString(`${seed}\n${prompt}`));
  const base = references.length ? await averageColour(references) : colourFrom(rand);
  const top = mix(base, [255, 255, 255], 0.15), bottom = mix(base, [0, 0, 0], 0.35);
  const figure = mix(base, [0, 0, 0], 0.7);
  const x = Math.round(W * (0.3 + rand() * 0.4));
  const angle = Math.round(rand() * 40 - 20);
  const { prefix, text } = splitPrefix(prompt);
  const excerpt = text.length > CAPTION_CHARS ? `${text.slice(0, CAPTION_CHARS - 1).trimEnd()}…` : text;
  const svg = `<svg width="${W}" height="${H}" xmlns="http://www.w3.org/2000/svg">
    <defs><linearGradient id="bg" gradientTransform="rotate(${90 + angle} 0.5 0.5)">
      <stop offset="0" stop-color="${hex(top)}"/><stop offset="1" stop-color="${hex(bottom)}"/>
    </linearGradient></defs>
    <rect width="${W}" height="${H}" fill="url(#bg)"/>
    ${figureSvg(x, hex(figure))}
    <rect x="${x - 110}" y="60" width="220" height="40" rx="20" fill="#000000" fill-opacity="0.55"/>
    <text x="${x}" y="87" text-anchor="middle" font-family="DejaVu Sans, sans-serif" font-weight="bold" font-size="20" fill="#ffffff">LoRA ${escapeXml(loraId)}</text>
    <rect x="0" y="${H - 110}" width="${W}" height="110" fill="#000000" fill-opacity="0.62"/>
    <text x="32" y="${H - 66}" font-family="DejaVu Sans, sans-serif" font-weight="bold" font-size="26" fill="#ffffff">OFFLINE · seed ${seed}${references.length ? ` · ${references.length} reference${references.length === 1 ? "" : "s"}` : ""}</text>
    <text x="32" y="${H - 28}" font-family="DejaVu Sans, sans-serif" font-size="20" fill="#eeeeee">${escapeXml(excerpt)}</text>
    ${prefix ? `<text x="${W - 24}" y="36" text-anchor="end" font-family="DejaVu Sans Mono, monospace" font-size="16" fill="#ffffff" fill-opacity="0.8">${escapeXml(prefix.slice(-60))}</text>` : ""}
  </svg>`;
  const jpeg = await sharp(Buffer.from(svg)).flatten({ background: hex(base) }).jpeg({ quality: 88 }).toBuffer();
  return { data: new Uint8Array(jpeg), contentType: "image/jpeg" };
}

/** Head, a loose dress to mid-calf, arms at rest, legs below the hem: a figure, not a face. */
function figureSvg(x: number, fill: string): string {
  return `<g fill="${fill}">
    <circle cx="${x}" cy="170" r="52"/>
    <rect x="${x - 16}" y="215" width="32" height="30"/>
    <path d="M ${x - 70} 250 L ${x + 70} 250 L ${x + 125} 540 L ${x - 125} 540 Z"/>
    <path d="M ${x - 70} 255 L ${x - 105} 420 L ${x - 85} 425 L ${x - 55} 290 Z"/>
    <path d="M ${x + 70} 255 L ${x + 105} 420 L ${x + 85} 425 L ${x + 55} 290 Z"/>
    <rect x="${x - 45}" y="540" width="24" height="60"/>
    <rect x="${x + 21}" y="540" width="24" height="60"/>
  </g>`;
}

async function inpaint(input: { image: Media; mask: Media; prompt: string; seed: number }): Promise<Media> {
  const source = await sharp(input.image.data, { limitInputPixels: MAX_INPUT_PIXELS, autoOrient: true })
    .removeAlpha()
    .toColourspace("srgb")
    .raw()
    .toBuffer({ resolveWithObject: true });
  const { width, height } = source.info;
  const original = source.data;
  const mask = await sharp(input.mask.data, { limitInputPixels: MAX_INPUT_PIXELS, autoOrient: true })
    .flatten({ background: "#000000" })
    .resize(width, height, { fit: "fill", kernel: "nearest" })
    .greyscale()
    .extractChannel(0)
    .raw()
    .toBuffer();

  const box = boundingBox(mask, width, height);
  if (!box) return { data: new Uint8Array(await sharp(original, { raw: source.info }).png().toBuffer()), contentType: "image/png" };
  const rand = prng(hashString(`${input.seed}\n${input.prompt}`));
  const tint = colourFrom(rand);
  const label = input.prompt.length > 60 ? `${input.prompt.slice(0, 59).trimEnd()}…` : input.prompt;
  const fontSize = Math.max(12, Math.min(32, Math.floor((box.w / Math.max(8, label.length)) * 1.7)));
  const overlay = `<svg width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg">
    <rect width="${width}" height="${height}" fill="${hex(tint)}" fill-opacity="0.35"/>
    <text x="${box.x + box.w / 2}" y="${box.y + box.h / 2}" text-anchor="middle" font-family="DejaVu Sans, sans-serif" font-weight="bold" font-size="${fontSize}" fill="#ffffff">${escapeXml(label)}</text>
  </svg>`;
  const edited = await sharp(original, { raw: source.info })
    .blur(8)
    .composite([{ input: Buffer.from(overlay), top: 0, left: 0 }])
    .removeAlpha()
    .raw()
    .toBuffer();

  const out = Buffer.alloc(original.length);
  for (let p = 0, i = 0; p < mask.length; p++, i += 3) {
    const m = mask[p];
    for (let c = 0; c < 3; c++) {
      out[i + c] = m === 0 ? original[i + c] : Math.round(original[i + c] + ((edited[i + c] - original[i + c]) * m) / 255);
    }
  }
  const png = await sharp(out, { raw: { width, height, channels: 3 } }).png().toBuffer();
  return { data: new Uint8Array(png), contentType: "image/png" };
}

function boundingBox(mask: Buffer, width: number, height: number) {
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (mask[y * width + x] < 128) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  return x1 < 0 ? null : { x: x0, y: y0, w: x1 - x0 + 1, h: y1 - y0 + 1 };
}

type Rgb = [number, number, number];

async function averageColour(references: Media[]): Promise<Rgb> {
  const means = await Promise.all(
    references.map(async (ref) => {
      const { channels } = await sharp(ref.data, { limitInputPixels: MAX_INPUT_PIXELS })
        .flatten({ background: "#ffffff" })
        .resize(64, 64, { fit: "fill" })
        .toColourspace("srgb")
        .stats();
      return [channels[0].mean, channels[1].mean, channels[2].mean] as Rgb;
    }),
  );
  return [0, 1, 2].map((c) => means.reduce((s, m) => s + m[c], 0) / means.length) as Rgb;
}

/** A mid-bright, saturated colour: the hue is what varies between prompts and seeds. */
function colourFrom(rand: () => number): Rgb {
  const h = rand() * 360, s = 0.55, l = 0.5;
  const k = (n: number) => (n + h / 30) % 12;
  const a = s * Math.min(l, 1 - l);
  const f = (n: number) => 255 * (l - a * Math.max(-1, Math.min(k(n) - 3, 9 - k(n), 1)));
  return [f(0), f(8), f(4)];
}

function splitPrefix(prompt: string): { prefix: string; text: string } {
  const m = prompt.match(/^(S\d{2,4}_V\d{1,5}_[A-Z0-9]{2,12})\s*/);
  return m ? { prefix: m[1], text: prompt.slice(m[0].length) } : { prefix: "", text: prompt };
}

function mix(a: Rgb, b: Rgb, t: number): Rgb {
  return [0, 1, 2].map((i) => a[i] + (b[i] - a[i]) * t) as Rgb;
}

function hex(rgb: Rgb): string {
  return "#" + rgb.map((v) => Math.round(Math.min(255, Math.max(0, v))).toString(16).padStart(2, "0")).join("");
}

function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
