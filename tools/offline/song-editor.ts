/**
 * The final render of the song route (spec's FINAL_RENDER; ffmpeg instead of MoviePy): one clip per
 * shot, cut to the shot's exact duration, joined in order, with the original MP3 as the soundtrack.
 *
 * - copy: every clip is H.264 with the same size, frame rate, pixel format and profile, and already
 *   lasts its shot (within one frame, and the running total within one frame too, so no cut drifts):
 *   the concat demuxer joins them with `-c:v copy`; nothing is decoded or encoded.
 * - reencode: otherwise ONE ffmpeg pass: each input has its timestamps reset, is resampled to the
 *   output frame rate, scaled and padded to the output size and cut to its frame count (trim); the
 *   concat filter joins them; H.264 is encoded once. Engines render fixed lengths (Kling 5 or 10 s),
 *   so a clip is normally longer than its shot and only cut. A clip shorter than its shot (a
 *   fallback engine with shorter clips) is slowed to fit rather than held on its last frame: the
 *   picture never stands still for more than the one frame that rounding may add.
 *
 * Cuts land on shot boundaries: shot i ends at frame round(end_i · fps), computed from the running
 * total rather than per shot, so rounding never accumulates. The soundtrack is the MP3 itself: in
 * copy mode its stream is copied too (MP4 carries MP3; browsers and chat players play it), so
 * nothing at all is re-encoded; the reencode pass encodes it to AAC by default (`audio: "copy"`
 * keeps it). Either way the result lasts the song within a frame.
 *
 * File to file: clips and song are read where they are (the blob store's files), headers in process
 * (mp4box, no ffprobe per clip), and the result is written once with its index first (moov-first.ts).
 */
import { randomBytes } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseFile } from "music-metadata";
import { mp4InfoOfFile } from "../mp4-info.js";
import type { EditorOutput, SongEditor, SongRenderInput } from "../ports.js";
import type { Ffmpeg, ProbeDetails } from "../ffmpeg.js";
import { moovSizeFor, writeMoovFirst } from "../moov-first.js";
import { concatList, concatMode } from "./editor.js";

export interface OfflineSongEditorOptions {
  ffmpeg: Ffmpeg;
  /** Scratch space; every render works in its own subfolder and removes it, leaving only its output. */
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

      const id = `${process.pid}-${randomBytes(6).toString("hex")}`;
      const dir = join(workDir, `song-render-${id}`);
      // Beside the scratch folder: removing the folder leaves the output to the caller.
      const out = join(workDir, `song-video-${id}.mp4`);
      await mkdir(dir, { recursive: true });
      try {
        // Headers are read in process, clips and song alike: spawning ffprobe costs more than the copy's margin.
        const [probes, songS] = await Promise.all([Promise.all(clips.map(mp4InfoOfFile)), songSeconds(ffmpeg, audio)]);
        const totalS = durationsMs.reduce((s, d) => s + d, 0) / 1000;
        if (Math.abs(totalS - songS) > MAX_SONG_MISMATCH_S) {
          throw new Error(`the shots last ${totalS.toFixed(3)} s but the song ${songS.toFixed(3)} s: not this song's shots`);
        }

        const run = { timeoutMs: Math.round(120_000 + totalS * 3_000) };
        const mode = fitsAsIs(probes, durationsMs) ? "copy" : "reencode";
        if (mode === "copy") {
          const list = join(dir, "list.txt");
          await writeFile(list, concatList(clips));
          const moov = moovSizeFor(totalS, probes[0].frameRate, true);
          // Nothing is re-encoded: MP4 carries the MP3 stream as it is.
          await writeMoovFirst(ffmpeg, ["-f", "concat", "-safe", "0", "-i", list, "-i", audio, "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "copy"], out, moov, run);
        } else {
          const size = options.size ?? { width: even(probes[0].width || 1280), height: even(probes[0].height || 720) };
          const args = reencodeArgs(clips, probes, audio, durationsMs, { fps, ...size, preset, audioArgs });
          await writeMoovFirst(ffmpeg, args, out, moovSizeFor(totalS, fps, true), run);
        }
        return { output: { path: out, contentType: "video/mp4" } as EditorOutput, mode };
      } catch (err) {
        await rm(out, { force: true });
        throw err;
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

/** The song's length: music-metadata reads its frames in process; ffprobe only when it cannot. */
async function songSeconds(ffmpeg: Ffmpeg, file: string): Promise<number> {
  const meta = await parseFile(file, { duration: true, skipCovers: true }).catch(() => null);
  const seconds = meta?.format.duration;
  if (meta && seconds && Number.isFinite(seconds) && seconds > 0 && (meta.format.numberOfChannels ?? 0) > 0) return seconds;
  const probe = await ffmpeg.probeDetails(file);
  if (!probe.audioCodec) throw new Error("the soundtrack has no audio stream");
  return probe.durationS;
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

/**
 * How much a clip is slowed to fill its shot: 1 when it is long enough (it is only cut), else the
 * ratio of the shot to the clip. Half a frame of slack: rounding is what the final tpad frame covers.
 */
export function stretchFactor(clipS: number, frames: number, fps: number): number {
  const shotS = frames / fps;
  return clipS > 0 && clipS < shotS - 0.5 / fps ? shotS / clipS : 1;
}

function reencodeArgs(
  files: string[],
  probes: ProbeDetails[],
  song: string,
  durationsMs: number[],
  o: { fps: number; width: number; height: number; preset: string; audioArgs: string[] },
): string[] {
  const counts = frameCounts(durationsMs, o.fps);
  const args: string[] = [];
  for (const f of files) args.push("-i", f);
  args.push("-i", song);
  const filters = counts.map((n, i) => {
    const stretch = stretchFactor(probes[i].durationS, n, o.fps);
    const pts = stretch === 1 ? "PTS-STARTPTS" : `(PTS-STARTPTS)*${stretch.toFixed(6)}`;
    return (
      `[${i}:v]setpts=${pts},fps=${o.fps},` +
      `scale=${o.width}:${o.height}:force_original_aspect_ratio=decrease,` +
      `pad=${o.width}:${o.height}:(ow-iw)/2:(oh-ih)/2,setsar=1,format=yuv420p,` +
      // At most one frame held (what rounding a length to frames can need), then cut to the shot.
      `tpad=stop_mode=clone:stop=1,trim=end_frame=${n},setpts=PTS-STARTPTS[v${i}]`
    );
  });
  filters.push(`${counts.map((_, i) => `[v${i}]`).join("")}concat=n=${counts.length}:v=1:a=0[v]`);
  args.push(
    "-filter_complex", filters.join(";"),
    "-map", "[v]", "-map", `${files.length}:a:0`,
    "-c:v", "libx264", "-preset", o.preset, "-crf", "20", "-pix_fmt", "yuv420p", "-r", String(o.fps),
    ...o.audioArgs,
  );
  return args;
}

function even(n: number): number {
  return n % 2 === 0 ? n : n + 1;
}
