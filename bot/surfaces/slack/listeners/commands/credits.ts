import type { AllMiddlewareArgs, SlackCommandMiddlewareArgs } from "@slack/bolt";
import type { SlackDeps } from "../../deps.js";
import { actorOf } from "../../jobs.js";
import { esc } from "../../blocks.js";
import { accountLines, grantText, GRANT_USAGE_SLACK, parseCreditsText } from "../../../common/accountText.js";
import { NOT_ADMIN } from "../../../common/admins.js";
import { isUserFacing } from "../../../../../core/errors.js";
import type { AccountSummary } from "../../../../../store/accounts.js";

type Args = AllMiddlewareArgs & SlackCommandMiddlewareArgs;

/** Slack shows a moment in each reader's own time zone (https://docs.slack.dev/messaging/formatting-message-text#date-formatting). */
const slackDate = (at: Date) => `<!date^${Math.floor(at.getTime() / 1000)}^{date_short_pretty} {time}|${at.toISOString()}>`;

/** File names are user-written: escaped before they go into mrkdwn. */
const escaped = (s: AccountSummary): AccountSummary => ({ ...s, recent: s.recent.map((e) => ({ ...e, filename: e.filename && esc(e.filename) })) });

/**
 * `/credits`: your balance and recent spend. Approvers and admins: `/credits @someone` shows theirs,
 * `/credits grant @someone 20 [why]` grants (once per command, audited), and the receiver is told.
 */
export function credits(deps: SlackDeps) {
  return async ({ ack, command, client, context, respond }: Args): Promise<void> => {
    await ack();
    const reply = (text: string) => respond({ response_type: "ephemeral", text });
    const actor = actorOf(context, command.user_id, command.user_name);
    const ask = parseCreditsText(command.text);
    const person = (userId: string) => deps.app.runner.users.ensure({ platform: "slack", teamId: actor.teamId, userId });
    if (ask.kind === "usage") return void (await reply(GRANT_USAGE_SLACK));
    if (ask.kind === "show") {
      const me = await deps.app.runner.users.ensure(actor);
      return void (await reply(accountLines(escaped(await deps.accounts.summary(me.id)), "You", slackDate).join("\n")));
    }
    if (!deps.isAdmin(actor)) return void (await reply(NOT_ADMIN));
    const target = await person(ask.userId);
    if (ask.kind === "show_other") {
      return void (await reply(accountLines(escaped(await deps.accounts.summary(target.id)), `<@${ask.userId}>`, slackDate).join("\n")));
    }
    const admin = await deps.app.runner.users.ensure(actor);
    try {
      // The trigger id is unique per command: a delivery Slack repeats grants once.
      const result = await deps.accounts.grant({ byUserId: admin.id, toUserId: target.id, amount: ask.amount, reason: ask.reason, key: `slack:${command.trigger_id}` });
      await reply(grantText(result, ask.amount, `<@${ask.userId}>`));
      if (result.granted) {
        const why = ask.reason ? ` (“${esc(ask.reason)}”)` : "";
        await client.chat.postEphemeral({
          channel: command.channel_id, user: ask.userId,
          text: `<@${command.user_id}> granted you ${ask.amount} credit${ask.amount === 1 ? "" : "s"}${why}. You now have ${result.balance}.`,
        }).catch(() => undefined); // best effort: they may not be in this channel
      }
    } catch (err) {
      if (!isUserFacing(err)) throw err;
      await reply(err.userMessage);
    }
  };
}
