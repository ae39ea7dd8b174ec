import { MessageFlags, type ButtonInteraction } from "discord.js";
import type { SurfaceContext } from "../context.js";
import { actorOf } from "../identity.js";
import type { HistoryButton } from "../ids.js";
import { acknowledge, explain } from "../respond.js";
import { replyWithVersions } from "./versionsCommand.js";

/**
 * 🕘 Versions on a card (anyone who sees the card may look), Revert in a versions list and 🔁 Redo
 * on a shot's impact note (the runner lets the owner or an approver), Remove in a rules list (the project's owner or an admin).
 * Every answer is private.
 */
export async function handleHistoryButton(ctx: SurfaceContext, interaction: ButtonInteraction, button: HistoryButton): Promise<void> {
  if (button.kind === "versions") {
    await replyWithVersions(ctx, interaction, async () => {
      const view = await ctx.runner.view(button.jobId);
      return view ? { view, sceneIndex: button.sceneIndex } : { error: "I can't find that job any more." };
    });
    return;
  }
  if (!(await acknowledge(ctx.logger, interaction, () => interaction.deferReply({ flags: MessageFlags.Ephemeral })))) return;
  const actor = actorOf(interaction.user, interaction.member, interaction.guildId);
  let content: string;
  try {
    if (button.kind === "revert") {
      const result = await ctx.runner.revert({ jobId: button.jobId, sceneIndex: button.sceneIndex, toVersion: button.versionNo, actor });
      if (result.ok) ctx.publisher.refresh(button.jobId);
      content = result.message;
    } else if (button.kind === "redo") {
      const result = await ctx.runner.redo({ jobId: button.jobId, sceneIndex: button.sceneIndex, actor });
      if (result.ok) ctx.publisher.refresh(button.jobId);
      content = result.message;
    } else {
      content = (await ctx.projects.removeRule(actor, button.projectId, button.ruleId)).message;
    }
  } catch (err) {
    content = explain(ctx.logger, err, { interactionId: interaction.id });
  }
  await interaction.editReply({ content, allowedMentions: { parse: [] } }).catch(() => undefined);
}
