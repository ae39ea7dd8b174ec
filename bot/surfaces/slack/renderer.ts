import { createHash } from "node:crypto";
import type { webApi } from "@slack/bolt";
import type { Logger } from "pino";
import type { App } from "../../app.js";
import type { JobEvent, JobView, SceneCard } from "../../views.js";
import type { ChatLocation, ChatMessages } from "../../../store/chatMessages.js";
import type { MediaLinks } from "../../links/mediaLinks.js";
import { cardMessage, esc, finalLinkText, isTerminal, shortId, statusMessage, withoutImage, type SlackMessage } from "./blocks.js";
import { errorFields } from "./logger.js";
import { spentText } from "../common/money.js";
import { createSerialQueues, createThrottle, type WorkTracker } from "./work.js";
import { createImageRetry } from "./imageRetry.js";

/** A place a job is shown; `statusTs` is the acknowledgement to adopt when no status row exists yet. */
type Target = ChatLocation & { statusTs?: string };

export interface RendererOptions {
  client: webApi.WebClient;
  app: App;
  chat: ChatMessages;
  logger: Logger;
  tracker: WorkTracker;
  /** The final MP4 is uploaded up to this size, linked above it. */
  uploadLimitBytes: number;
  /** Links for videos over the upload limit (bot/links/mediaLinks.ts). */
  links: MediaLinks;
  /** Least time between two edits of one message (Slack allows about one write per second per channel). */
  editIntervalMs?: number;
  /** Waits before redrawing a card whose image Slack was not ready to show (imageRetry.ts). */
  imageRetryDelaysMs?: number[];
}

const hashOf = (message: SlackMessage) => createHash("sha256").update(JSON.stringify(message)).digest("hex");
const slackError = (err: unknown) => (err as { data?: { error?: string } })?.data?.error;

/**
 * Turns the runner's job events into Slack messages: one status message per thread edited in place
 * (throttled and coalesced), one card per scene, the final video. Where each message is lives in
 * chat_messages, with a hash of what it shows, so any instance edits the same messages after a
 * restart and an unchanged view costs no API call.
 */
export function createRenderer(options: RendererOptions) {
  const { client, app, chat, logger, tracker } = options;
  const run = createSerialQueues();
  const throttle = createThrottle({
    intervalMs: options.editIntervalMs ?? 1500,
    tracker,
    onError: (err, key) => logger.warn({ ...errorFields(err), key }, "slack render failed"),
  });
  const queueKey = (jobId: string, t: ChatLocation) => `${jobId}|${t.channelId}|${t.threadId}`;
  const imageRetry = createImageRetry({ tracker, delaysMs: options.imageRetryDelaysMs });

  /** Where the job is shown on Slack; before its status row exists, its Slack origin. */
  async function targetsOf(jobId: string): Promise<Target[]> {
    const shown = await chat.locations(jobId, "slack");
    if (shown.length > 0) return shown;
    const origin = (await app.runner.store.jobs.get(jobId))?.origin;
    if (origin?.platform !== "slack" || typeof origin.channelId !== "string" || typeof origin.threadTs !== "string") return [];
    return [{
      platform: "slack", channelId: origin.channelId, threadId: origin.threadTs,
      ...(typeof origin.statusTs === "string" ? { statusTs: origin.statusTs } : {}),
    }];
  }

  async function post(t: ChatLocation, message: SlackMessage): Promise<string> {
    const result = await client.chat.postMessage({
      channel: t.channelId, text: message.text, blocks: message.blocks, unfurl_links: false, unfurl_media: false,
      ...(t.threadId ? { thread_ts: t.threadId } : {}),
    });
    return result.ts as string;
  }

  /** filesUploadV2 into the thread: Slack can show a shared file in blocks, a private one it refuses. */
  function upload(t: ChatLocation, file: { file: Buffer; filename: string; title: string; initial_comment?: string }) {
    return t.threadId
      ? client.filesUploadV2({ ...file, channel_id: t.channelId, thread_ts: t.threadId })
      : client.filesUploadV2({ ...file, channel_id: t.channelId });
  }

  /** Edits a message; false when it is gone (deleted by a user), so the caller posts a new one. */
  async function edit(channel: string, ts: string, message: SlackMessage): Promise<boolean> {
    try {
      await client.chat.update({ channel, ts, text: message.text, blocks: message.blocks });
      return true;
    } catch (err) {
      if (["message_not_found", "cant_update_message", "edit_window_closed"].includes(slackError(err) ?? "")) return false;
      throw err;
    }
  }

  async function renderStatus(jobId: string, t: Target, view: JobView): Promise<boolean> {
    const message = statusMessage(view);
    const hash = hashOf(message);
    const row = await chat.get(jobId, t, "status");
    if (row?.renderedHash === hash) return false;
    const existing = row?.messageId ?? t.statusTs;
    if (existing && (await edit(t.channelId, existing, message))) {
      await chat.put(jobId, t, "status", existing, hash);
      return true;
    }
    await chat.put(jobId, t, "status", await post(t, message), hash);
    return true;
  }

  /** The preview shared into this thread (once per preview), so the card can show it via slack_file. */
  async function previewFile(jobId: string, t: ChatLocation, card: Pick<SceneCard, "index" | "count" | "versionNo" | "previewKey">): Promise<string | null> {
    if (!card.previewKey) return null;
    const slot = `pv:${card.index}:${card.previewKey.slice(0, 12)}`;
    const row = await chat.get(jobId, t, slot);
    if (row) return row.messageId;
    try {
      const media = await app.tools.blobs.get(card.previewKey);
      const ext = media.contentType.split("/")[1]?.replace("jpeg", "jpg") ?? "png";
      const uploaded = await upload(t, {
        file: Buffer.from(media.data),
        filename: `scene-${card.index + 1}-v${card.versionNo}.${ext}`,
        title: `Scene ${card.index + 1}/${card.count} · preview v${card.versionNo}`,
      });
      const fileId = uploadedFileId(uploaded);
      if (!fileId) return null;
      await chat.put(jobId, t, slot, fileId, null);
      return fileId;
    } catch (err) {
      logger.warn({ ...errorFields(err), jobId, scene: card.index }, "preview upload failed; the card goes without its image");
      return null;
    }
  }

  async function renderCard(jobId: string, t: ChatLocation, view: JobView, card: SceneCard): Promise<boolean> {
    const slot = `scene:${card.index}`;
    const row = await chat.get(jobId, t, slot);
    // A card is first posted with its preview (or its failure), so a thread reads preview, card, preview, card…
    if (!row && !card.previewKey && card.status !== "failed") return false;
    const message = cardMessage(view, card, { previewFileId: await previewFile(jobId, t, card) });
    const hash = hashOf(message);
    if (row?.renderedHash === hash) return false;
    // Slack refuses a slack_file it is still processing (invalid_blocks): the card goes out without
    // the image now, and imageRetry redraws it with the image shortly (see imageRetry.ts).
    const attempt = async (m: SlackMessage) => (row && (await edit(t.channelId, row.messageId, m)) ? row.messageId : post(t, m));
    const retryKey = `${queueKey(jobId, t)}|${slot}`;
    let ts: string;
    try {
      ts = await attempt(message);
    } catch (err) {
      if (slackError(err) !== "invalid_blocks" || !message.blocks.some((b) => b.type === "image")) throw err;
      ts = await attempt(withoutImage(message));
      await chat.put(jobId, t, slot, ts, null);
      const retrying = imageRetry.later(retryKey, async () => {
        const latest = await app.runner.view(jobId);
        const now = latest?.scenes.find((s) => s.index === card.index);
        if (latest && now) scheduleCard(t, latest, now);
      });
      if (!retrying) logger.warn({ jobId, scene: card.index }, "slack kept refusing the preview image; the card stays without it");
      return true;
    }
    imageRetry.done(retryKey);
    await chat.put(jobId, t, slot, ts, hash);
    return true;
  }

  async function deliverFinal(jobId: string, t: ChatLocation, view: JobView): Promise<void> {
    if (!view.finalVideoKey || (await chat.get(jobId, t, "final"))) return;
    const media = await app.tools.blobs.get(view.finalVideoKey);
    const summary = `${view.scenes.length} ${view.kind === "song" ? "shots" : "scenes"} · ${spentText(view).replace(/^Spent/, "spent")}`;
    if (media.data.byteLength > options.uploadLimitBytes) {
      const link = await options.links.link(view.finalVideoKey);
      const text = finalLinkText({ jobId, summary, bytes: media.data.byteLength, limit: options.uploadLimitBytes, link, key: view.finalVideoKey });
      await chat.put(jobId, t, "final", await post(t, { text, blocks: [{ type: "section", text: { type: "mrkdwn", text } }] }), null);
      return;
    }
    const uploaded = await upload(t, {
      file: Buffer.from(media.data),
      filename: `video-${shortId(jobId)}.mp4`,
      title: "Final video",
      initial_comment: `🎉 Your video is ready (${summary}).`,
    });
    await chat.put(jobId, t, "final", uploadedFileId(uploaded) ?? "uploaded", null);
  }

  async function postErrorOnce(jobId: string, t: ChatLocation, message: string): Promise<void> {
    if (await chat.get(jobId, t, "error")) return;
    await chat.put(jobId, t, "error", await post(t, { text: `❌ ${esc(message)}`, blocks: [{ type: "section", text: { type: "mrkdwn", text: `❌ ${esc(message)}` } }] }), null);
  }

  function scheduleStatus(t: Target, view: JobView) {
    const key = queueKey(view.jobId, t);
    throttle.schedule(`${key}|status`, () => run(key, () => renderStatus(view.jobId, t, view)));
  }

  function scheduleCard(t: ChatLocation, view: JobView, card: SceneCard) {
    const key = queueKey(view.jobId, t);
    throttle.schedule(`${key}|scene:${card.index}`, () => run(key, () => renderCard(view.jobId, t, view, card)));
  }

  async function onEvent(event: JobEvent): Promise<void> {
    const jobId = event.type === "error" ? event.jobId : event.view.jobId;
    for (const t of await targetsOf(jobId)) {
      const key = queueKey(jobId, t);
      switch (event.type) {
        case "status":
          scheduleStatus(t, event.view);
          // A finished job's cards lose their buttons (no scene event says so when only the job ended).
          if (isTerminal(event.view)) for (const card of event.view.scenes) scheduleCard(t, event.view, card);
          break;
        case "scene":
          scheduleCard(t, event.view, event.card);
          break;
        case "final":
          scheduleStatus(t, event.view);
          void tracker.track(run(key, () => deliverFinal(jobId, t, event.view))).catch((err) =>
            logger.error({ ...errorFields(err), jobId }, "could not deliver the final video to slack"));
          break;
        case "error":
          if (event.view) scheduleStatus(t, event.view);
          void tracker.track(run(key, () => postErrorOnce(jobId, t, event.message))).catch((err) =>
            logger.error({ ...errorFields(err), jobId }, "could not post a job error to slack"));
          break;
      }
    }
  }

  return {
    /** The runner listener (runner.on): every job of the process; only Slack-shown jobs are rendered. */
    handle(event: JobEvent): void {
      void tracker.track(onEvent(event)).catch((err) => logger.error({ ...errorFields(err) }, "slack event rendering failed"));
    },
    /** Renders a job into a new place (/show): the status row is already there; cards and the video follow. */
    async show(t: ChatLocation, view: JobView): Promise<void> {
      await tracker.track(run(queueKey(view.jobId, t), async () => {
        await renderStatus(view.jobId, t, view);
        for (const card of view.scenes) await renderCard(view.jobId, t, view, card);
        if (view.stage === "done") await deliverFinal(view.jobId, t, view);
      }));
    },
    /** Shows the latest state of a job everywhere it is shown (after a decision in this process). */
    async refresh(jobId: string): Promise<void> {
      const view = await app.runner.view(jobId);
      if (!view) return;
      for (const t of await targetsOf(jobId)) {
        scheduleStatus(t, view);
        for (const card of view.scenes) scheduleCard(t, view, card);
      }
    },
    /** Shutdown: pending edits run now instead of being dropped. */
    flush: () => throttle.flush(),
    /**
     * A preview as a file shared into this thread (uploaded once, then reused), so a message there
     * can show it with slack_file: the versions list's thumbnails.
     */
    previewFileIn: (jobId: string, t: ChatLocation, version: Pick<SceneCard, "index" | "count" | "versionNo" | "previewKey">) =>
      tracker.track(run(queueKey(jobId, t), () => previewFile(jobId, t, version))),
  };
}

export type Renderer = ReturnType<typeof createRenderer>;

function uploadedFileId(result: unknown): string | undefined {
  const completions = (result as { files?: Array<{ files?: Array<{ id?: string }> }> }).files ?? [];
  return completions[0]?.files?.[0]?.id;
}
