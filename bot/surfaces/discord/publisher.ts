/**
 * Keeps a job's Discord messages in step with its view: one status message, one card per scene
 * and one final message per place the job is shown (its thread, and wherever /show re-posted it).
 *
 * - Message ids live in chat_messages (job, channel, thread, slot), so any instance edits the
 *   same messages after a restart; the row's rendered_hash makes unchanged views cost nothing.
 * - Posts use the bot token (channel messages), never interaction webhooks, whose tokens die
 *   after 15 minutes while jobs run longer.
 * - Runner events are coalesced per job: a pass renders the latest view, and passes for a job
 *   start at least `editIntervalMs` (1.5 s) after the previous one ended, so no message is
 *   edited faster than that.
 *   That timing is the only thing kept in memory, and losing it loses nothing.
 */
import { createHash } from "node:crypto";
import { Routes, type REST, type RESTPostAPIChannelMessageResult } from "discord.js";
import type { Logger } from "pino";
import type { JobView } from "../../views.js";
import type { Blobs } from "../../../tools/ports.js";
import type { Runner } from "../../../graph/runner.js";
import type { ChatLocation, ChatMessages } from "../../../store/chatMessages.js";
import { cardBody, finalBody, isTerminal, previewFilename, statusBody, type FinalDelivery, type MessageBody } from "./render.js";
import { locationOfOrigin, postTarget, sameLocation } from "./identity.js";
import { describeError, discordCode } from "./log.js";
import type { MediaLinks } from "../../links/mediaLinks.js";

export interface PublisherOptions {
  runner: Runner;
  blobs: Blobs;
  chatMessages: ChatMessages;
  rest: REST;
  logger: Logger;
  uploadLimitBytes: number;
  /** Links for videos over the upload limit (bot/links/mediaLinks.ts). */
  links: MediaLinks;
  editIntervalMs: number;
}

interface Forced {
  location: ChatLocation;
  done: (error?: unknown) => void;
}

interface JobState {
  dirty: boolean;
  forced: Forced[];
}

/** Codes after which a stored message must be posted anew: deleted, or too old to edit again. */
const REPOST = new Set([10008, 30046]);
/** 40005: request entity too large, a file over the server's upload limit. */
const TOO_LARGE = 40005;
/** 50083: the thread is archived (https://discord.com/developers/docs/topics/opcodes-and-status-codes#json). */
const ARCHIVED = 50083;
/** Codes after which a location is unusable: channel gone, no access or permission, or a thread that stays archived (locked). */
const UNREACHABLE = new Set([10003, 50001, 50013, ARCHIVED]);

/** Thrown when a place cannot be posted to (channel gone, no access or no permission). */
export class UnreachableLocation extends Error {
  constructor(readonly channelId: string) {
    super(`cannot post in channel ${channelId}`);
  }
}

export function createPublisher(options: PublisherOptions) {
  const { runner, blobs, chatMessages, rest, logger } = options;
  const jobs = new Map<string, JobState>();
  const lastPass = new Map<string, number>();
  /** Jobs known to have no Discord location (their origin never changes). */
  const elsewhere = new Set<string>();
  const idleWaiters: Array<() => void> = [];

  function schedule(jobId: string, forced?: Forced): void {
    let state = jobs.get(jobId);
    if (!state) {
      state = { dirty: false, forced: [] };
      jobs.set(jobId, state);
      void run(jobId, state);
    }
    state.dirty = true;
    if (forced) state.forced.push(forced);
  }

  async function run(jobId: string, state: JobState): Promise<void> {
    try {
      // Let the caller's synchronous code finish scheduling before the first pass.
      await Promise.resolve();
      while (state.dirty || state.forced.length > 0) {
        const wait = (lastPass.get(jobId) ?? 0) + options.editIntervalMs - Date.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        state.dirty = false;
        const forced = state.forced.splice(0);
        try {
          await pass(jobId, forced);
          for (const f of forced) f.done();
        } catch (err) {
          logger.error({ ...describeError(err), jobId }, "discord: could not update the job's messages");
          for (const f of forced) f.done(err);
        } finally {
          // Measured from the end of a pass: its last edit is then ≥ 1.5 s before the next pass's first.
          lastPass.set(jobId, Date.now());
        }
      }
    } finally {
      jobs.delete(jobId);
      for (const [id, at] of lastPass) if (Date.now() - at > options.editIntervalMs) lastPass.delete(id);
      if (jobs.size === 0) for (const resolve of idleWaiters.splice(0)) resolve();
    }
  }

  async function pass(jobId: string, forced: Forced[]): Promise<void> {
    const view = await runner.view(jobId);
    if (!view) return;
    let locations = await chatMessages.locations(jobId, "discord");
    if (locations.length === 0 && forced.length === 0) {
      const origin = await originOf(view);
      if (!origin) return;
      locations = [origin];
    }
    for (const location of locations) {
      if (forced.some((f) => sameLocation(f.location, location))) continue;
      await syncLocation(view, location, false).catch((err) => {
        if (!(err instanceof UnreachableLocation)) throw err;
      });
    }
    for (const f of forced) await syncLocation(view, f.location, true);
  }

  /** The origin's location for a job nobody has posted yet (first pass, or posted by a crashed instance). */
  async function originOf(view: JobView): Promise<ChatLocation | null> {
    if (elsewhere.has(view.jobId)) return null;
    const job = await runner.store.jobs.get(view.jobId);
    const location = job ? locationOfOrigin(job.origin) : null;
    if (!location && job) {
      if (elsewhere.size > 10_000) elsewhere.clear();
      elsewhere.add(view.jobId);
    }
    return location;
  }

  interface Slot {
    slot: string;
    body: MessageBody;
    image?: { key: string; filename: string };
    /** Posted once and never edited (the final message). */
    once?: boolean;
    file?: { name: string; data: Uint8Array; contentType: string };
  }

  async function slotsOf(view: JobView): Promise<Slot[]> {
    const slots: Slot[] = [{ slot: "status", body: statusBody(view) }];
    for (const card of view.scenes) {
      const filename = previewFilename(card);
      slots.push({
        slot: `scene:${card.index}`,
        body: cardBody(view, card),
        ...(filename && card.previewKey ? { image: { key: card.previewKey, filename } } : {}),
      });
    }
    // One last message per outcome: a job that failed and was tried again still gets its video.
    if (isTerminal(view) && view.stage !== "cancelled") {
      slots.push({ slot: view.stage === "done" ? "final" : `stop:${view.stage}`, body: finalBody(view, null), once: true });
    }
    return slots;
  }

  /**
   * Decides how the final video travels: attached, linked, or described (logged either way).
   * `attach: false` when Discord refused the attachment (40005): the configured limit can be above
   * what this server allows (10 MiB unless boosted; the reference, §2.6).
   */
  async function finalSlot(view: JobView, slot: Slot, attach = true): Promise<Slot> {
    if (view.stage !== "done" || !view.finalVideoKey) return slot;
    const key = view.finalVideoKey;
    const media = await blobs.get(key);
    const bytes = media.data.byteLength;
    let delivery: FinalDelivery;
    if (attach && bytes <= options.uploadLimitBytes) {
      delivery = { kind: "attachment", filename: `reel-${view.jobId.slice(0, 8)}.mp4`, bytes };
    } else {
      const link = await options.links.link(key);
      delivery = link
        ? { kind: "link", url: link.url, expiresAt: link.expiresAt, bytes, limit: options.uploadLimitBytes }
        : { kind: "too_large", bytes, limit: options.uploadLimitBytes, where: key };
    }
    logger.info({ jobId: view.jobId, bytes, limit: options.uploadLimitBytes, delivery: delivery.kind }, "discord: delivering the final video");
    const body = finalBody(view, delivery);
    delete body.linkUrl;
    return {
      ...slot,
      body,
      ...(delivery.kind === "attachment" ? { file: { name: delivery.filename, data: media.data, contentType: media.contentType } } : {}),
    };
  }

  /** Brings one location's messages up to date; `force` posts everything anew (for /show). */
  async function syncLocation(view: JobView, location: ChatLocation, force: boolean): Promise<void> {
    const target = postTarget(location);
    for (let slot of await slotsOf(view)) {
      const hash = hashOf(slot);
      const row = force ? null : await chatMessages.get(view.jobId, location, slot.slot);
      if (row && (row.renderedHash === hash || slot.once)) continue;
      const final = slot;
      if (slot.once) slot = await finalSlot(view, slot);
      const shownImage = row?.renderedHash?.slice(0, 16) ?? "";
      const needsImage = !!slot.image && (!row || shownImage !== hash.slice(0, 16));
      let messageId: string;
      try {
        messageId = row
          ? await sendUnarchiving("patch", target, slot, needsImage, row.messageId)
          : await sendUnarchiving("post", target, slot, needsImage);
      } catch (err) {
        const code = discordCode(err);
        if (code === TOO_LARGE && slot.once && slot.file) {
          logger.warn({ jobId: view.jobId, bytes: slot.file.data.byteLength }, "discord: the final video is over this server's upload limit; linking it instead");
          slot = await finalSlot(view, final, false);
          messageId = await sendUnarchiving("post", target, slot, false).catch((e) => unreachable(e, view, location));
        } else if (row && code !== null && REPOST.has(code)) {
          messageId = await sendUnarchiving("post", target, slot, !!slot.image).catch((e) => unreachable(e, view, location));
        } else {
          unreachable(err, view, location);
        }
      }
      await chatMessages.put(view.jobId, location, slot.slot, messageId, hash);
    }
  }

  function unreachable(err: unknown, view: JobView, location: ChatLocation): never {
    const code = discordCode(err);
    if (code !== null && UNREACHABLE.has(code)) {
      logger.warn({ ...describeError(err), jobId: view.jobId, channelId: postTarget(location) }, "discord: cannot post where this job is shown; skipping that place");
      throw new UnreachableLocation(postTarget(location));
    }
    throw err;
  }

  /**
   * send(), and when the job's thread has auto-archived (a day without a new message; edits do
   * not count, so a job waiting for a decision goes quiet), unarchives it and tries once more.
   * The bot created the thread, so it may set `archived: false`
   * (https://discord.com/developers/docs/topics/threads#editing-deleting-threads).
   */
  async function sendUnarchiving(method: "post" | "patch", target: string, slot: Slot, withImage: boolean, messageId?: string): Promise<string> {
    try {
      return await send(method, target, slot, withImage, messageId);
    } catch (err) {
      if (discordCode(err) !== ARCHIVED) throw err;
      await rest.patch(Routes.channel(target), { body: { archived: false } });
      logger.info({ threadId: target }, "discord: the job's thread had auto-archived; unarchived it");
      return send(method, target, slot, withImage, messageId);
    }
  }

  async function send(method: "post" | "patch", target: string, slot: Slot, withImage: boolean, messageId?: string): Promise<string> {
    const files: Array<{ name: string; data: Uint8Array; contentType: string }> = [];
    if (withImage && slot.image) {
      const media = await blobs.get(slot.image.key);
      files.push({ name: slot.image.filename, data: media.data, contentType: media.contentType });
    }
    if (slot.file) files.push(slot.file);
    // `attachments` lists what the message keeps: on an edit that brings a new preview it
    // replaces the old one; an edit without files leaves the attachment alone.
    const body: Record<string, unknown> = { ...slot.body };
    if (files.length > 0) body.attachments = files.map((f, id) => ({ id, filename: f.name }));
    const route = messageId ? Routes.channelMessage(target, messageId) : Routes.channelMessages(target);
    const result = (await rest[method](route, { body, files: files.length ? files : undefined })) as RESTPostAPIChannelMessageResult;
    return result.id;
  }

  return {
    /** Re-renders a job soon (coalesced and throttled). Safe to call for any job id. */
    refresh(jobId: string): void {
      schedule(jobId);
    },
    /** Posts a job's status and cards anew in one more place and records it (/show). */
    show(jobId: string, location: ChatLocation): Promise<void> {
      return new Promise((resolve, reject) => schedule(jobId, { location, done: (err) => (err ? reject(err) : resolve()) }));
    },
    /** Resolves when no job has a pass running or waiting. */
    settled(): Promise<void> {
      return jobs.size === 0 ? Promise.resolve() : new Promise((resolve) => idleWaiters.push(resolve));
    },
    /**
     * Waits for the passes already asked for (shutdown). The throttle still applies, so this takes
     * at most one edit interval longer than the work itself.
     */
    drain(): Promise<void> {
      return this.settled();
    },
  };
}

export type Publisher = ReturnType<typeof createPublisher>;

/** `<image key prefix, 16>.<payload hash, 47>`: 64 characters, and says which preview is attached. */
function hashOf(slot: { body: MessageBody; image?: { key: string } }): string {
  const payload = createHash("sha256").update(JSON.stringify(slot.body)).digest("hex").slice(0, 47);
  return `${(slot.image?.key ?? "").slice(0, 16).padEnd(16, "-")}.${payload}`;
}
