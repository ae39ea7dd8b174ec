/**
 * A thin, shell-free runner for ffmpeg and ffprobe. Everything that renders or inspects media goes
 * through one of these objects, so tests can wrap it (count runs, capture arguments, inject faults)
 * and config can point it at system binaries.
 */
import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import type { ProbeResult } from "./ports.js";

export interface FfmpegOptions {
  /** Absolute path of ffmpeg; defaults to the binary bundled by @ffmpeg-installer/ffmpeg. */
  ffmpegPath?: string;
  /** Absolute path of ffprobe; defaults to the binary bundled by @ffprobe-installer/ffprobe. */
  ffprobePath?: string;
  /** Kill a run that takes longer than this (a wedged encoder must not hold a job forever). */
  timeoutMs?: number;
}

export interface RunOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** ProbeResult plus the stream details that decide whether clips can be joined without re-encoding. */
export interface ProbeDetails extends ProbeResult {
  pixelFormat: string | null;
  profile: string | null;
  audioSampleRate: number | null;
  audioChannels: number | null;
}

export interface Ffmpeg {
  readonly ffmpegPath: string;
  readonly ffprobePath: string;
  /** Runs ffmpeg with `args` (no shell); `-hide_banner -nostdin -loglevel error -y` are prepended. */
  run(args: readonly string[], options?: RunOptions): Promise<{ stderr: string }>;
  probe(file: string, options?: RunOptions): Promise<ProbeResult>;
  probeDetails(file: string, options?: RunOptions): Promise<ProbeDetails>;
}

const DEFAULT_TIMEOUT_MS = 120_000;
// ffprobe's JSON for a long file with many streams stays far below this; ffmpeg at loglevel error too.
const MAX_BUFFER = 16 * 1024 * 1024;

const require = createRequire(import.meta.url);

/** Loaded lazily so that a configured system binary never requires the installer packages. */
function bundledPath(pkg: "@ffmpeg-installer/ffmpeg" | "@ffprobe-installer/ffprobe"): string {
  return (require(pkg) as { path: string }).path;
}

export function createFfmpeg(options: FfmpegOptions = {}): Ffmpeg {
  const ffmpegPath = options.ffmpegPath ?? bundledPath("@ffmpeg-installer/ffmpeg");
  const ffprobePath = options.ffprobePath ?? bundledPath("@ffprobe-installer/ffprobe");
  const defaultTimeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  async function run(args: readonly string[], runOptions: RunOptions = {}) {
    const full = ["-hide_banner", "-nostdin", "-loglevel", "error", "-y", ...args];
    const { stderr } = await exec(ffmpegPath, full, runOptions.timeoutMs ?? defaultTimeout, runOptions.signal);
    return { stderr };
  }

  async function probeDetails(file: string, runOptions: RunOptions = {}): Promise<ProbeDetails> {
    const args = ["-v", "error", "-print_format", "json", "-show_format", "-show_streams", file];
    const { stdout } = await exec(ffprobePath, args, runOptions.timeoutMs ?? defaultTimeout, runOptions.signal);
    return parseProbe(stdout, file);
  }

  async function probe(file: string, runOptions: RunOptions = {}): Promise<ProbeResult> {
    const d = await probeDetails(file, runOptions);
    return {
      durationS: d.durationS,
      videoCodec: d.videoCodec,
      audioCodec: d.audioCodec,
      width: d.width,
      height: d.height,
      frameRate: d.frameRate,
    };
  }

  return { ffmpegPath, ffprobePath, run, probe, probeDetails };
}

function exec(
  bin: string,
  args: string[],
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<{ stdout: string; stderr: string }> {
  const name = bin.split(/[\\/]/).pop() ?? bin;
  return new Promise((resolve, reject) => {
    execFile(
      bin,
      args,
      { timeout: timeoutMs, maxBuffer: MAX_BUFFER, signal, killSignal: "SIGKILL", windowsHide: true },
      (error, stdout, stderr) => {
        if (!error) return resolve({ stdout, stderr });
        const e = error as NodeJS.ErrnoException & { killed?: boolean; code?: number | string };
        if (signal?.aborted) return reject(signal.reason ?? error);
        if (e.killed) return reject(new Error(`${name} timed out after ${timeoutMs} ms`));
        // The last lines of stderr carry the actual reason; the head is mostly input description.
        const tail = stderr.trim().split("\n").slice(-6).join("\n") || e.message;
        reject(new Error(`${name} failed (exit ${e.code ?? "?"}): ${tail}`, { cause: error }));
      },
    );
  });
}

interface RawStream {
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  duration?: string;
  pix_fmt?: string;
  profile?: string;
  sample_rate?: string;
  channels?: number;
}

function parseProbe(json: string, file: string): ProbeDetails {
  const data = JSON.parse(json) as { streams?: RawStream[]; format?: { duration?: string } };
  const streams = data.streams ?? [];
  const video = streams.find((s) => s.codec_type === "video");
  const audio = streams.find((s) => s.codec_type === "audio");
  const durationS = Number(data.format?.duration ?? video?.duration ?? audio?.duration ?? NaN);
  if (!video && !audio) throw new Error(`ffprobe found no audio or video stream in ${file}`);
  return {
    durationS: Number.isFinite(durationS) ? durationS : 0,
    videoCodec: video?.codec_name ?? null,
    audioCodec: audio?.codec_name ?? null,
    width: video?.width ?? 0,
    height: video?.height ?? 0,
    // avg_frame_rate is the real cadence; r_frame_rate can be a timebase-derived guess (e.g. 90000/1).
    frameRate: parseRate(video?.avg_frame_rate) || parseRate(video?.r_frame_rate),
    pixelFormat: video?.pix_fmt ?? null,
    profile: video?.profile ?? null,
    audioSampleRate: audio?.sample_rate ? Number(audio.sample_rate) : null,
    audioChannels: audio?.channels ?? null,
  };
}

function parseRate(rate: string | undefined): number {
  if (!rate) return 0;
  const [num, den] = rate.split("/").map(Number);
  if (!den) return Number.isFinite(num) ? num : 0;
  return num / den;
}
