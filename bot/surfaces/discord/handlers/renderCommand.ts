import { MessageFlags, type ChatInputCommandInteraction } from "discord.js";
import type { SurfaceContext } from "../context.js";
import { actorOf } from "../identity.js";
import { shortId } from "../ids.js";
import { openPlace, startFromAttachment, threadName } from "../intake.js";
import { describeError } from "../log.js";
import { missingForJob, missingSentence, threadsAllowed } from "../permissions.js";
import { apologize } from "../respond.js";

/**
 * `/render file:<attachment>`: first the bot's permissions here (from the interaction itself, no
 * request needed), answered privately when something is missing; then defer at once (Discord
 * allows 3 s), check, download and start. The deferred reply becomes the job's anchor: its thread
 * holds the status message and the scene cards. Works without the Message Content intent.
 */
export async function handleRenderCommand(ctx: SurfaceContext, interaction: ChatInputCommandInteraction): Promise<void> {
  const channel = interaction.channel;
  const inThread = channel?.isThread() ?? false;
  const missing = interaction.inGuild() ? missingForJob(interaction.appPermissions, inThread) : [];
  try {
    if (missing.length > 0) {
      await interaction.reply({ content: missingSentence(missing), flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
      ctx.logger.info({ missing: missing.map((m) => m.name), channelId: interaction.channelId }, "discord: /render refused for missing permissions");
      return;
    }
    await interaction.deferReply();
  } catch (err) {
    // 40060: another delivery of this interaction was acknowledged already; 10062: too late.
    ctx.logger.info({ ...describeError(err), interactionId: interaction.id }, "discord: /render not acknowledged (re-delivered or expired); ignoring");
    return;
  }
  const attachment = interaction.options.getAttachment("file", true);
  const actor = actorOf(interaction.user, interaction.member, interaction.guildId);
  const edit = (content: string) => interaction.editReply({ content, allowedMentions: { parse: [] } });
  await startFromAttachment(ctx, {
    actor,
    attachment: { name: attachment.name, size: attachment.size, contentType: attachment.contentType, url: attachment.url },
    dedupe: { field: "interactionId", value: interaction.id },
    guildId: interaction.guildId,
    reply: edit,
    // The deferred reply is public; an apology for our own failure goes to the user alone.
    apologize: (text) => apologize(ctx.logger, interaction, text),
    async place() {
      const anchor = await edit(`🎬 Starting a video from **${attachment.name}**…`);
      return openPlace(ctx.rest, ctx.logger, {
        guildId: interaction.guildId,
        channelId: interaction.channelId,
        inThread,
        parentId: channel?.isThread() ? channel.parentId : null,
        messageId: anchor.id,
        name: threadName(attachment.name, actor.name),
        botId: ctx.client.user?.id ?? "",
        threadsAllowed: interaction.inGuild() ? threadsAllowed(interaction.appPermissions) : false,
      });
    },
    started: (jobId, location) =>
      edit(`🎬 Job \`${shortId(jobId)}\` started from **${attachment.name}**. ${location.threadId && location.threadId !== interaction.channelId ? `Follow it in <#${location.threadId}>.` : "Follow it below."}`),
    async duplicate(jobId) {
      ctx.publisher.refresh(jobId);
      await edit(`This upload already started job \`${shortId(jobId)}\`.`);
    },
  });
}
