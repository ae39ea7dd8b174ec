import { MessageFlags, type RepliableInteraction } from "discord.js";
import type { Logger } from "pino";
import { isUserFacing } from "../../../core/errors.js";
import { ALREADY_ANSWERED, describeError, discordCode } from "./log.js";

type Acked = RepliableInteraction;

export const SORRY = "Something went wrong on my side; nothing was changed. Try again in a minute.";

/**
 * Acknowledges an interaction and says whether this delivery may go on. A refused
 * acknowledgement means another delivery of the same interaction was answered (40060) or the
 * 3 s window passed (10062): the work is someone else's, so nothing happens twice.
 */
export async function acknowledge(logger: Logger, interaction: Acked, ack: () => Promise<unknown>): Promise<boolean> {
  try {
    await ack();
    return true;
  } catch (err) {
    const code = discordCode(err);
    const level = code !== null && ALREADY_ANSWERED.has(code) ? "info" : "warn";
    logger[level]({ ...describeError(err), interactionId: interaction.id }, "discord: interaction not acknowledged; ignoring this delivery");
    return false;
  }
}

/** An ephemeral follow-up (flags 64): refusals and stale clicks are nobody else's business. */
export async function privately(logger: Logger, interaction: Acked, content: string): Promise<void> {
  try {
    await interaction.followUp({ content, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
  } catch (err) {
    logger.warn({ ...describeError(err), interactionId: interaction.id }, "discord: could not send an ephemeral follow-up");
  }
}

/**
 * An apology (or any private answer) after a deferred reply. While a deferred reply still shows
 * "thinking", Discord turns the next follow-up into that reply and ignores its ephemeral flag
 * (the reference, ../shared/reference/chat-surfaces.md, "interactions"), so after a public defer a
 * private follow-up would be posted publicly. The public reply is first given a neutral line
 * (which also replaces a "Starting a video…" that would otherwise stay up).
 */
export async function apologize(logger: Logger, interaction: Acked, content: string): Promise<void> {
  // Only a command's own reply: after deferUpdate (buttons, modals on a card) editReply would overwrite the card.
  if (interaction.isChatInputCommand() && interaction.deferred && !interaction.ephemeral) {
    await interaction.editReply({ content: "⚠️ That didn't work; I've told you privately why.", allowedMentions: { parse: [] } })
      .catch((err) => logger.warn({ ...describeError(err), interactionId: interaction.id }, "discord: could not update the deferred reply"));
  }
  await privately(logger, interaction, content);
}

/** The user-facing text of an error (UserFacingError.userMessage), or a generic apology; logs the rest. */
export function explain(logger: Logger, err: unknown, context: Record<string, unknown>): string {
  if (isUserFacing(err)) return err.userMessage;
  logger.error({ ...describeError(err), ...context }, "discord: handler failed");
  return SORRY;
}
