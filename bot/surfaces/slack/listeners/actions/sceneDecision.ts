import type { AllMiddlewareArgs, BlockAction, ButtonAction, SlackActionMiddlewareArgs } from "@slack/bolt";
import { decodeButton } from "../../../../views.js";
import type { SlackDeps } from "../../deps.js";
import { actorOf } from "../../jobs.js";
import { openEditModal } from "./editModal.js";
import { clickPlace } from "./clickPlace.js";

type Args = AllMiddlewareArgs & SlackActionMiddlewareArgs<BlockAction<ButtonAction>>;

/**
 * 🟢 / 🔴 on a scene card go straight to the runner; 🟡 opens the edit modal (the decision is
 * made when it is submitted). The button carries job, scene and version, so any instance can act
 * on it after a restart; refusals, stale and duplicate clicks are answered to the clicker alone.
 */
export function sceneDecision(deps: SlackDeps) {
  return async ({ ack, body, action, client, context, respond }: Args): Promise<void> => {
    await ack();
    const button = decodeButton(action.action_id) ?? decodeButton(action.value ?? "");
    if (!button) return;
    const actor = actorOf(context, body.user.id, body.user.name ?? body.user.username);
    const { tell } = clickPlace(body, client, respond);

    if (button.decision === "YELLOW") return openEditModal(deps, client, body, button, actor);

    const result = await deps.app.runner.decide({
      jobId: button.jobId, sceneIndex: button.sceneIndex, versionNo: button.versionNo, decision: button.decision, actor,
    });
    if (!result.ok) return tell(result.message);
    await deps.renderer.refresh(button.jobId);
  };
}
