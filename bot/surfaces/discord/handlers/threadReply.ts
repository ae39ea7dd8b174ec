import type { Message } from "discord.js";
import type { SurfaceContext } from "../context.js";
import { actorOf, originIsChannel, postTarget } from "../identity.js";
import { postMessage } from "../intake.js";
import { describeError } from "../log.js";
import { isUserFacing } from "../../../../core/errors.js";

/** "scene 2: warmer light", "Scene #3 - slower camera", "scene 1, more blue". */
const SCENE_NOTE = /^\s*scene\s*#?\s*(\d{1,2})\s*[:.,\-–—]\s*(\S[\s\S]*)$/i;

const HELP =
  "Drop a JPEG, PNG or WebP brand image or an MP3 song here (or use `/render`) and I'll storyboard a short video. " +
  "In a job's thread, write “scene 2: warmer light” to ask for an edit of that scene.";

/**
 * A text reply in a job's thread (or DM) from the job's owner that names a scene, or that replies
 * to a scene card, counts as 🟡 Edit with the text as the note. Anything else is chat and is left
 * alone; in a DM, where the bot is the only listener, it gets a short help text.
 */
export async function handleThreadReply(ctx: SurfaceContext, message: Message): Promise<void> {
  const inDm = !message.guildId;
  // Cheap filters first, so ordinary chat costs no query (and creates no user row): a scene note
  // counts in a thread or DM, a reply only when it answers one of this bot's messages.
  const named = inDm || message.channel.isThread() ? SCENE_NOTE.exec(message.content) : null;
  const botId = ctx.client.user?.id;
  const repliedTo = message.reference?.messageId && botId && message.mentions.repliedUser?.id === botId ? message.reference.messageId : null;
  if (!named && !repliedTo) {
    if (inDm && message.content.trim()) await postMessage(ctx.rest, message.channelId, HELP, message.id).catch(() => undefined);
    return;
  }
  const actor = actorOf(message.author, message.member, message.guildId);
  const user = await ctx.runner.users.ensure(actor);
  // Only the owner's replies count, so the owner's recent jobs are where to look.
  const job = (await ctx.runner.jobsOf(user.id)).find((j) => originIsChannel(j.origin, message.channelId));
  if (!job) {
    if (inDm && named) await postMessage(ctx.rest, message.channelId, "I can't find a job of yours here to edit. " + HELP, message.id).catch(() => undefined);
    return;
  }
  const view = await ctx.runner.view(job.id);
  if (!view) return;

  let sceneIndex: number | null = null;
  let note: string;
  if (named) {
    sceneIndex = Number(named[1]) - 1;
    note = named[2].trim();
  } else {
    const locations = await ctx.chatMessages.locations(job.id, "discord");
    const here = locations.find((l) => postTarget(l) === message.channelId);
    for (const card of here ? view.scenes : []) {
      const row = await ctx.chatMessages.get(job.id, here!, `scene:${card.index}`);
      if (row?.messageId === repliedTo) sceneIndex = card.index;
    }
    if (sceneIndex === null) return; // a reply to something else: ordinary chat
    note = message.content.trim();
  }
  const answer = (content: string) => postMessage(ctx.rest, message.channelId, content, message.id);
  if (sceneIndex < 0 || sceneIndex >= view.scenes.length) {
    await answer(`This job has ${view.scenes.length || "no"} scene${view.scenes.length === 1 ? "" : "s"} yet. Write e.g. “scene 1: warmer light”.`);
    return;
  }
  if (!note) {
    await answer(`What should change in scene ${sceneIndex + 1}? Write e.g. “scene ${sceneIndex + 1}: warmer light”.`);
    return;
  }
  try {
    const result = await ctx.runner.decide({ jobId: job.id, sceneIndex, decision: "YELLOW", note, actor });
    if (result.ok) ctx.publisher.refresh(job.id);
    await answer(result.ok ? `${result.message} I'll post a new preview on the card.` : `⚠️ ${result.message}`);
  } catch (err) {
    if (isUserFacing(err)) {
      await answer(`⚠️ ${err.userMessage}`);
      return;
    }
    ctx.logger.error({ ...describeError(err), jobId: job.id }, "discord: thread edit failed");
    await answer("⚠️ Something went wrong on my side; nothing was changed. Try again in a minute.").catch(() => undefined);
  }
}
