import type { ChatInputCommandInteraction } from "discord.js";
import type { SurfaceContext } from "../context.js";
import { shortId } from "../ids.js";
import { replyAboutJob } from "../jobs.js";
import { UnreachableLocation } from "../publisher.js";

/**
 * `/show <job>`: posts the job's status and cards, with live buttons, in this channel, and records
 * the place so later updates reach it too (in chat_messages, like the job's own thread). Cards
 * shown earlier elsewhere keep working; their buttons carry everything a click needs.
 */
export async function handleShowCommand(ctx: SurfaceContext, interaction: ChatInputCommandInteraction): Promise<void> {
  await replyAboutJob(
    ctx,
    interaction,
    async (view) => {
      const channel = interaction.channel;
      const inThread = channel?.isThread() ?? false;
      await ctx.publisher.show(view.jobId, {
        platform: "discord",
        channelId: inThread && channel?.isThread() ? channel.parentId ?? interaction.channelId : interaction.channelId,
        threadId: inThread ? interaction.channelId : "",
      });
      return `Job \`${shortId(view.jobId)}\` is posted below; its buttons work here and it will keep updating.`;
    },
    (err) =>
      err instanceof UnreachableLocation
        ? "I can't post in this channel. Give me View Channel and Send Messages here (and Attach Files for previews), or use `/show` somewhere else."
        : undefined,
  );
}
