import type { ButtonInteraction } from "discord.js";
import type { SurfaceContext } from "../context.js";
import { actorOf } from "../identity.js";
import type { JobAction } from "../ids.js";
import { acknowledge, explain, privately } from "../respond.js";

/** "Approve all" and "Cancel" on the status message, and "Try again" on a failed job's. */
export async function handleJobButton(ctx: SurfaceContext, interaction: ButtonInteraction, action: JobAction, jobId: string): Promise<void> {
  if (!(await acknowledge(ctx.logger, interaction, () => interaction.deferUpdate()))) return;
  const actor = actorOf(interaction.user, interaction.member, interaction.guildId);
  try {
    if (action === "all") {
      const result = await ctx.runner.approveAll(jobId, actor);
      if (result.approved > 0) ctx.publisher.refresh(jobId);
      // Success is visible on the cards; say something when a scene was refused or nothing happened.
      if (!result.ok || result.refused > 0) {
        await privately(ctx.logger, interaction, result.message);
      }
      return;
    }
    if (action === "retry") {
      const result = await ctx.runner.retry({ jobId, actor });
      if (result.ok) ctx.publisher.refresh(jobId);
      await privately(ctx.logger, interaction, result.message);
      return;
    }
    const result = await ctx.runner.cancel({ jobId, actor });
    ctx.publisher.refresh(jobId);
    if (!result.ok) await privately(ctx.logger, interaction, result.message);
  } catch (err) {
    await privately(ctx.logger, interaction, explain(ctx.logger, err, { jobId, interactionId: interaction.id }));
  }
}
