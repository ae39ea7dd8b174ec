import { MessageFlags, type ButtonInteraction, type ChatInputCommandInteraction } from "discord.js";
import type { SurfaceContext } from "../context.js";
import { actorOf } from "../identity.js";
import { resolveJob } from "../jobs.js";
import { acknowledge, explain } from "../respond.js";
import { sceneVersions } from "../../common/versions.js";
import { versionsReply } from "../history.js";
import type { JobView } from "../../../views.js";

/** The versions of one scene, as a private reply (a deferred ephemeral one, edited). */
export async function replyWithVersions(
  ctx: SurfaceContext,
  interaction: ChatInputCommandInteraction | ButtonInteraction,
  find: () => Promise<{ view: JobView; sceneIndex: number } | { error: string }>,
): Promise<void> {
  if (!(await acknowledge(ctx.logger, interaction, () => interaction.deferReply({ flags: MessageFlags.Ephemeral })))) return;
  try {
    const found = await find();
    if ("error" in found) return void (await interaction.editReply({ content: found.error, allowedMentions: { parse: [] } }));
    const { view, sceneIndex } = found;
    const unit = view.kind === "song" ? "Shot" : "Scene";
    const list = await sceneVersions(ctx.runner, view, sceneIndex);
    if (!list) return void (await interaction.editReply({ content: `This job has ${view.scenes.length} ${unit.toLowerCase()}s; ask for one of 1–${view.scenes.length}.` }));
    const reply = await versionsReply(ctx.app.tools.blobs, view.jobId, unit, list);
    await interaction.editReply({ ...reply, allowedMentions: { parse: [] } });
  } catch (err) {
    await interaction.editReply({ content: explain(ctx.logger, err, { interactionId: interaction.id }), allowedMentions: { parse: [] } }).catch(() => undefined);
  }
}

/** `/versions job:<id> scene:<n>`: a scene's versions with thumbnails and who asked; Revert buttons (owner or approver). */
export async function handleVersionsCommand(ctx: SurfaceContext, interaction: ChatInputCommandInteraction): Promise<void> {
  await replyWithVersions(ctx, interaction, async () => {
    const actor = actorOf(interaction.user, interaction.member, interaction.guildId);
    const found = await resolveJob(ctx, actor, interaction.options.getString("job", true));
    if ("error" in found) return found;
    return { view: found.view, sceneIndex: interaction.options.getInteger("scene", true) - 1 };
  });
}
