import type { webApi } from "@slack/bolt";
import { ACCEPTED_TYPES, DEFAULT_IMAGE_LIMITS } from "../../../graph/intake.js";
import { DEFAULT_AUDIO_LIMITS } from "../../../graph/intake-audio.js";
import { UserFacingError } from "../../../core/errors.js";
import type { Actor } from "../../../graph/actor.js";
import type { JobOrigin } from "../../../store/jobs.js";
import type { ChatLocation } from "../../../store/chatMessages.js";
import type { SlackDeps } from "./deps.js";
import { esc } from "./blocks.js";

/** The fields of a Slack file object this surface reads (events carry them, files.info too). */
export interface SlackFileMeta {
  id: string;
  name?: string | null;
  mimetype?: string;
  filetype?: string;
  pretty_type?: string;
  size?: number;
  mode?: string;
  is_external?: boolean;
  url_private?: string;
  url_private_download?: string;
  /** Slack Connect stubs say "check_file_info": the rest comes from files.info. */
  file_access?: string;
}

/** Largest image and song accepted, checked from metadata before downloading and by the download's byte cap. */
export const MAX_IMAGE_BYTES = DEFAULT_IMAGE_LIMITS.maxBytes;
export const MAX_SONG_BYTES = DEFAULT_AUDIO_LIMITS.maxBytes;
const mb = (n: number) => `${Math.round(n / 1024 / 1024)} MB`;
export const ACCEPTED = `a JPEG, PNG or WebP brand image (up to ${mb(MAX_IMAGE_BYTES)}) or an MP3 song (up to ${mb(MAX_SONG_BYTES)})`;

/** Whether the event's copy of the file is a stub that needs files.info first. */
export function needsFileInfo(file: SlackFileMeta): boolean {
  return file.file_access === "check_file_info" || !file.mimetype || file.size === undefined || !(file.url_private_download ?? file.url_private);
}

export async function fileInfo(client: webApi.WebClient, fileId: string): Promise<SlackFileMeta> {
  const result = await client.files.info({ file: fileId });
  if (!result.file) throw new UserFacingError("NOT_FOUND", "I can't see that file. Share it in a channel I'm in (or DM it to me) and try again.");
  return result.file as SlackFileMeta;
}

/**
 * What the file claims to be. Only a hint: Slack derives `mimetype` from the name and upload, so
 * the bytes decide after the download (the runner sniffs them: an image or an MP3). The claim
 * only picks which size limit applies before downloading, and lets a file that says plainly it is
 * something else (a PDF, a video) be refused without fetching it.
 */
export function declaredKind(file: SlackFileMeta): "image" | "song" | "unknown" | "other" {
  const type = file.mimetype?.split(";")[0].trim().toLowerCase();
  if (!type || type === "application/octet-stream" || type === "binary") return "unknown";
  if (type.startsWith("audio/")) return "song";
  if (type.startsWith("image/")) return "image";
  return "other";
}

/** The byte cap for the download: the limit of what the file says it is, or the larger one. */
export function maxBytesFor(file: SlackFileMeta): number {
  const kind = declaredKind(file);
  return kind === "image" ? MAX_IMAGE_BYTES : kind === "song" ? MAX_SONG_BYTES : Math.max(MAX_IMAGE_BYTES, MAX_SONG_BYTES);
}

/**
 * What is wrong with a file, judged from Slack's metadata alone (no byte downloaded yet), in words
 * that say what to do (mrkdwn-safe); null when it is worth downloading. The content decides after.
 */
export function metadataProblem(file: SlackFileMeta): string | null {
  const name = file.name ? `"${esc(file.name)}"` : "That file";
  if (file.mode === "external" || file.is_external) {
    return `${name} is a link to a file outside Slack. Upload the file itself: ${ACCEPTED}.`;
  }
  const kind = declaredKind(file);
  if (kind === "other" || (kind === "image" && !ACCEPTED_TYPES[file.mimetype!.split(";")[0].trim().toLowerCase()])) {
    const what = file.pretty_type || file.filetype?.toUpperCase() || file.mimetype;
    return `${name} is a ${esc(what ?? "file")} file. Drop ${ACCEPTED} and I'll turn it into a video.`;
  }
  const max = maxBytesFor(file);
  if (file.size !== undefined && file.size > max) {
    const size = (file.size / 1024 / 1024).toFixed(1);
    const tip = kind === "song" ? "Export it at a lower bitrate" : "Export a smaller version (e.g. a JPEG at 80% quality)";
    return `${name} is ${size} MB, over the ${mb(max)} limit for ${kind === "song" ? "songs" : kind === "image" ? "images" : "files"}. ${tip} and drop it again.`;
  }
  return null;
}

export interface StartFromFile {
  actor: Actor;
  file: SlackFileMeta;
  /** The job's thread; its status message is `statusTs`, already posted as the acknowledgement. */
  location: ChatLocation;
  statusTs: string;
  origin: JobOrigin;
}

/**
 * Downloads the file (byte cap, allowed hosts only) and starts the job; throws UserFacingError.
 * The runner decides by content: an image starts a brand video, an MP3 a music video.
 */
export async function startJobFromFile(deps: SlackDeps, request: StartFromFile): Promise<string> {
  const url = request.file.url_private_download ?? request.file.url_private;
  if (!url) throw new UserFacingError("VALIDATION_ERROR", "I can't download that file. Upload it again.");
  const bytes = await deps.download(url, maxBytesFor(request.file));
  const { jobId } = await deps.app.runner.start({
    actor: request.actor,
    file: { bytes, filename: request.file.name ?? "upload", declaredType: request.file.mimetype },
    origin: request.origin,
  });
  // The acknowledgement becomes the status message: the renderer edits it from now on.
  await deps.chat.put(jobId, request.location, "status", request.statusTs, null);
  return jobId;
}
