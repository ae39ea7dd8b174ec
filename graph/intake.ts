import { createHash } from "node:crypto";
import { fileTypeFromBuffer } from "file-type";
import sharp from "sharp";
import { z } from "zod";
import { UserFacingError } from "../core/errors.js";
import { boundedText, parseOrThrow, withArticle } from "../core/text.js";

/*
 * Validation of what a chat user sends, before anything is stored or paid for (spec §5.1–5.2).
 *
 * Error codes: a file whose *content* is not an accepted type, or that cannot be read, is
 * UNSUPPORTED_FILE (the user must send a different file); VALIDATION_ERROR is kept for malformed
 * input fields (zod) and empty files. The spec's test 8 expects VALIDATION_ERROR for `test.exe`
 * because its schema checked the *declared* type; we ignore the declared type, so the content check
 * is what refuses it, with the more specific code.
 */

// ---------------------------------------------------------------------------------------------
// Accepted kinds
// ---------------------------------------------------------------------------------------------

export type UploadKind = "image"; // the song route adds "song"

export interface AcceptedType {
  kind: UploadKind;
  /** Extension a stored filename gets. */
  extension: string;
  /** Other extensions that mean the same type (kept as the user wrote them). */
  aliases: readonly string[];
  /** How the type is named to users. */
  label: string;
}

/**
 * What may be uploaded, keyed by the MIME type detected from the content. The song route adds
 * `"audio/mpeg": { kind: "song", extension: "mp3", aliases: [], label: "MP3" }` here, with its own
 * inspector next to inspectImage.
 */
export const ACCEPTED_TYPES: Readonly<Record<string, AcceptedType>> = {
  "image/jpeg": { kind: "image", extension: "jpg", aliases: ["jpeg", "jpe", "jfif"], label: "JPEG" },
  "image/png": { kind: "image", extension: "png", aliases: [], label: "PNG" },
  "image/webp": { kind: "image", extension: "webp", aliases: [], label: "WebP" },
};

export interface ImageLimits {
  /** Largest accepted file, in bytes. */
  maxBytes: number;
  /** Largest accepted width × height; checked from the header, before any decoding. */
  maxPixels: number;
}

export const DEFAULT_IMAGE_LIMITS: ImageLimits = {
  maxBytes: 10 * 1024 * 1024,
  maxPixels: 40_000_000,
};

// ---------------------------------------------------------------------------------------------
// Schemas at the boundary (spec §5.1)
// ---------------------------------------------------------------------------------------------

/** The upload as a surface hands it over; the declared type is only a hint and is never trusted. */
export const UploadSchema = z.object({
  filename: z.string().max(4096),
  declaredType: z.string().max(255).optional(),
  // z.custom, not z.instanceof: the latter narrows to Uint8Array<ArrayBuffer> and refuses Buffers.
  bytes: z.custom<Uint8Array>((value) => value instanceof Uint8Array, "Expected the file's bytes"),
});
export type UploadInput = z.input<typeof UploadSchema>;

/** A YELLOW/RED action on one scene (spec §5.1). */
export const RefineActionSchema = z
  .object({
    sceneId: z.uuid(),
    status: z.enum(["YELLOW", "RED"]),
    feedback: boundedText(500).optional(),
  })
  .refine((a) => a.status !== "YELLOW" || (a.feedback !== undefined && a.feedback.length > 0), {
    message: "Tell me what to change (up to 500 characters) when you choose YELLOW.",
    path: ["feedback"],
  });
export type RefineAction = z.output<typeof RefineActionSchema>;

/** A traffic-light decision from a chat button or command. */
export const DecisionSchema = z
  .object({
    decision: z.enum(["GREEN", "YELLOW", "RED"]),
    note: boundedText(500).optional(),
  })
  .refine((d) => d.decision !== "YELLOW" || (d.note !== undefined && d.note.length > 0), {
    message: "Tell me what to change (up to 500 characters) when you choose YELLOW.",
    path: ["note"],
  });
export type Decision = z.output<typeof DecisionSchema>;

// ---------------------------------------------------------------------------------------------
// Image inspection
// ---------------------------------------------------------------------------------------------

export interface ImageInspection {
  /** Detected from the content, never from the declared type. */
  mimeType: string;
  extension: string;
  /** Displayed size (EXIF orientation applied). */
  width: number;
  height: number;
  sizeBytes: number;
  /** Hex SHA-256 of the bytes: the dedup key and the blob key. */
  sha256: string;
}

const ACCEPTED_LABELS = "a JPEG, PNG or WebP image";

/**
 * Checks an uploaded image from its content. Cheap checks run first, so an oversized or hostile
 * file costs as little as possible: size, then the type from the magic bytes, then the dimensions
 * from the header, and only then a downscaling decode, which catches truncated and corrupt files
 * that a header read alone lets through.
 */
export async function inspectImage(bytes: Uint8Array, limits: Partial<ImageLimits> = {}): Promise<ImageInspection> {
  const { maxBytes, maxPixels } = { ...DEFAULT_IMAGE_LIMITS, ...limits };
  const hint = `Send ${ACCEPTED_LABELS} (up to ${formatMb(maxBytes)}).`;

  if (bytes.byteLength === 0) throw new UserFacingError("VALIDATION_ERROR", `That file is empty. ${hint}`);
  if (bytes.byteLength > maxBytes) {
    throw new UserFacingError(
      "FILE_TOO_LARGE",
      `That file is ${formatMb(bytes.byteLength)}, over the ${formatMb(maxBytes)} limit. ` +
        `Export a smaller version (e.g. a JPEG at 80% quality) and send it again.`,
    );
  }

  const detected = await fileTypeFromBuffer(bytes);
  const accepted = detected ? ACCEPTED_TYPES[detected.mime] : undefined;
  if (!detected || !accepted || accepted.kind !== "image") {
    const what = detected ? `${withArticle(detected.ext.toUpperCase())} file` : "not an image I can recognise";
    throw new UserFacingError("UNSUPPORTED_FILE", `That file is ${what}. ${hint} For a music video, send an MP3 song.`);
  }

  const { width, height } = await readDimensions(bytes, accepted.label, hint);
  if (width * height > maxPixels) {
    throw new UserFacingError(
      "IMAGE_TOO_LARGE",
      `That image is ${width} × ${height} px (${formatMp(width * height)}), over the ` +
        `${formatMp(maxPixels)} limit. Resize it (e.g. to 4000 px on the long side) and send it again.`,
    );
  }
  await assertDecodable(bytes, maxPixels, accepted.label, hint);

  return {
    mimeType: detected.mime,
    extension: accepted.extension,
    width,
    height,
    sizeBytes: bytes.byteLength,
    sha256: createHash("sha256").update(bytes).digest("hex"),
  };
}

/** Header-only read: no pixels are decoded, so a decompression bomb costs nothing here. */
async function readDimensions(bytes: Uint8Array, label: string, hint: string) {
  try {
    const meta = await sharp(bytes, { limitInputPixels: false }).metadata();
    const width = meta.autoOrient?.width ?? meta.width;
    const height = meta.autoOrient?.height ?? meta.height;
    if (!width || !height) throw new Error("no dimensions in header");
    return { width, height };
  } catch (cause) {
    throw new UserFacingError("UNSUPPORTED_FILE", `That ${label} looks damaged: I couldn't read its size. ${hint}`, {
      cause,
    });
  }
}

/**
 * Decodes the whole image into a tiny thumbnail. Memory stays small (sequential read, shrink-on-load
 * for JPEG/WebP) and the pixel limit guards libvips itself in case the header check is bypassed.
 */
async function assertDecodable(bytes: Uint8Array, maxPixels: number, label: string, hint: string) {
  try {
    await sharp(bytes, { failOn: "truncated", limitInputPixels: maxPixels, sequentialRead: true })
      .resize(32, 32, { fit: "inside" })
      .raw()
      .toBuffer();
  } catch (cause) {
    throw new UserFacingError(
      "UNSUPPORTED_FILE",
      `That ${label} looks incomplete or damaged, so I can't use it. Re-export it and send it again. ${hint}`,
      { cause },
    );
  }
}

function formatMb(bytes: number): string {
  const mb = bytes / (1024 * 1024);
  return `${Number.isInteger(mb) ? mb : mb.toFixed(1)} MB`;
}

function formatMp(pixels: number): string {
  const mp = pixels / 1_000_000;
  return `${Number.isInteger(mp) ? mp : mp.toFixed(1)} MP`;
}

// ---------------------------------------------------------------------------------------------
// Filenames
// ---------------------------------------------------------------------------------------------

const MAX_FILENAME_BYTES = 255;
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])$/i;

/**
 * A filename safe to show, log and use as a path segment: the last path segment only (both `/`
 * and `\`), no control or format characters (this removes null bytes and bidi overrides), letters
 * (any script), digits, `.`, `_` and `-` only, no `..`, no leading dot, at most 255 UTF-8 bytes,
 * never empty. With `extension` (the detected type's), the name ends in it: an alias such as
 * `.jpeg` is kept, anything else is replaced (`logo.exe` → `logo.png`).
 */
export function sanitizeFilename(name: string, extension?: string): string {
  const lastSegment = name.split(/[\\/]/).filter((s) => s.length > 0).pop() ?? "";
  const cleaned = lastSegment
    .normalize("NFC")
    .replace(/[\p{Cc}\p{Cf}]/gu, "")
    .replace(/[^\p{L}\p{M}\p{N}._-]+/gu, "_")
    .replace(/\.{2,}/g, ".")
    .replace(/_{2,}/g, "_")
    .replace(/^[._-]+|[._-]+$/g, "");

  const dot = cleaned.lastIndexOf(".");
  let base = dot > 0 ? cleaned.slice(0, dot) : cleaned;
  let ext = dot > 0 ? cleaned.slice(dot + 1).toLowerCase() : "";
  if (extension) {
    const accepted = Object.values(ACCEPTED_TYPES).find((t) => t.extension === extension);
    const keep = ext === extension || (accepted?.aliases.includes(ext) ?? false);
    if (!keep) {
      // "brand.v2" → "brand.png" too: a suffix that is not the detected type's is dropped.
      if (!/^[a-z0-9]{1,5}$/.test(ext)) base = cleaned;
      ext = extension;
    }
  }
  base = base.replace(/[._-]+$/, "");
  if (base === "" || WINDOWS_RESERVED.test(base)) base = base === "" ? "upload" : `_${base}`;

  const suffix = ext ? `.${ext}` : "";
  return truncateUtf8(base, MAX_FILENAME_BYTES - Buffer.byteLength(suffix)) + suffix;
}

/** Cuts at a code point boundary so the name stays valid UTF-8. */
function truncateUtf8(text: string, maxBytes: number): string {
  let out = "";
  let size = 0;
  for (const ch of text) {
    size += Buffer.byteLength(ch);
    if (size > maxBytes) break;
    out += ch;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The whole intake
// ---------------------------------------------------------------------------------------------

export interface ValidatedImageUpload extends ImageInspection {
  /** Sanitised, with the detected type's extension. */
  filename: string;
  /** The declared type when it disagreed with the content (kept for the audit log). */
  declaredTypeMismatch?: string;
}

/** Validates an image upload end to end: input shape, content, and filename. */
export async function validateImageUpload(
  input: UploadInput,
  limits: Partial<ImageLimits> = {},
): Promise<ValidatedImageUpload> {
  const upload = parseOrThrow(UploadSchema, input);
  const inspection = await inspectImage(upload.bytes, limits);
  const result: ValidatedImageUpload = {
    ...inspection,
    filename: sanitizeFilename(upload.filename, inspection.extension),
  };
  const declared = upload.declaredType?.trim().toLowerCase();
  if (declared && declared !== inspection.mimeType) result.declaredTypeMismatch = declared.slice(0, 100);
  return result;
}
