import type { AllMiddlewareArgs, BlockAction, ButtonAction, SlackActionMiddlewareArgs } from "@slack/bolt";
import type { SlackDeps } from "../../deps.js";
import { actorOf } from "../../jobs.js";
import { clickPlace } from "./clickPlace.js";

type Args = AllMiddlewareArgs & SlackActionMiddlewareArgs<BlockAction<ButtonAction>>;

/** "Cancel" on the status message (behind a confirm dialog). */
export function cancelJob(deps: SlackDeps) {
  return async ({ ack, body, action, client, context, respond }: Args): Promise<void> => {
    await ack();
    const jobId = action.value ?? "";
    const actor = actorOf(context, body.user.id, body.user.name ?? body.user.username);
    const result = await deps.app.runner.cancel({ jobId, actor });
    if (!result.ok) return clickPlace(body, client, respond).tell(result.message);
    await deps.renderer.refresh(jobId);
  };
}
