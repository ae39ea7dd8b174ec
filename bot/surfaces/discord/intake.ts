/**
 * From a Discord attachment to a running job, shared by `/render` and by files dropped in a
 * channel or DM: check the attachment's metadata, download it from Discord's CDN only (byte cap),
 * check its content, open the job's thread, then `runner.start`. A brand image (JPEG/PNG/WebP)
 * starts a brand video, an MP3 a music video; the runner decides by content.
 *
 * Re-deliveries: the job origin keeps the interaction id (`/render`) or message id (drops), and
 * the user's recent jobs are searched for it before anything is downloaded or started. A second
 * acknowledgement of one interaction is refused by Discord (40060) and a second thread on one
 * message too (160004); both stop the handler, which covers two deliveries racing each other.
 */
import { Routes, type REST, type APIThreadChannel } from "discord.js";
import { fileTypeFromBuffer } from "file-type";
import type { Logger } from "pino";
import { downloadAttachment } from "../download.js";
import { ACCEPTED_TYPES, validateImageUpload } from "../../../graph/intake.js";
import { inspectAudio } from "../../../graph/intake-audio.js";
import { isUserFacing } from "../../../core/errors.js";
import type { Actor } from "../../../graph/actor.js";
import type { Runner } from "../../../graph/runner.js";
import type { JobOrigin } from "../../../store/jobs.js";
import type { ChatLocation } from "../../../store/chatMessages.js";
import type { Publisher } from "./publisher.js";
import { describeError, discordCode } from "./log.js";

export interface AttachmentMeta {
  name: string;
  size: number;
  contentType: string | null;
  url: string;
}

export interface FileRules {
  /** Hosts downloads may come from (cdn.discordapp.com, media.discordapp.net). */
  hosts: string[];
  allowHttp: boolean;
  /** Largest brand image (10 MB, the intake's image limit). */
  maxImageBytes: number;
  /** Largest MP3 song (the intake's audio limit). */
  maxSongBytes: number;
}

/** What a file can start: a brand video from an image, a music video from an MP3. */
export type MediaKind = "image" | "song";

const IMAGE_TYPES = Object.entries(ACCEPTED_TYPES).filter(([, t]) => t.kind === "image");
const IMAGE_LABELS = IMAGE_TYPES.map(([, t]) => t.label);
const IMAGE_TEXT = `${IMAGE_LABELS.slice(0, -1).join(", ")} or ${IMAGE_LABELS.at(-1)}`;
const SONG_TYPES = ["audio/mpeg", "audio/mp3"];
const IMAGE_EXTENSIONS = /\.(jpe?g|jfif|png|webp|gif|bmp|tiff?|heic|heif|avif|svg)$/i;

const KIND_NAMES: Record<string, string> = {
  "application/pdf": "a PDF",
  "image/gif": "a GIF",
  "image/svg+xml": "an SVG drawing",
  "image/heic": "a HEIC photo",
  "image/heif": "a HEIF photo",
  "image/avif": "an AVIF image",
  "image/bmp": "a BMP image",
  "image/tiff": "a TIFF image",
  "video/mp4": "a video",
  "video/quicktime": "a video",
  "audio/wav": "a WAV recording",
  "audio/x-wav": "a WAV recording",
  "audio/mp4": "an M4A/AAC recording",
  "audio/ogg": "an Ogg recording",
};

const mb = (bytes: number) => `${Math.round((bytes / 1024 / 1024) * 10) / 10} MB`;
const typeOf = (a: AttachmentMeta) => a.contentType?.split(";")[0].trim().toLowerCase() ?? null;

/** The kind of job a file would start, judging by its declared type, else its name; null if neither. */
export function mediaKind(a: AttachmentMeta): MediaKind | null {
  const type = typeOf(a);
  if (type && SONG_TYPES.includes(type)) return "song";
  if (type?.startsWith("image/")) return "image";
  if (/\.mp3$/i.test(a.name)) return "song";
  if (IMAGE_EXTENSIONS.test(a.name)) return "image";
  return null;
}

/** Whether a file looks like something for the bot, so an unrelated file in a busy channel is left alone. */
export function looksLikeMedia(a: AttachmentMeta): boolean {
  return mediaKind(a) !== null;
}

export function maxBytesFor(kind: MediaKind | null, rules: FileRules): number {
  return kind === "song" ? rules.maxSongBytes : rules.maxImageBytes;
}

/** What is wrong with an attachment judging by its metadata, in words the user can act on. */
export function attachmentProblem(a: AttachmentMeta, rules: FileRules): string | null {
  const what = `**${a.name.replace(/[*_`~|]/g, "")}**`;
  const ask = `Send a ${IMAGE_TEXT} brand image up to ${mb(rules.maxImageBytes)}, or an MP3 song up to ${mb(rules.maxSongBytes)}`;
  if (a.size <= 0) return `${what} is empty. ${ask}.`;
  const type = typeOf(a);
  const kind = mediaKind(a);
  const accepted = type === null || SONG_TYPES.includes(type) || IMAGE_TYPES.some(([mime]) => mime === type);
  if (!accepted) {
    const name = KIND_NAMES[type!] ?? `a \`${type}\` file`;
    return `${what} is ${name}, which I can't turn into a video. ${ask}${type === "image/gif" ? " (export a single frame as PNG)" : ""}.`;
  }
  const max = maxBytesFor(kind, rules);
  if (a.size > max) {
    const tip = kind === "song" ? "export it at a lower bitrate" : "a JPEG export is usually small enough";
    return `${what} is ${mb(a.size)}, over the ${mb(max)} limit for ${kind === "song" ? "songs" : "images"}. ${ask} — ${tip}.`;
  }
  return null;
}

export interface IntakeDeps {
  runner: Runner;
  rest: REST;
  logger: Logger;
  publisher: Publisher;
  files: FileRules;
}

export interface IntakeRequest {
  actor: Actor;
  attachment: AttachmentMeta;
  /** `interactionId` or `messageId`, and its value: how a re-delivery is recognised. */
  dedupe: { field: "interactionId" | "messageId"; value: string };
  guildId: string | null;
  /** Tell the user something (a refusal, or where the job is). */
  reply(content: string): Promise<unknown>;
  /** Say sorry for a failure on our side; `reply` when not given. */
  apologize?(content: string): Promise<unknown>;
  /** Opens the job's place: a thread, or the channel itself; null when another delivery already did. */
  place(): Promise<Place | null>;
  /** The job exists and lives at `location`. */
  started(jobId: string, location: ChatLocation): Promise<unknown>;
  /** This upload already made a job (a re-delivery). */
  duplicate(jobId: string): Promise<unknown>;
}

export type IntakeOutcome = "started" | "refused" | "duplicate";

async function sniffsAsMp3(bytes: Uint8Array): Promise<boolean> {
  return (await fileTypeFromBuffer(bytes))?.mime === "audio/mpeg";
}

const SORRY = "Something went wrong on my side while reading that file. Nothing was charged; try again in a minute.";

export async function startFromAttachment(deps: IntakeDeps, request: IntakeRequest): Promise<IntakeOutcome> {
  const { runner, logger, files } = deps;
  const { attachment } = request;
  const problem = attachmentProblem(attachment, files);
  if (problem) {
    await request.reply(`⚠️ ${problem}`);
    return "refused";
  }
  let place: Place | null = null;
  try {
    const user = await runner.users.ensure(request.actor);
    const earlier = (await runner.jobsOf(user.id)).find((j) => j.origin[request.dedupe.field] === request.dedupe.value);
    if (earlier) {
      logger.info({ jobId: earlier.id, [request.dedupe.field]: request.dedupe.value }, "discord: re-delivered upload; the job already exists");
      await request.duplicate(earlier.id);
      return "duplicate";
    }
    const kind = mediaKind(attachment);
    const maxBytes = Math.max(files.maxImageBytes, kind === "song" ? files.maxSongBytes : 0);
    const bytes = await downloadAttachment({ url: attachment.url, allowedHosts: files.hosts, maxBytes, allowHttp: files.allowHttp });
    // Checked by content before a thread is opened, so a bad file gets a plain answer and no empty
    // thread; the runner checks again. Whatever does not sniff as MP3 is judged as an image.
    if (await sniffsAsMp3(bytes)) await inspectAudio(bytes, { maxBytes: files.maxSongBytes });
    else await validateImageUpload({ filename: attachment.name, declaredType: attachment.contentType ?? undefined, bytes }, { maxBytes: files.maxImageBytes });
    place = await request.place();
    if (!place) {
      logger.info({ [request.dedupe.field]: request.dedupe.value }, "discord: another delivery of this upload opened its thread; stopping");
      return "duplicate";
    }
    const origin: JobOrigin = {
      platform: "discord",
      guildId: request.guildId ?? "",
      channelId: place.location.channelId,
      threadId: place.location.threadId,
      messageId: place.messageId,
      discordUserId: request.actor.userId,
      ...(request.dedupe.field === "interactionId" ? { interactionId: request.dedupe.value } : {}),
    };
    const { jobId } = await runner.start({
      actor: request.actor,
      file: { bytes, filename: attachment.name, declaredType: attachment.contentType ?? undefined },
      origin,
    });
    logger.info({ jobId, channelId: place.location.channelId, threadId: place.location.threadId }, "discord: job started");
    await request.started(jobId, place.location);
    deps.publisher.refresh(jobId);
    return "started";
  } catch (err) {
    const text = `⚠️ ${isUserFacing(err) ? err.userMessage : SORRY}`;
    if (!isUserFacing(err)) logger.error({ ...describeError(err), [request.dedupe.field]: request.dedupe.value }, "discord: could not start a job");
    const say = isUserFacing(err) ? request.reply : (request.apologize ?? request.reply);
    await say(text).catch((e) => logger.warn(describeError(e), "discord: could not answer an upload"));
    // A thread opened for this job says why it stays empty (our own failures only in general terms: it is public).
    if (place?.opened) await postMessage(deps.rest, place.location.threadId, isUserFacing(err) ? text : "⚠️ This job didn't start.").catch(() => undefined);
    return "refused";
  }
}

/**
 * Starts the job's thread on `messageId`. Returns the thread's id, and whether this call opened
 * it; null when this bot already opened one there (another delivery got here first); throws when
 * threads are not possible here, so the caller falls back to the channel.
 *
 * 160004 means the message already has a thread, whose id is the message's
 * (https://discord.com/developers/docs/topics/threads#public-private-threads). When a person
 * opened it (someone started discussing the file before the bot answered), the job joins that
 * thread instead of being dropped; only a thread of the bot's own means a duplicate delivery.
 */
export async function openThread(rest: REST, botId: string, channelId: string, messageId: string, name: string): Promise<{ id: string; opened: boolean } | null> {
  try {
    const thread = (await rest.post(Routes.threads(channelId, messageId), {
      body: { name: name.slice(0, 100), auto_archive_duration: 1440 },
    })) as APIThreadChannel;
    return { id: thread.id, opened: true };
  } catch (err) {
    if (discordCode(err) !== 160004) throw err;
    const existing = (await rest.get(Routes.channel(messageId))) as APIThreadChannel;
    return existing.owner_id === botId ? null : { id: existing.id, opened: false };
  }
}

/** A thread name from a file name and a person: "🎬 brand.png · Alice". */
export function threadName(filename: string, who: string | undefined): string {
  return `🎬 ${filename}${who ? ` · ${who}` : ""}`.replace(/[\r\n]+/g, " ").slice(0, 100);
}

/** Posts a plain message (no pings) in a channel, optionally as a reply. */
export async function postMessage(rest: REST, channelId: string, content: string, replyTo?: string): Promise<string> {
  const result = (await rest.post(Routes.channelMessages(channelId), {
    body: {
      content: content.slice(0, 2000),
      allowed_mentions: { parse: [], replied_user: false },
      ...(replyTo ? { message_reference: { message_id: replyTo, fail_if_not_exists: false } } : {}),
    },
  })) as { id: string };
  return result.id;
}

/** Where a new job lives, the message it hangs on, and whether its thread was opened just now. */
export interface Place {
  location: ChatLocation;
  messageId: string;
  opened: boolean;
}

export interface PlaceRequest {
  guildId: string | null;
  channelId: string;
  /** The channel is itself a thread (the command or drop happened inside one). */
  inThread: boolean;
  parentId: string | null;
  /** The message to hang the thread on. */
  messageId: string;
  name: string;
  /** This bot's user id: a thread it owns already is another delivery's. */
  botId: string;
  /** False when the bot may not create threads or talk in them here: the job posts in the channel. */
  threadsAllowed?: boolean;
}

/**
 * Where a new job lives: a new thread on the message when possible; the thread it was started in;
 * the DM channel itself (DMs have no threads); or the channel when threads are not allowed there.
 * Null when this message already has a thread (a re-delivery got there first).
 */
export async function openPlace(rest: REST, logger: Logger, request: PlaceRequest): Promise<Place | null> {
  const at = (channelId: string, threadId: string, opened = false): Place =>
    ({ location: { platform: "discord", channelId, threadId }, messageId: request.messageId, opened });
  if (!request.guildId) return at(request.channelId, "");
  if (request.inThread) return at(request.parentId ?? request.channelId, request.channelId);
  if (request.threadsAllowed === false) return at(request.channelId, "");
  try {
    const thread = await openThread(rest, request.botId, request.channelId, request.messageId, request.name);
    return thread ? at(request.channelId, thread.id, thread.opened) : null;
  } catch (err) {
    logger.warn({ ...describeError(err), channelId: request.channelId }, "discord: cannot open a thread here; the job will post in the channel");
    return at(request.channelId, "");
  }
}
