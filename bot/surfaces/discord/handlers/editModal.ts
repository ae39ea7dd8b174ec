import type { ModalSubmitInteraction } from "discord.js";
import { MessageFlags } from "discord.js";
import type { ButtonAction } from "../../../views.js";
import type { SurfaceContext } from "../context.js";
import { actorOf } from "../identity.js";
import { NOTE_FIELD } from "../ids.js";
import { acknowledge, explain, privately } from "../respond.js";

/** The 🟡 Edit modal's submit: the note becomes a YELLOW decision on the scene and version it was opened for. */
export async function handleEditModal(ctx: SurfaceContext, interaction: ModalSubmitInteraction, action: ButtonAction): Promise<void> {
  const fromCard = interaction.isFromMessage();
  const acked = await acknowledge(ctx.logger, interaction, () =>
    fromCard ? interaction.deferUpdate() : interaction.deferReply({ flags: MessageFlags.Ephemeral }),
  );
  if (!acked) return;
  const actor = actorOf(interaction.user, interaction.member, interaction.guildId);
  let text: string;
  try {
    const note = interaction.fields.getTextInputValue(NOTE_FIELD);
    const result = await ctx.runner.decide({ ...action, decision: "YELLOW", note, actor });
    if (result.ok) ctx.publisher.refresh(action.jobId);
    if (result.ok && fromCard) return;
    text = result.message;
  } catch (err) {
    text = explain(ctx.logger, err, { jobId: action.jobId, interactionId: interaction.id });
  }
  if (fromCard) await privately(ctx.logger, interaction, text);
  else await interaction.editReply({ content: text, allowedMentions: { parse: [] } }).catch(() => undefined);
}
