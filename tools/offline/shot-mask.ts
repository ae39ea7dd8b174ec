/**
 * Offline inpainting masks: the region an edit instruction names, guessed from where things usually
 * are in a centred, full-figure shot, drawn as a white-on-black PNG of the image's size.
 */
import sharp from "sharp";
import type { Media } from "../ports.js";
import { MAX_INPUT_PIXELS } from "./image-stats.js";

/** A box as fractions of the image: [left, top, right, bottom]. */
type Box = [number, number, number, number];

/**
 * Where things usually are in a centred, full-figure shot. The first listed subject the instruction
 * names wins; "background" is everything but the figure.
 */
const SUBJECT_REGIONS: Array<[RegExp, Box, boolean?]> = [
  [/\b(?:face|mouth|lips?|eyes?|nose|expression|smile|head|hair|ears?|cheeks?)\b/, [0.35, 0.05, 0.65, 0.45]],
  [/\b(?:neck|neckline|collar|shoulders?)\b/, [0.3, 0.3, 0.7, 0.55]],
  [/\b(?:hands?|arms?|sleeves?|fingers?)\b/, [0.2, 0.4, 0.8, 0.75]],
  [/\b(?:dress|skirt|clothes|clothing|outfit|coat|fabric|hem|body|torso)\b/, [0.3, 0.35, 0.7, 0.95]],
  [/\b(?:legs?|feet|foot|shoes?|boots?|socks?)\b/, [0.3, 0.7, 0.7, 1]],
  [/\b(?:background|backdrop|surroundings)\b/, [0.3, 0.05, 0.7, 1], true],
  [/\b(?:sky|ceiling|clouds?)\b/, [0, 0, 1, 0.35]],
  [/\b(?:ground|floor|grass|road|water)\b/, [0, 0.75, 1, 1]],
];

export function regionFor(instruction: string): { box: Box; invert: boolean } {
  const text = instruction.toLowerCase();
  for (const [pattern, box, invert] of SUBJECT_REGIONS) if (pattern.test(text)) return { box, invert: invert ?? false };
  const left = /\bleft\b/.test(text), right = /\bright\b/.test(text);
  const top = /\b(?:top|upper)\b/.test(text), bottom = /\b(?:bottom|lower)\b/.test(text);
  const horizontal = left !== right, vertical = top !== bottom;
  if (!horizontal && !vertical) return { box: [0.25, 0.25, 0.75, 0.75], invert: false }; // centre
  const [x0, x1] = horizontal ? (left ? [0, 0.5] : [0.5, 1]) : [0, 1];
  const [y0, y1] = vertical ? (top ? [0, 0.5] : [0.5, 1]) : [0, 1];
  return { box: [x0, y0, x1, y1], invert: false };
}

export async function maskImage(image: Media, instruction: string): Promise<Media> {
  const meta = await sharp(image.data, { limitInputPixels: MAX_INPUT_PIXELS }).metadata();
  const width = meta.autoOrient?.width ?? meta.width, height = meta.autoOrient?.height ?? meta.height;
  if (!width || !height) throw new Error("maskFor: cannot read the image's size");
  const { box, invert } = regionFor(instruction);
  const [x0, y0, x1, y1] = [Math.round(box[0] * width), Math.round(box[1] * height), Math.round(box[2] * width), Math.round(box[3] * height)];
  const px = new Uint8Array(width * height).fill(invert ? 255 : 0);
  const inside = invert ? 0 : 255;
  for (let y = y0; y < y1; y++) px.fill(inside, y * width + x0, y * width + x1);
  const png = await sharp(px, { raw: { width, height, channels: 1 } }).png().toBuffer();
  return { data: new Uint8Array(png), contentType: "image/png" };
}
