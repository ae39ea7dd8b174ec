/**
 * The ffmpeg editor: joins clips into one H.264 MP4 and inspects media. Clips from one engine share
 * codec, size and frame rate, so they are joined by stream copy (fast, lossless); anything mixed is
 * normalised and re-encoded once, in a single pass. File to file: clips are read where the blob
 * store keeps them, and the result is a new file for the caller to move into the store.
 */
import { randomBytes } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Editor, EditorOutput, Media, ProbeResult } from "../ports.js";
import type { Ffmpeg, ProbeDetails, RunOptions } from "../ffmpeg.js";
import { moovSizeFor, writeMoovFirst } from "../moov-first.js";

export interface OfflineEditorOptions {
  ffmpeg: Ffmpeg;
  /** Scratch space; every call works in its own subfolder and removes it. */
  workDir: string;
  /** x264 preset for the re-encode path (the copy path never encodes). */
  preset?: string;
}

export type ConcatMode = "copy" | "reencode";

export function createOfflineEditor(options: OfflineEditorOptions): Editor {
  const { ffmpeg, workDir } = options;
  const preset = options.preset ?? "veryfast";

  async function inScratch<T>(fn: (dir: string) => Promise<T>): Promise<T> {
    const dir = join(workDir, `edit-${process.pid}-${randomBytes(6).toString("hex")}`);
    await mkdir(dir, { recursive: true });
    try {
      return await fn(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  return {
    async concat(clips: string[]): Promise<EditorOutput> {
      if (clips.length === 0) throw new Error("concat needs at least one clip");
      // The output lives beside the scratch folder, so removing the folder leaves it to the caller.
      const out = join(workDir, `concat-${process.pid}-${randomBytes(6).toString("hex")}.mp4`);
      await inScratch(async (dir) => {
        const probes = await Promise.all(clips.map((f) => ffmpeg.probeDetails(f)));
        // A long final cut re-encodes for a while on two cores; scale the kill timer with its length.
        const totalS = probes.reduce((sum, p) => sum + p.durationS, 0);
        const run = { timeoutMs: Math.max(120_000, totalS * 3_000) };
        try {
          const moov = moovSizeFor(totalS, Math.max(...probes.map((p) => p.frameRate)), probes.some((p) => p.audioCodec !== null));
          if (concatMode(probes) === "copy") await concatCopy(ffmpeg, dir, clips, out, moov, run);
          else await concatReencode(ffmpeg, clips, probes, out, preset, moov, run);
        } catch (err) {
          await rm(out, { force: true });
          throw err;
        }
      });
      return { path: out, contentType: "video/mp4" };
    },

    async probe(media: Media | string): Promise<ProbeResult> {
      if (typeof media === "string") return ffmpeg.probe(media);
      return inScratch(async (dir) => {
        const file = join(dir, "probe.bin");
        await writeFile(file, media.data);
        return ffmpeg.probe(file);
      });
    },
  };
}

/** Stream copy is only safe when every stream parameter a decoder initialises on matches. */
export function concatMode(probes: ProbeDetails[]): ConcatMode {
  const [first] = probes;
  if (first.videoCodec !== "h264") return "reencode";
  const same = (p: ProbeDetails) =>
    p.videoCodec === first.videoCodec &&
    p.width === first.width &&
    p.height === first.height &&
    Math.abs(p.frameRate - first.frameRate) < 1e-3 &&
    p.pixelFormat === first.pixelFormat &&
    p.profile === first.profile &&
    p.audioCodec === first.audioCodec &&
    p.audioSampleRate === first.audioSampleRate &&
    p.audioChannels === first.audioChannels;
  return probes.every(same) ? "copy" : "reencode";
}

async function concatCopy(ffmpeg: Ffmpeg, dir: string, files: string[], out: string, moov: number, run: RunOptions): Promise<void> {
  const list = join(dir, "list.txt");
  await writeFile(list, concatList(files));
  await writeMoovFirst(ffmpeg, ["-f", "concat", "-safe", "0", "-i", list, "-c", "copy"], out, moov, run);
}

/** The concat demuxer's list, in its own quoting: single quotes, embedded quotes closed and escaped. */
export function concatList(files: string[]): string {
  return files.map((f) => `file '${f.replace(/'/g, "'\\''")}'`).join("\n") + "\n";
}

/** One pass: every input scaled and padded to the first clip's frame, then the concat filter. */
async function concatReencode(
  ffmpeg: Ffmpeg,
  files: string[],
  probes: ProbeDetails[],
  out: string,
  preset: string,
  moov: number,
  run: RunOptions,
): Promise<void> {
  const width = even(probes.find((p) => p.width > 0)?.width ?? 1280);
  const height = even(probes.find((p) => p.height > 0)?.height ?? 720);
  const fps = probes.find((p) => p.frameRate > 0)?.frameRate ?? 24;
  const withAudio = probes.some((p) => p.audioCodec !== null);
  const args: string[] = [];
  for (const f of files) args.push("-i", f);
  const filters: string[] = [];
  const labels: string[] = [];
  let extra = files.length;
  probes.forEach((p, i) => {
    filters.push(
      `[${i}:v]scale=${width}:${height}:force_original_aspect_ratio=decrease,` +
        `pad=${width}:${height}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=${fps},format=yuv420p[v${i}]`,
    );
    labels.push(`[v${i}]`);
    if (!withAudio) return;
    // A silent clip among voiced ones gets generated silence, so audio stays in step with video.
    let audioIn = `${i}:a`;
    if (p.audioCodec === null) {
      args.push("-f", "lavfi", "-t", p.durationS.toFixed(3), "-i", "anullsrc=channel_layout=stereo:sample_rate=48000");
      audioIn = `${extra++}:a`;
    }
    filters.push(`[${audioIn}]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo[a${i}]`);
    labels.push(`[a${i}]`);
  });
  filters.push(`${labels.join("")}concat=n=${files.length}:v=1:a=${withAudio ? 1 : 0}[v]${withAudio ? "[a]" : ""}`);
  args.push("-filter_complex", filters.join(";"), "-map", "[v]");
  if (withAudio) args.push("-map", "[a]", "-c:a", "aac", "-b:a", "192k");
  else args.push("-an");
  args.push("-c:v", "libx264", "-preset", preset, "-crf", "20", "-pix_fmt", "yuv420p");
  await writeMoovFirst(ffmpeg, args, out, moov, run);
}

function even(n: number): number {
  return n % 2 === 0 ? n : n + 1;
}
