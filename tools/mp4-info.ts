import { open } from "node:fs/promises";
import { createFile, MP4BoxBuffer } from "mp4box";
import type { ProbeDetails } from "./ffmpeg.js";

/**
 * Reads an MP4's header in process with mp4box instead of spawning ffprobe: deciding whether a
 * song's clips can be stream-copied must cost next to nothing beside the copy itself. The codec
 * string (e.g. avc1.64001f) carries profile and level, so it stands in for both.
 */
export function mp4Info(data: Uint8Array): ProbeDetails {
  return parseHeader(headerBoxes(data));
}

/**
 * The same, from a file: only the ftyp and moov boxes are read (a few hundred KB of a clip),
 * found by walking the top-level box headers.
 */
export async function mp4InfoOfFile(path: string): Promise<ProbeDetails> {
  const handle = await open(path, "r");
  try {
    const { size } = await handle.stat();
    const head = Buffer.alloc(16);
    const kept: Buffer[] = [];
    for (let offset = 0; offset + 8 <= size; ) {
      const { bytesRead } = await handle.read(head, 0, 16, offset);
      if (bytesRead < 8) break;
      let boxSize = head.readUInt32BE(0);
      const type = head.toString("latin1", 4, 8);
      if (boxSize === 1 && bytesRead >= 16) boxSize = Number(head.readBigUInt64BE(8));
      if (boxSize === 0) boxSize = size - offset;
      if (boxSize < 8) break;
      if (type === "ftyp" || type === "moov") {
        const box = Buffer.alloc(Math.min(boxSize, size - offset));
        await handle.read(box, 0, box.length, offset);
        kept.push(box);
      }
      offset += boxSize;
    }
    return parseHeader(Buffer.concat(kept));
  } finally {
    await handle.close();
  }
}

function parseHeader(header: Buffer): ProbeDetails {
  const file = createFile();
  let info: { duration: number; timescale: number; tracks: Array<Record<string, any>> } | undefined;
  file.onReady = (ready: typeof info) => (info = ready);
  file.onError = (_module: string, message: string) => {
    throw new Error(`not a readable MP4: ${message}`);
  };
  file.appendBuffer(MP4BoxBuffer.fromArrayBuffer(header.buffer.slice(header.byteOffset, header.byteOffset + header.byteLength) as ArrayBuffer, 0));
  file.flush();
  if (!info) throw new Error("not a readable MP4: no movie header");
  const video = info.tracks.find((t) => t.type === "video" || t.video);
  const audio = info.tracks.find((t) => t.type === "audio" || t.audio);
  const codec = String(video?.codec ?? "");
  return {
    durationS: info.duration / info.timescale,
    videoCodec: codec.startsWith("avc1") || codec.startsWith("avc3") ? "h264" : codec || null,
    audioCodec: audio ? String(audio.codec) : null,
    width: video?.video?.width ?? 0,
    height: video?.video?.height ?? 0,
    frameRate: video && video.duration > 0 ? video.nb_samples / (video.duration / video.timescale) : 0,
    pixelFormat: codec,
    profile: codec,
    audioSampleRate: audio?.audio?.sample_rate ?? null,
    audioChannels: audio?.audio?.channel_count ?? null,
  };
}

/**
 * The ftyp and moov boxes only: the header says everything we need, and the media data (mdat,
 * nearly all of the bytes) is skipped by walking top-level box sizes.
 */
function headerBoxes(data: Uint8Array): Buffer {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const kept: Buffer[] = [];
  for (let offset = 0; offset + 8 <= bytes.length; ) {
    let size = bytes.readUInt32BE(offset);
    const type = bytes.toString("latin1", offset + 4, offset + 8);
    if (size === 1 && offset + 16 <= bytes.length) size = Number(bytes.readBigUInt64BE(offset + 8));
    if (size === 0) size = bytes.length - offset;
    if (size < 8) break;
    if (type === "ftyp" || type === "moov") kept.push(bytes.subarray(offset, offset + size));
    offset += size;
  }
  return Buffer.concat(kept);
}
