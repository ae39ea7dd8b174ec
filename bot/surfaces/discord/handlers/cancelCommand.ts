import { MessageFlags, type ChatInputCommandInteraction } from "discord.js";
import type { SurfaceContext } from "../context.js";
import { actorOf } from "../identity.js";
import { resolveJob } from "../jobs.js";
import { acknowledge, explain } from "../respond.js";

/** `/cancel <job>`: stops the job (finished clips are kept); the answer is private, the status message shows it to everyone. */
export async function handleCancelCommand(ctx: SurfaceContext, interaction: ChatInputCommandInteraction): Promise<void> {
  if (!(await acknowledge(ctx.logger, interaction, () => interaction.deferReply({ flags: MessageFlags.Ephemeral })))) return;
  const actor = actorOf(interaction.user, interaction.member, interaction.guildId);
  let content: string;
  try {
    const found = await resolveJob(ctx, actor, interaction.options.getString("job", true));
    if ("error" in found) {
      content = found.error;
    } else {
      const result = await ctx.runner.cancel({ jobId: found.view.jobId, actor });
      ctx.publisher.refresh(found.view.jobId);
      content = result.message;
    }
  } catch (err) {
    content = explain(ctx.logger, err, { interactionId: interaction.id });
  }
  await interaction.editReply({ content, allowedMentions: { parse: [] } }).catch(() => undefined);
}
