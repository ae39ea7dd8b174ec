import type { AllMiddlewareArgs, BlockAction, ButtonAction, SlackActionMiddlewareArgs } from "@slack/bolt";
import type { SlackDeps } from "../../deps.js";
import { actorOf } from "../../jobs.js";
import { clickPlace } from "./clickPlace.js";

type Args = AllMiddlewareArgs & SlackActionMiddlewareArgs<BlockAction<ButtonAction>>;

/** "Try again" on a failed job's status message: it goes on from where it stopped. */
export function jobRetry(deps: SlackDeps) {
  return async ({ ack, body, action, client, context, respond }: Args): Promise<void> => {
    await ack();
    const jobId = action.value ?? "";
    const actor = actorOf(context, body.user.id, body.user.name ?? body.user.username);
    const result = await deps.app.runner.retry({ jobId, actor });
    await clickPlace(body, client, respond).tell(result.message);
    if (result.ok) await deps.renderer.refresh(jobId);
  };
}
