import { createHash } from "node:crypto";
import { fileTypeFromBuffer } from "file-type";
import { parseBuffer } from "music-metadata";
import { spawn } from "node:child_process";
import { UserFacingError } from "../core/errors.js";
import { withArticle } from "../core/text.js";
import { createFfmpeg } from "../tools/ffmpeg.js";

/*
 * Validation of a song a chat user sends (music spec: an MP3 starts the song route), before anything
 * is stored or paid for. Cheap checks first: emptiness and size, then the type from the content's
 * magic bytes (never the declared type or the filename), then a full parse for the duration.
 *
 * Codes: UNSUPPORTED_FILE when the content is not an MP3 or cannot be read (send another file),
 * FILE_TOO_LARGE for bytes over the cap (compress it), VALIDATION_ERROR for a song too long or too
 * short and for empty files (trim it / send the real thing).
 *
 * durationMs is what the MP3's frames add up to (music-metadata scans every frame), which includes
 * the encoder's priming and padding: a few tens of ms more than the audible length the analyst
 * measures. It is for limits and display; shot timing comes from the analysis.
 */

export interface AudioLimits {
  /** Largest accepted file, in bytes. */
  maxBytes: number;
  /** Longest accepted song, in seconds. */
  maxDurationS: number;
  /** Shortest accepted song: a video needs at least a shot. */
  minDurationS: number;
}

export const DEFAULT_AUDIO_LIMITS: AudioLimits = {
  maxBytes: 20 * 1024 * 1024,
  maxDurationS: 600,
  minDurationS: 1,
};

export interface AudioInspection {
  mimeType: "audio/mpeg";
  extension: "mp3";
  durationMs: number;
  sizeBytes: number;
  /** Hex SHA-256 of the bytes: the dedup key and the blob key. */
  sha256: string;
  title?: string;
  artist?: string;
  /** Unsynchronised lyrics (ID3 USLT, or a TXXX frame named USLT/LYRICS as ffmpeg writes them). */
  lyrics?: string;
}

export async function inspectAudio(bytes: Uint8Array, limits: Partial<AudioLimits> = {}): Promise<AudioInspection> {
  const { maxBytes, maxDurationS, minDurationS } = { ...DEFAULT_AUDIO_LIMITS, ...limits };
  const hint = `Send the song as an MP3 (up to ${formatMb(maxBytes)} and ${formatDuration(maxDurationS)}).`;

  if (bytes.byteLength === 0) throw new UserFacingError("VALIDATION_ERROR", `That file is empty. ${hint}`);
  if (bytes.byteLength > maxBytes) {
    throw new UserFacingError(
      "FILE_TOO_LARGE",
      `That file is ${formatMb(bytes.byteLength)}, over the ${formatMb(maxBytes)} limit. ` +
        `Export the MP3 at a lower bitrate (e.g. 192 kbps) and send it again.`,
    );
  }

  const detected = await fileTypeFromBuffer(bytes);
  // audio/mpeg also covers MPEG layer 1 and 2 (.mp1/.mp2); only layer 3 is an MP3.
  if (!detected || detected.mime !== "audio/mpeg" || detected.ext !== "mp3") {
    const what = detected ? `${withArticle(detected.ext.toUpperCase())} file` : "not a file type I can recognise";
    throw new UserFacingError("UNSUPPORTED_FILE", `That file is ${what}, not an MP3. ${hint}`);
  }

  let meta: Awaited<ReturnType<typeof parseBuffer>>;
  try {
    meta = await parseBuffer(bytes, { mimeType: "audio/mpeg", size: bytes.byteLength }, { duration: true, skipCovers: true });
  } catch (cause) {
    throw new UserFacingError("UNSUPPORTED_FILE", `That MP3 looks damaged, so I can't read it. Re-export it and send it again.`, {
      cause,
    });
  }
  const durationS = meta.format.duration;
  if (!durationS || !Number.isFinite(durationS) || durationS <= 0) {
    throw new UserFacingError("UNSUPPORTED_FILE", `I couldn't find any audio in that MP3. Re-export it and send it again.`);
  }
  if (durationS > maxDurationS) {
    throw new UserFacingError(
      "VALIDATION_ERROR",
      // Rounded up, so a song 0.4 s over the limit never reads as exactly the limit.
      `That song is ${formatDuration(Math.ceil(durationS))} long; the limit is ${formatDuration(maxDurationS)}. ` +
        `Trim it and send it again.`,
    );
  }
  if (durationS < minDurationS) {
    throw new UserFacingError(
      "VALIDATION_ERROR",
      `That song is only ${durationS.toFixed(1)} s long; I need at least ${formatDuration(minDurationS)} to make a video. ${hint}`,
    );
  }

  // Frames that parse may still not play (a file cut short keeps the length its header promises):
  // decode it end to end now, before a job exists, rather than at the final stitch.
  const playedS = await decodedSeconds(bytes);
  if (playedS === null) {
    throw new UserFacingError("UNSUPPORTED_FILE", `That MP3 looks damaged: part of it can't be played. Re-export it and send it again.`);
  }
  if (playedS < durationS - Math.max(0.5, durationS * 0.02)) {
    throw new UserFacingError(
      "UNSUPPORTED_FILE",
      `That MP3 is cut short: it says ${formatDuration(durationS)} but only ${formatDuration(playedS)} can be played. ` +
        `Send the complete file.`,
    );
  }

  const result: AudioInspection = {
    mimeType: "audio/mpeg",
    extension: "mp3",
    durationMs: Math.round(durationS * 1000),
    sizeBytes: bytes.byteLength,
    sha256: createHash("sha256").update(bytes).digest("hex"),
  };
  const title = cleanTag(meta.common.title, 200);
  const artist = cleanTag(meta.common.artist, 200);
  const lyrics = lyricsOf(meta);
  if (title) result.title = title;
  if (artist) result.artist = artist;
  if (lyrics) result.lyrics = lyrics;
  return result;
}

/** Tags are user-controlled text: no control characters (line breaks kept in lyrics), bounded length. */
function cleanTag(value: string | undefined, max: number, keepLines = false): string | undefined {
  if (!value) return undefined;
  const cleaned = (keepLines ? value.replace(/\r\n?/g, "\n").replace(/[\x00-\x09\x0B-\x1F\x7F-\x9F]/g, "") : value.replace(/[\x00-\x1F\x7F-\x9F]+/g, " "))
    .trim()
    .slice(0, max);
  return cleaned || undefined;
}

const MAX_LYRICS_CHARS = 20_000;

function lyricsOf(meta: Awaited<ReturnType<typeof parseBuffer>>): string | undefined {
  for (const tag of meta.common.lyrics ?? []) {
    const text = tag.text ?? tag.syncText?.map((s) => s.text).join("\n");
    const cleaned = cleanTag(text, MAX_LYRICS_CHARS, true);
    if (cleaned) return cleaned;
  }
  for (const tags of Object.values(meta.native)) {
    const txxx = tags.find((t) => /^TXXX:(USLT|LYRICS|UNSYNCEDLYRICS)$/i.test(t.id) && typeof t.value === "string");
    const cleaned = cleanTag(txxx?.value as string | undefined, MAX_LYRICS_CHARS, true);
    if (cleaned) return cleaned;
  }
  return undefined;
}

function formatMb(bytes: number): string {
  const mb = bytes / (1024 * 1024);
  return `${Number.isInteger(mb) ? mb : mb.toFixed(1)} MB`;
}

/** "45 s", "10 min", "14 min 20 s". */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const min = Math.floor(s / 60), rest = s % 60;
  return rest ? `${min} min ${rest} s` : `${min} min`;
}

/** Decoding a 10-minute MP3 takes about a second; a stuck decoder is stopped well after that. */
const DECODE_TIMEOUT_MS = 30_000;
const DECODE_RATE = 8_000;

/**
 * Seconds of audio the MP3 decodes to (mono 8 kHz 16-bit, streamed through ffmpeg and counted,
 * never stored), or null when ffmpeg meets a damaged frame (`-xerror` stops at the first one).
 */
export async function decodedSeconds(bytes: Uint8Array, ffmpegPath = createFfmpeg().ffmpegPath): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(ffmpegPath, [
      "-hide_banner", "-nostdin", "-v", "error", "-xerror", "-i", "pipe:0", "-vn", "-ac", "1", "-ar", String(DECODE_RATE), "-f", "s16le", "pipe:1",
    ], { stdio: ["pipe", "pipe", "ignore"] });
    let samples = 0;
    const timer = setTimeout(() => child.kill("SIGKILL"), DECODE_TIMEOUT_MS);
    child.stdout.on("data", (chunk: Buffer) => (samples += chunk.length / 2));
    child.stdin.on("error", () => undefined); // ffmpeg may stop reading early on a damaged file
    child.once("error", (err) => (clearTimeout(timer), reject(err)));
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve(code === 0 ? samples / DECODE_RATE : null);
    });
    child.stdin.end(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  });
}
