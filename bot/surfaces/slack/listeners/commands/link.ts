import type { AllMiddlewareArgs, SlackCommandMiddlewareArgs } from "@slack/bolt";
import type { SlackDeps } from "../../deps.js";
import { issuedText, redeemedText } from "../../../../links/linkTexts.js";

type Args = AllMiddlewareArgs & SlackCommandMiddlewareArgs;

/**
 * `/link` makes a one-time code to type on Discord; `/link <code>` takes one made on Discord.
 * Answers are ephemeral: a code is a credential for ten minutes (store/identityLinks.ts).
 */
export function link(deps: SlackDeps) {
  return async ({ ack, command, context, respond }: Args): Promise<void> => {
    await ack();
    const reply = (text: string) => respond({ response_type: "ephemeral", text });
    const identity = { platform: "slack" as const, teamId: context.teamId ?? context.enterpriseId ?? "", userId: command.user_id, name: command.user_name };
    const typed = command.text.trim();
    if (!typed) {
      const { code, user } = await deps.links.issue(identity);
      return void (await reply(issuedText("slack", code, user.credits_remaining)));
    }
    await reply(redeemedText("slack", await deps.links.redeem(typed, identity)));
  };
}
