import { MessageFlags, type ChatInputCommandInteraction } from "discord.js";
import type { SurfaceContext } from "../context.js";
import { actorOf } from "../identity.js";
import { resolveProject } from "../jobs.js";
import { acknowledge, explain } from "../respond.js";
import { rulesReply } from "../history.js";

/** `/rules [job]`: the project's learnt rules, privately, with Remove for the project's owner or an admin. */
export async function handleRulesCommand(ctx: SurfaceContext, interaction: ChatInputCommandInteraction): Promise<void> {
  if (!(await acknowledge(ctx.logger, interaction, () => interaction.deferReply({ flags: MessageFlags.Ephemeral })))) return;
  const actor = actorOf(interaction.user, interaction.member, interaction.guildId);
  try {
    const resolved = await resolveProject(ctx, actor, interaction.options.getString("job"));
    if ("error" in resolved) return void (await interaction.editReply({ content: resolved.error }));
    const me = await ctx.runner.users.ensure(actor);
    const mayRemove = resolved.project.ownerUserId === me.id || ctx.isAdmin(actor);
    await interaction.editReply({ ...rulesReply(resolved.project, await ctx.projects.listRules(resolved.project), mayRemove), allowedMentions: { parse: [] } });
  } catch (err) {
    await interaction.editReply({ content: explain(ctx.logger, err, { interactionId: interaction.id }) }).catch(() => undefined);
  }
}
