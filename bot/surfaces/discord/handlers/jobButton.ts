import type { ButtonInteraction } from "discord.js";
import type { SurfaceContext } from "../context.js";
import { actorOf } from "../identity.js";
import type { JobAction } from "../ids.js";
import { acknowledge, explain, privately } from "../respond.js";

/** "Approve all" and "Cancel" on the status message. */
export async function handleJobButton(ctx: SurfaceContext, interaction: ButtonInteraction, action: JobAction, jobId: string): Promise<void> {
  if (!(await acknowledge(ctx.logger, interaction, () => interaction.deferUpdate()))) return;
  const actor = actorOf(interaction.user, interaction.member, interaction.guildId);
  try {
    if (action === "all") {
      const results = await ctx.runner.approveAll(jobId, actor);
      const ok = results.filter((r) => r.ok);
      if (ok.length > 0) ctx.publisher.refresh(jobId);
      // Partial success is visible on the cards; say something only when nothing happened.
      if (ok.length === 0) await privately(ctx.logger, interaction, results[0]?.message ?? "Nothing was changed.");
      return;
    }
    const result = await ctx.runner.cancel({ jobId, actor });
    ctx.publisher.refresh(jobId);
    if (!result.ok) await privately(ctx.logger, interaction, result.message);
  } catch (err) {
    await privately(ctx.logger, interaction, explain(ctx.logger, err, { jobId, interactionId: interaction.id }));
  }
}
