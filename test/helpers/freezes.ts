import type { Ffmpeg } from "../../tools/ffmpeg.js";

/**
 * Stretches of held picture in a video, as ffmpeg's freezedetect filter reports them: each run of
 * frames that differ by less than -60 dB (its default noise floor) for at least `minS` seconds.
 * A held last frame (tpad clone) is bit-identical, so it always shows; a moving picture never does.
 */
export async function freezes(ffmpeg: Ffmpeg, file: string, minS = 0.1): Promise<Array<{ startS: number; durationS: number }>> {
  // -loglevel error would hide the filter's report; it logs at info level.
  const { stderr } = await ffmpeg.run(["-loglevel", "info", "-i", file, "-an", "-vf", `freezedetect=n=-60dB:d=${minS}`, "-f", "null", "-"]);
  const starts = [...stderr.matchAll(/freeze_start: ([\d.]+)/g)].map((m) => Number(m[1]));
  const durations = [...stderr.matchAll(/freeze_duration: ([\d.]+)/g)].map((m) => Number(m[1]));
  // A freeze running to the end of the video has a start and no duration line.
  return starts.map((startS, i) => ({ startS, durationS: durations[i] ?? Number.POSITIVE_INFINITY }));
}
