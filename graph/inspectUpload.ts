import { fileTypeFromBuffer } from "file-type";
import { sanitizeFilename, validateImageUpload, type ValidatedImageUpload } from "./intake.js";
import { inspectAudio, type AudioInspection } from "./intake-audio.js";

export type InspectedUpload =
  | { kind: "song"; filename: string; audio: AudioInspection }
  | { kind: "image"; filename: string; image: ValidatedImageUpload };

/**
 * Everything that decides whether a file can become a job, and nothing that stores it: the type
 * from the content (an MP3 starts a music video, an image a brand video), its size, its pixels, its
 * length, and for a song a decode end to end. Surfaces and the CLI call it before opening anything;
 * a bad file costs a few milliseconds and gets a sentence (a UserFacingError).
 */
export async function inspectUpload(file: { bytes: Uint8Array; filename: string; declaredType?: string }): Promise<InspectedUpload> {
  if ((await fileTypeFromBuffer(file.bytes))?.mime === "audio/mpeg") {
    const audio = await inspectAudio(file.bytes);
    return { kind: "song", filename: sanitizeFilename(file.filename, "mp3"), audio };
  }
  const image = await validateImageUpload(file);
  return { kind: "image", filename: image.filename, image };
}
