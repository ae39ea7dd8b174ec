import type { RespondFn, webApi } from "@slack/bolt";
import type { Actor } from "../../../graph/actor.js";
import { sceneVersions } from "../common/versions.js";
import type { SlackDeps } from "./deps.js";
import { versionsMessage } from "./historyBlocks.js";
import { postPrivately } from "./ephemeral.js";

/**
 * A scene's versions, privately, where they were asked for: the 🕘 Versions button on a card, or
 * /versions. Thumbnails are previews shared into a thread of this channel where the job is shown
 * (slack_file only shows files shared where the message is); a preview not shared there yet is
 * uploaded once into that thread. In a channel where the job is not shown the list goes without
 * thumbnails, and says how to get them.
 */
export async function showVersions(
  deps: SlackDeps,
  client: webApi.WebClient,
  ask: { actor: Actor; jobId: string; sceneIndex: number; channel: string; threadTs?: string; respond?: RespondFn },
): Promise<void> {
  const place = { channel: ask.channel, user: ask.actor.userId, ...(ask.threadTs ? { threadTs: ask.threadTs } : {}) };
  const say = (text: string) => postPrivately(client, place, { text, blocks: [{ type: "section", text: { type: "mrkdwn", text } }] }, { respond: ask.respond });
  const view = await deps.app.runner.view(ask.jobId);
  if (!view) return say("I can't find that job any more.");
  const list = await sceneVersions(deps.app.runner, view, ask.sceneIndex);
  const unit = view.kind === "song" ? "Shot" : "Scene";
  if (!list) return say(`This job has ${view.scenes.length} ${unit.toLowerCase()}s; ask for one of 1–${view.scenes.length}.`);
  const shown = (await deps.chat.locations(ask.jobId, "slack")).filter((l) => l.channelId === ask.channel);
  const here = shown.find((l) => l.threadId === ask.threadTs) ?? shown[0];
  const files = new Map<number, string>();
  if (here) {
    for (const e of list.entries) {
      if (!e.previewKey) continue;
      const id = await deps.renderer.previewFileIn(ask.jobId, here, { index: list.card.index, count: list.card.count, versionNo: e.versionNo, previewKey: e.previewKey });
      if (id) files.set(e.versionNo, id);
    }
  }
  const message = versionsMessage(ask.jobId, unit, list, files);
  if (!here) {
    message.blocks.push({ type: "context", block_id: "where", elements: [{ type: "mrkdwn", text: `Thumbnails show where the job is posted: use 🕘 Versions on its card, or \`/show ${ask.jobId.slice(0, 8)}\` here first.` }] });
  }
  await postPrivately(client, place, message, { respond: ask.respond });
}
