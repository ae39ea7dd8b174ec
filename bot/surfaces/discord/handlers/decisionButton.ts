import { LabelBuilder, ModalBuilder, TextInputBuilder, TextInputStyle, type ButtonInteraction } from "discord.js";
import { encodeButton, type ButtonAction } from "../../../views.js";
import type { SurfaceContext } from "../context.js";
import { actorOf } from "../identity.js";
import { NOTE_FIELD, NOTE_MAX } from "../ids.js";
import { acknowledge, explain, privately } from "../respond.js";

/** The 🟡 Edit modal; its custom id is the button's, so the submit knows job, scene and version. */
export function editModal(action: ButtonAction): ModalBuilder {
  return new ModalBuilder()
    .setCustomId(encodeButton({ ...action, decision: "YELLOW" }))
    .setTitle(`Edit scene ${action.sceneIndex + 1}`)
    .addLabelComponents(
      new LabelBuilder()
        .setLabel("What should change?")
        .setDescription("Light, colour, camera, mood… The scene is re-drawn with your note.")
        .setTextInputComponent(
          new TextInputBuilder()
            .setCustomId(NOTE_FIELD)
            .setStyle(TextInputStyle.Paragraph)
            .setRequired(true)
            .setMinLength(1)
            .setMaxLength(NOTE_MAX)
            .setPlaceholder("e.g. warmer light, slower push-in, more of the product"),
        ),
    );
}

/**
 * 🟢 / 🔴 on a scene card: acknowledge without a loading state (deferUpdate), then decide. The
 * runner checks owner/approver, the version on the card and duplicates; anything it refuses is
 * answered privately and changes nothing. 🟡 must open its modal as the very first response
 * (Discord refuses a modal after a defer), so it does nothing else.
 */
export async function handleDecisionButton(ctx: SurfaceContext, interaction: ButtonInteraction, action: ButtonAction): Promise<void> {
  if (action.decision === "YELLOW") {
    await acknowledge(ctx.logger, interaction, () => interaction.showModal(editModal(action)));
    return;
  }
  if (!(await acknowledge(ctx.logger, interaction, () => interaction.deferUpdate()))) return;
  const actor = actorOf(interaction.user, interaction.member, interaction.guildId);
  try {
    const result = await ctx.runner.decide({ ...action, actor });
    if (result.ok) ctx.publisher.refresh(action.jobId);
    else await privately(ctx.logger, interaction, result.message);
  } catch (err) {
    await privately(ctx.logger, interaction, explain(ctx.logger, err, { jobId: action.jobId, interactionId: interaction.id }));
  }
}
