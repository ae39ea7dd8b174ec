/**
 * The final render of the song route (spec's FINAL_RENDER; ffmpeg instead of MoviePy): one clip per
 * shot, cut to the shot's exact duration, joined in order, with the original MP3 as the soundtrack.
 *
 * - copy: every clip is H.264 with the same size, frame rate, pixel format and profile, and already
 *   lasts its shot (within one frame, and the running total within one frame too, so no cut drifts):
 *   the concat demuxer joins them with `-c:v copy`; nothing is decoded or encoded.
 * - reencode: otherwise ONE ffmpeg pass: each input has its timestamps reset, is resampled to the
 *   output frame rate, scaled and padded to the output size, held on its last frame if too short
 *   (tpad) and cut to its frame count (trim); the concat filter joins them; H.264 is encoded once.
 *
 * Cuts land on shot boundaries: shot i ends at frame round(end_i · fps), computed from the running
 * total rather than per shot, so rounding never accumulates. The soundtrack is the MP3 itself: in
 * copy mode its stream is copied too (MP4 carries MP3; browsers and chat players play it), so
 * nothing at all is re-encoded; the reencode pass encodes it to AAC by default (`audio: "copy"`
 * keeps it). Either way the result lasts the song within a frame.
 */
import { mp4Info } from "../mp4-info.js";
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Media, SongEditor, SongRenderInput } from "../ports.js";
import type { Ffmpeg, ProbeDetails } from "../ffmpeg.js";
import { concatMode } from "./editor.js";

export interface OfflineSongEditorOptions {
  ffmpeg: Ffmpeg;
  /** Scratch space; every render works in its own subfolder and removes it. */
  workDir: string;
  /** Frame rate of a re-encoded render (the copy path keeps the clips' own). */
  fps?: number;
  /** Frame size of a re-encoded render; the first clip's size by default. */
  size?: { width: number; height: number };
  /** x264 preset of the re-encode path. */
  preset?: string;
  /** "aac" (default) re-encodes the MP3 once; "copy" muxes the MP3 stream as is. */
  audio?: "aac" | "copy";
}

/** Shots and song may disagree by a few ms (MP3 priming and padding); more means the wrong song. */
const MAX_SONG_MISMATCH_S = 0.25;

export function createOfflineSongEditor(options: OfflineSongEditorOptions): SongEditor {
  const { ffmpeg, workDir } = options;
  const fps = options.fps ?? 24;
  const preset = options.preset ?? "veryfast";
  const audioArgs = options.audio === "copy" ? ["-c:a", "copy"] : ["-c:a", "aac", "-b:a", "192k"];

  return {
    async renderSong(input: SongRenderInput) {
      const { clips, durationsMs, audio } = input;
      if (clips.length === 0) throw new Error("renderSong needs at least one clip");
      if (clips.length !== durationsMs.length) {
        throw new Error(`renderSong got ${clips.length} clips for ${durationsMs.length} shot durations`);
      }
      if (durationsMs.some((d) => !(d > 0))) throw new Error("every shot duration must be positive");

      const dir = join(workDir, `song-render-${process.pid}-${randomBytes(6).toString("hex")}`);
      await mkdir(dir, { recursive: true });
      try {
        const files = await Promise.all(
          clips.map(async (clip, i) => {
            const file = join(dir, `clip-${String(i).padStart(4, "0")}.mp4`);
            await writeFile(file, clip.data);
            return file;
          }),
        );
        const song = join(dir, "song.mp3");
        await writeFile(song, audio.data);
        // Clip headers are read in process (a song may have dozens of clips); the MP3 by ffprobe.
        const probes = clips.map((clip) => mp4Info(clip.data));
        const songProbe = await ffmpeg.probeDetails(song);
        if (!songProbe.audioCodec) throw new Error("the soundtrack has no audio stream");
        const totalS = durationsMs.reduce((s, d) => s + d, 0) / 1000;
        if (Math.abs(totalS - songProbe.durationS) > MAX_SONG_MISMATCH_S) {
          throw new Error(`the shots last ${totalS.toFixed(3)} s but the song ${songProbe.durationS.toFixed(3)} s: not this song's shots`);
        }

        const out = join(dir, "song-video.mp4");
        const run = { timeoutMs: Math.round(120_000 + totalS * 3_000) };
        const mode = fitsAsIs(probes, durationsMs) ? "copy" : "reencode";
        if (mode === "copy") {
          const list = join(dir, "list.txt");
          // The concat demuxer's own quoting: single quotes, embedded quotes closed and escaped.
          await writeFile(list, files.map((f) => `file '${f.replace(/'/g, "'\\''")}'`).join("\n") + "\n");
          await ffmpeg.run(
            // Nothing is re-encoded: MP4 carries the MP3 stream as it is.
            ["-f", "concat", "-safe", "0", "-i", list, "-i", song, "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "copy", "-movflags", "+faststart", out],
            run,
          );
        } else {
          const size = options.size ?? { width: even(probes[0].width || 1280), height: even(probes[0].height || 720) };
          await ffmpeg.run(reencodeArgs(files, song, durationsMs, { fps, ...size, preset, audioArgs, out }), run);
        }
        return { media: { data: new Uint8Array(await readFile(out)), contentType: "video/mp4" } as Media, mode };
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

/** Stream copy only when the clips are joinable as they are and each already ends on its boundary. */
export function fitsAsIs(probes: ProbeDetails[], durationsMs: number[]): boolean {
  if (concatMode(probes) !== "copy" || !(probes[0].frameRate > 0)) return false;
  const frameS = 1 / probes[0].frameRate;
  const slack = frameS + 1e-3; // probes report durations to the microsecond
  let clipEnd = 0, shotEnd = 0;
  for (let i = 0; i < probes.length; i++) {
    clipEnd += probes[i].durationS;
    shotEnd += durationsMs[i] / 1000;
    if (Math.abs(probes[i].durationS - durationsMs[i] / 1000) > slack || Math.abs(clipEnd - shotEnd) > slack) return false;
  }
  return true;
}

/** Frames per shot from the running total, so each cut is the frame nearest its boundary. */
export function frameCounts(durationsMs: number[], fps: number): number[] {
  let endMs = 0, previous = 0;
  return durationsMs.map((d) => {
    endMs += d;
    const frame = Math.round((endMs * fps) / 1000);
    const count = Math.max(1, frame - previous);
    previous += count;
    return count;
  });
}

function reencodeArgs(
  files: string[],
  song: string,
  durationsMs: number[],
  o: { fps: number; width: number; height: number; preset: string; audioArgs: string[]; out: string },
): string[] {
  const counts = frameCounts(durationsMs, o.fps);
  const args: string[] = [];
  for (const f of files) args.push("-i", f);
  args.push("-i", song);
  const filters = counts.map(
    (n, i) =>
      `[${i}:v]setpts=PTS-STARTPTS,fps=${o.fps},` +
      `scale=${o.width}:${o.height}:force_original_aspect_ratio=decrease,` +
      `pad=${o.width}:${o.height}:(ow-iw)/2:(oh-ih)/2,setsar=1,format=yuv420p,` +
      // Held on its last frame when short, then cut: every shot has exactly its frame count.
      `tpad=stop_mode=clone:stop=${n},trim=end_frame=${n},setpts=PTS-STARTPTS[v${i}]`,
  );
  filters.push(`${counts.map((_, i) => `[v${i}]`).join("")}concat=n=${counts.length}:v=1:a=0[v]`);
  args.push(
    "-filter_complex", filters.join(";"),
    "-map", "[v]", "-map", `${files.length}:a:0`,
    "-c:v", "libx264", "-preset", o.preset, "-crf", "20", "-pix_fmt", "yuv420p", "-r", String(o.fps),
    ...o.audioArgs,
    "-movflags", "+faststart",
    o.out,
  );
  return args;
}

function even(n: number): number {
  return n % 2 === 0 ? n : n + 1;
}
