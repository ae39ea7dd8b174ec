import type { Message } from "discord.js";
import type { SurfaceContext } from "../context.js";
import { actorOf } from "../identity.js";
import { attachmentProblem, looksLikeMedia, openPlace, postMessage, startFromAttachment, threadName, type AttachmentMeta } from "../intake.js";

/**
 * A file dropped in a channel the bot can read, or in a DM. In servers this needs the privileged
 * Message Content intent (without it attachments arrive empty, except when the bot is mentioned).
 * In a server channel only images and MP3s count unless the bot is mentioned, so a PDF shared
 * among colleagues gets no answer; in a DM every file gets one.
 */
export async function handleMessageDrop(ctx: SurfaceContext, message: Message): Promise<void> {
  const all: AttachmentMeta[] = [...message.attachments.values()].map((a) => ({ name: a.name, size: a.size, contentType: a.contentType, url: a.url }));
  const inDm = !message.guildId;
  const mentioned = !!ctx.client.user && message.mentions.users.has(ctx.client.user.id);
  const media = all.filter(looksLikeMedia);
  const chosen = media[0] ?? (inDm || mentioned ? all[0] : undefined);
  if (!chosen) return;

  const reply = (content: string) => postMessage(ctx.rest, message.channelId, content, message.id);
  const actor = actorOf(message.author, message.member, message.guildId);
  const extra = media.length > 1 && !attachmentProblem(chosen, ctx.files)
    ? `I'm using **${chosen.name}**; drop the other files one at a time for more videos.`
    : null;
  const outcome = await startFromAttachment(ctx, {
    actor,
    attachment: chosen,
    dedupe: { field: "messageId", value: message.id },
    guildId: message.guildId,
    reply,
    place: () =>
      openPlace(ctx.rest, ctx.logger, {
        guildId: message.guildId,
        channelId: message.channelId,
        inThread: message.channel.isThread(),
        parentId: message.channel.isThread() ? message.channel.parentId : null,
        messageId: message.id,
        name: threadName(chosen.name, actor.name),
        botId: ctx.client.user?.id ?? "",
      }),
    // The thread on the user's message (or the DM) shows the job; nothing more to say here.
    started: async () => undefined,
    duplicate: async () => undefined,
  });
  if (outcome === "started" && extra) await reply(extra).catch(() => undefined);
}
