import { MessageFlags, type ChatInputCommandInteraction } from "discord.js";
import type { SurfaceContext } from "../context.js";
import { actorOf } from "../identity.js";
import { jobLine, resolveJob } from "../jobs.js";
import { cardBody, statusBody } from "../render.js";
import { acknowledge, explain } from "../respond.js";

/** `/status [job]`: privately, the user's recent jobs, or one job's status and scenes. */
export async function handleStatusCommand(ctx: SurfaceContext, interaction: ChatInputCommandInteraction): Promise<void> {
  if (!(await acknowledge(ctx.logger, interaction, () => interaction.deferReply({ flags: MessageFlags.Ephemeral })))) return;
  const actor = actorOf(interaction.user, interaction.member, interaction.guildId);
  let content: string;
  try {
    const job = interaction.options.getString("job");
    if (job) {
      const found = await resolveJob(ctx, actor, job);
      content = "error" in found
        ? found.error
        : [statusBody(found.view).content, ...found.view.scenes.map((c) => cardBody(found.view, c).content.split("\n")[0])].join("\n");
    } else {
      const user = await ctx.runner.users.ensure(actor);
      const jobs = (await ctx.runner.jobsOf(user.id)).slice(0, 5);
      const views = (await Promise.all(jobs.map((j) => ctx.runner.view(j.id)))).filter((v) => v !== null);
      content = views.length
        ? ["Your recent jobs (newest first):", ...views.map(jobLine), "`/status job:<id>` for one job, `/show job:<id>` to post it here."].join("\n")
        : "You have no jobs yet. Use `/render` with a brand image, or drop one in a channel I can read.";
    }
  } catch (err) {
    content = explain(ctx.logger, err, { interactionId: interaction.id });
  }
  await interaction.editReply({ content: content.slice(0, 2000), allowedMentions: { parse: [] } }).catch(() => undefined);
}
