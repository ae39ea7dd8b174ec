import type { webApi } from "@slack/bolt";
import { ACCEPTED_TYPES, DEFAULT_IMAGE_LIMITS } from "../../../graph/intake.js";
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

/** Largest image accepted, checked from metadata before downloading and by the download's byte cap. */
export const MAX_IMAGE_BYTES = DEFAULT_IMAGE_LIMITS.maxBytes;
const ACCEPTED = "a JPEG, PNG or WebP image (up to 10 MB)";

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
 * What is wrong with a file, judged from Slack's metadata alone (no byte downloaded yet), in words
 * that say what to do (mrkdwn-safe); null when it is worth downloading. The runner checks the bytes again.
 */
export function metadataProblem(file: SlackFileMeta): string | null {
  const name = file.name ? `"${esc(file.name)}"` : "That file";
  if (file.mode === "external" || file.is_external) {
    return `${name} is a link to a file outside Slack. Upload the image itself: ${ACCEPTED}.`;
  }
  if (file.size !== undefined && file.size > MAX_IMAGE_BYTES) {
    const mb = (file.size / 1024 / 1024).toFixed(1);
    return `${name} is ${mb} MB, over the 10 MB limit. Export a smaller version (e.g. a JPEG at 80% quality) and drop it again.`;
  }
  if (file.mimetype && !ACCEPTED_TYPES[file.mimetype]) {
    const kind = file.pretty_type || file.filetype?.toUpperCase() || file.mimetype;
    return `${name} is a ${esc(kind)} file. Drop ${ACCEPTED} and I'll turn it into a video.`;
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

/** Downloads the file (byte cap, allowed hosts only) and starts the job; throws UserFacingError. */
export async function startJobFromFile(deps: SlackDeps, request: StartFromFile): Promise<string> {
  const url = request.file.url_private_download ?? request.file.url_private;
  if (!url) throw new UserFacingError("VALIDATION_ERROR", "I can't download that file. Upload the image again.");
  const bytes = await deps.download(url);
  const { jobId } = await deps.app.runner.start({
    actor: request.actor,
    file: { bytes, filename: request.file.name ?? "upload", declaredType: request.file.mimetype },
    origin: request.origin,
  });
  // The acknowledgement becomes the status message: the renderer edits it from now on.
  await deps.chat.put(jobId, request.location, "status", request.statusTs, null);
  return jobId;
}
