import { MessageFlags, escapeMarkdown, type ChatInputCommandInteraction } from "discord.js";
import type { SurfaceContext } from "../context.js";
import { actorOf } from "../identity.js";
import { resolveProject } from "../jobs.js";
import { acknowledge, explain } from "../respond.js";
import { roleOf, type ProjectChange } from "../../common/projectService.js";

/**
 * `/project [job]`: the project's LoRA, models per role and approval policy, privately. With
 * `lora:`, `approval:` or `role:` + `model:`, approvers and admins change them (audited).
 */
export async function handleProjectCommand(ctx: SurfaceContext, interaction: ChatInputCommandInteraction): Promise<void> {
  if (!(await acknowledge(ctx.logger, interaction, () => interaction.deferReply({ flags: MessageFlags.Ephemeral })))) return;
  const actor = actorOf(interaction.user, interaction.member, interaction.guildId);
  let content: string;
  try {
    const role = interaction.options.getString("role");
    const change: ProjectChange = {
      ...(interaction.options.getString("lora") ? { lora: interaction.options.getString("lora")! } : {}),
      ...(interaction.options.getBoolean("approval") !== null ? { requireHumanApproval: interaction.options.getBoolean("approval")! } : {}),
      ...(role && roleOf(role) ? { role: roleOf(role)! } : {}),
      ...(interaction.options.getString("model") ? { model: interaction.options.getString("model")! } : {}),
    };
    const resolved = await resolveProject(ctx, actor, interaction.options.getString("job"));
    if ("error" in resolved) {
      content = resolved.error;
    } else if (Object.keys(change).length === 0) {
      const [head, ...rest] = await ctx.projects.describe(resolved.project);
      content = [`**${escapeMarkdown(head)}**`, ...rest.map((l) => `• ${escapeMarkdown(l)}`),
        resolved.mayEdit ? "Change it with `lora:`, `approval:` or `role:` and `model:`." : "Approvers can change it."].join("\n");
    } else {
      content = (await ctx.projects.change(actor, resolved, change)).message;
    }
  } catch (err) {
    content = explain(ctx.logger, err, { interactionId: interaction.id });
  }
  await interaction.editReply({ content: content.slice(0, 2000), allowedMentions: { parse: [] } }).catch(() => undefined);
}
