import { MessageFlags, type ChatInputCommandInteraction } from "discord.js";
import type { SurfaceContext } from "../context.js";
import { actorOf } from "../identity.js";
import { shortId } from "../ids.js";
import { resolveJob } from "../jobs.js";
import { UnreachableLocation } from "../publisher.js";
import { acknowledge, explain } from "../respond.js";

/**
 * `/show <job>`: posts the job's status and cards, with live buttons, in this channel, and records
 * the place so later updates reach it too (in chat_messages, like the job's own thread). Cards
 * shown earlier elsewhere keep working; their buttons carry everything a click needs.
 */
export async function handleShowCommand(ctx: SurfaceContext, interaction: ChatInputCommandInteraction): Promise<void> {
  if (!(await acknowledge(ctx.logger, interaction, () => interaction.deferReply({ flags: MessageFlags.Ephemeral })))) return;
  const actor = actorOf(interaction.user, interaction.member, interaction.guildId);
  let content: string;
  try {
    const found = await resolveJob(ctx, actor, interaction.options.getString("job", true));
    if ("error" in found) {
      content = found.error;
    } else {
      const channel = interaction.channel;
      const inThread = channel?.isThread() ?? false;
      await ctx.publisher.show(found.view.jobId, {
        platform: "discord",
        channelId: inThread && channel?.isThread() ? channel.parentId ?? interaction.channelId : interaction.channelId,
        threadId: inThread ? interaction.channelId : "",
      });
      content = `Job \`${shortId(found.view.jobId)}\` is posted below; its buttons work here and it will keep updating.`;
    }
  } catch (err) {
    content = err instanceof UnreachableLocation
      ? "I can't post in this channel. Give me View Channel and Send Messages here (and Attach Files for previews), or use `/show` somewhere else."
      : explain(ctx.logger, err, { interactionId: interaction.id });
  }
  await interaction.editReply({ content, allowedMentions: { parse: [] } }).catch(() => undefined);
}
