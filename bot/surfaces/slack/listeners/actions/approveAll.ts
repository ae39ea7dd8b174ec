import type { AllMiddlewareArgs, BlockAction, ButtonAction, SlackActionMiddlewareArgs } from "@slack/bolt";
import type { SlackDeps } from "../../deps.js";
import { actorOf } from "../../jobs.js";
import { clickPlace } from "./clickPlace.js";

type Args = AllMiddlewareArgs & SlackActionMiddlewareArgs<BlockAction<ButtonAction>>;

/** "Approve all" on the status message: 🟢 on every scene waiting for review. */
export function approveAll(deps: SlackDeps) {
  return async ({ ack, body, action, client, context, respond }: Args): Promise<void> => {
    await ack();
    const jobId = action.value ?? "";
    const actor = actorOf(context, body.user.id, body.user.name ?? body.user.username);
    const result = await deps.app.runner.approveAll(jobId, actor);
    if (!result.ok) return clickPlace(body, client, respond).tell(result.message);
    await deps.renderer.refresh(jobId);
  };
}
