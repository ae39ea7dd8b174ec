/**
 * Sizing images for what a provider needs and bills: video engines want frames of 720p or more,
 * and fal bills image models per megapixel, so an input is never sent bigger than its output needs.
 */
import sharp from "sharp";
import type { Media } from "./ports.js";
import { MAX_INPUT_PIXELS } from "./offline/image-stats.js";

/**
 * fal's megapixel is 1024 × 1024 pixels, each image rounded up to a whole one: its pricing pages
 * give 1024×1024 as one megapixel and 1920×1080 (1.98 of them) as two (fal-ai/flux-2-flex and
 * fal-ai/flux-2-pro/edit pricing sections).
 */
export const MEGAPIXEL = 1024 * 1024;

/** Every frame we draw for a clip: 720p, what Veo 3.1 asks of a first frame (providers.md §6). */
export const FRAME_SIZE = { width: 1280, height: 720 } as const;
export const MIN_FRAME_SHORT_SIDE = 720;

/** How many megapixels fal bills for one image of this size. */
export function megapixelUnits(width: number, height: number): number {
  return Math.max(1, Math.ceil((width * height) / MEGAPIXEL));
}

export async function imageSize(media: Media): Promise<{ width: number; height: number }> {
  const meta = await sharp(media.data, { limitInputPixels: MAX_INPUT_PIXELS }).metadata();
  if (!meta.width || !meta.height) throw new Error(`cannot read the size of a ${media.contentType} image`);
  // EXIF orientations 5-8 swap the sides on display, which is what the model sees.
  return (meta.orientation ?? 1) >= 5 ? { width: meta.height, height: meta.width } : { width: meta.width, height: meta.height };
}

function encode(image: sharp.Sharp, contentType: string): Promise<Buffer> {
  return contentType === "image/jpeg" ? image.jpeg({ quality: 92 }).toBuffer() : image.png({ compressionLevel: 6 }).toBuffer();
}

const outputType = (media: Media) => (media.contentType === "image/jpeg" ? "image/jpeg" : "image/png");

/**
 * A frame whose short side is below 720 px, upscaled until it is 720 (Lanczos). Larger frames pass
 * through untouched: the engines scale down themselves and bill by clip, not by input size.
 */
export async function atLeast720p(media: Media): Promise<Media> {
  const { width, height } = await imageSize(media);
  const short = Math.min(width, height);
  if (short >= MIN_FRAME_SHORT_SIDE) return media;
  const scale = MIN_FRAME_SHORT_SIDE / short;
  // Even sides: video encoders need them, and rounding up keeps the short side at 720 or more.
  const size = { width: Math.ceil((width * scale) / 2) * 2, height: Math.ceil((height * scale) / 2) * 2 };
  const image = sharp(media.data, { limitInputPixels: MAX_INPUT_PIXELS, autoOrient: true }).resize({ ...size, fit: "fill", kernel: "lanczos3" });
  return { data: new Uint8Array(await encode(image, outputType(media))), contentType: outputType(media) };
}

/**
 * An image scaled down (never up) until it holds at most `maxPixels`, sides floored to multiples
 * of 16 (FLUX works in 16-px patches, so the model would round odd sides up and could cross into
 * the next billed megapixel). Used for img2img inputs: the output takes the input's size.
 */
export async function fitWithin(media: Media, maxPixels: number): Promise<Media> {
  const { width, height } = await imageSize(media);
  if (width * height <= maxPixels) return media;
  const scale = Math.sqrt(maxPixels / (width * height));
  const size = { width: Math.max(16, Math.floor((width * scale) / 16) * 16), height: Math.max(16, Math.floor((height * scale) / 16) * 16) };
  const image = sharp(media.data, { limitInputPixels: MAX_INPUT_PIXELS, autoOrient: true }).resize({ ...size, fit: "fill", kernel: "lanczos3" });
  return { data: new Uint8Array(await encode(image, outputType(media))), contentType: outputType(media) };
}
