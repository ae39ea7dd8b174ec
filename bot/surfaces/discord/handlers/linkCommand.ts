import { MessageFlags, type ChatInputCommandInteraction } from "discord.js";
import type { SurfaceContext } from "../context.js";
import { acknowledge, explain } from "../respond.js";
import { issuedText, redeemedText } from "../../../links/linkTexts.js";

/**
 * `/link` makes a one-time code to type on Slack; `/link code:<code>` takes one made on Slack.
 * Private answers: a code is a credential for ten minutes (store/identityLinks.ts). The identity is
 * the one every other command here acts as (per server; a DM is its own, see identity.ts).
 */
export async function handleLinkCommand(ctx: SurfaceContext, interaction: ChatInputCommandInteraction): Promise<void> {
  if (!(await acknowledge(ctx.logger, interaction, () => interaction.deferReply({ flags: MessageFlags.Ephemeral })))) return;
  const identity = { platform: "discord" as const, teamId: interaction.guildId ?? "", userId: interaction.user.id, name: interaction.user.globalName ?? interaction.user.username };
  let content: string;
  try {
    const typed = interaction.options.getString("code")?.trim();
    if (!typed) {
      const { code, user } = await ctx.identityLinks.issue(identity);
      content = issuedText("discord", code, user.credits_remaining);
    } else {
      content = redeemedText("discord", await ctx.identityLinks.redeem(typed, identity));
    }
  } catch (err) {
    content = explain(ctx.logger, err, { interactionId: interaction.id });
  }
  await interaction.editReply({ content, allowedMentions: { parse: [] } }).catch(() => undefined);
}
