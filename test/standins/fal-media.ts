/**
 * Real media the fal stand-in serves: images of the size an endpoint answers with (so a test can
 * check what reached the next step, and the bill follows the real size), and a tiny H.264 MP4.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import sharp from "sharp";

export async function tinyPng(rgb: { r: number; g: number; b: number } = { r: 200, g: 120, b: 40 }): Promise<Uint8Array> {
  const buf = await sharp({ create: { width: 64, height: 36, channels: 3, background: rgb } }).png().toBuffer();
  return new Uint8Array(buf);
}

const images = new Map<string, Promise<Uint8Array>>();

/** A plain image of this size (cached: a solid colour compresses to a few KB even at 1280×720). */
export function sizedImage(width: number, height: number, format: "png" | "jpeg"): Promise<Uint8Array> {
  const key = `${width}x${height}.${format}`;
  let image = images.get(key);
  if (!image) {
    const base = sharp({ create: { width, height, channels: 3, background: { r: 200, g: 120, b: 40 } } });
    image = (format === "jpeg" ? base.jpeg() : base.png()).toBuffer().then((b) => new Uint8Array(b));
    images.set(key, image);
  }
  return image;
}

let mp4: Promise<Uint8Array> | undefined;

/** A one-second 64x36 H.264 MP4, generated once per process. */
export function tinyMp4(): Promise<Uint8Array> {
  mp4 ??= (async () => {
    const ffmpegPath = ((await import("@ffmpeg-installer/ffmpeg")) as unknown as { default: { path: string } }).default.path;
    const dir = await mkdtemp(join(tmpdir(), "fal-standin-"));
    const out = join(dir, "clip.mp4");
    try {
      await promisify(execFile)(ffmpegPath, [
        "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", "color=c=orange:s=64x36:d=1:r=10",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart", out,
      ]);
      return new Uint8Array(await readFile(out));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  })();
  return mp4;
}
