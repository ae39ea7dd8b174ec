/**
 * MP4s that chat players can start before the download ends need their index (the moov box) at
 * the front. `-movflags +faststart` gets there by writing the file, then rewriting all of it to
 * move the index: a second full pass over a stitched song (~150 MB for 3 minutes at 720p), as long
 * as the stitch itself. `-moov_size` reserves room for the index at the front instead, so the file
 * is written once. The reservation must be large enough; the size is estimated generously from the
 * sample counts and, if ffmpeg still finds it too small, the run is repeated with +faststart.
 */
import { rm } from "node:fs/promises";
import type { Ffmpeg, RunOptions } from "./ffmpeg.js";

/**
 * Per-sample index entries are at most ~16 bytes (size, chunk offset, composition offset, sync
 * flag); 24 leaves room. The base covers the track headers and edit lists.
 */
const BYTES_PER_SAMPLE = 24;
const BASE_BYTES = 64 * 1024;
/** Audio frames per second, upper bound: AAC at 48 kHz is 46.9, MP3 at 44.1 kHz 38.3. */
const AUDIO_FRAMES_PER_S = 50;

/** Room for the index of a video of this length and frame rate, with or without an audio track. */
export function moovSizeFor(durationS: number, fps: number, withAudio: boolean): number {
  const samples = durationS * (Math.max(fps, 1) + (withAudio ? AUDIO_FRAMES_PER_S : 0));
  return Math.ceil(BASE_BYTES + BYTES_PER_SAMPLE * samples);
}

/**
 * Runs ffmpeg with `args` (inputs, maps, codecs; no output) writing `out` with its index first.
 * This ffmpeg build reports a reservation that is too small on stderr and still exits 0, leaving a
 * broken file: that message is what triggers the +faststart run.
 */
export async function writeMoovFirst(ffmpeg: Ffmpeg, args: string[], out: string, moovBytes: number, run: RunOptions): Promise<void> {
  const { stderr } = await ffmpeg.run([...args, "-moov_size", String(moovBytes), out], run);
  if (!/reserved_moov_size is too small|Error writing trailer/i.test(stderr)) return;
  await rm(out, { force: true });
  await ffmpeg.run([...args, "-movflags", "+faststart", out], run);
}
