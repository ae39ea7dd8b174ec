import type { AllMiddlewareArgs, BlockAction, ButtonAction, SlackActionMiddlewareArgs } from "@slack/bolt";
import type { SlackDeps } from "../../deps.js";
import { actorOf } from "../../jobs.js";
import { clickPlace } from "./clickPlace.js";

type Args = AllMiddlewareArgs & SlackActionMiddlewareArgs<BlockAction<ButtonAction>>;

/** Remove in a /rules list (value `<project>:<rule>`): the project's owner or an admin. */
export function removeRule(deps: SlackDeps) {
  return async ({ ack, body, action, client, context, respond }: Args): Promise<void> => {
    await ack();
    const m = /^([0-9a-f-]{36}):([0-9a-f-]{36})$/.exec(action.value ?? "");
    if (!m) return;
    const actor = actorOf(context, body.user.id, body.user.name ?? body.user.username);
    const result = await deps.projects.removeRule(actor, m[1], m[2]);
    await clickPlace(body, client, respond).tell(result.message);
  };
}
