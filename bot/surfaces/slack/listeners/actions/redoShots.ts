import type { AllMiddlewareArgs, BlockAction, ButtonAction, SlackActionMiddlewareArgs } from "@slack/bolt";
import type { SlackDeps } from "../../deps.js";
import { actorOf } from "../../jobs.js";
import { clickPlace } from "./clickPlace.js";

type Args = AllMiddlewareArgs & SlackActionMiddlewareArgs<BlockAction<ButtonAction>>;

/** 🔁 Redo on a shot's impact note (value `<job>:<shot index>`): the runner checks who and what is left to redo. */
export function redoShots(deps: SlackDeps) {
  return async ({ ack, body, action, client, context, respond }: Args): Promise<void> => {
    await ack();
    const m = /^([0-9a-f-]{36}):(\d{1,2})$/.exec(action.value ?? "");
    if (!m) return;
    const actor = actorOf(context, body.user.id, body.user.name ?? body.user.username);
    const result = await deps.app.runner.redo({ jobId: m[1], sceneIndex: Number(m[2]), actor });
    await clickPlace(body, client, respond).tell(result.message);
    if (result.ok) await deps.renderer.refresh(m[1]);
  };
}
