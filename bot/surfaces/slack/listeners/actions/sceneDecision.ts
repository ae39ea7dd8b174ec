import type { AllMiddlewareArgs, BlockAction, ButtonAction, SlackActionMiddlewareArgs } from "@slack/bolt";
import { decodeButton, encodeButton } from "../../../../views.js";
import type { SlackDeps } from "../../deps.js";
import { actorOf, mayAccess } from "../../jobs.js";
import { editModal } from "../../blocks.js";

type Args = AllMiddlewareArgs & SlackActionMiddlewareArgs<BlockAction<ButtonAction>>;

/** Where a click came from, and how to answer the clicker alone. */
export function clickPlace(body: BlockAction, client: AllMiddlewareArgs["client"]) {
  const channel = body.channel?.id ?? (body.container?.channel_id as string | undefined);
  const threadTs = (body.message?.thread_ts as string | undefined) ?? (body.container?.thread_ts as string | undefined);
  const tell = async (text: string) => {
    if (!channel) return;
    await client.chat.postEphemeral({ channel, user: body.user.id, text, ...(threadTs ? { thread_ts: threadTs } : {}) });
  };
  return { channel, threadTs, tell };
}

/**
 * 🟢 / 🔴 on a scene card go straight to the runner; 🟡 opens the edit modal (the decision is
 * made when it is submitted). The button carries job, scene and version, so any instance can act
 * on it after a restart; refusals, stale and duplicate clicks are answered to the clicker alone.
 */
export function sceneDecision(deps: SlackDeps) {
  return async ({ ack, body, action, client, context }: Args): Promise<void> => {
    await ack();
    const button = decodeButton(action.action_id) ?? decodeButton(action.value ?? "");
    if (!button) return;
    const actor = actorOf(context, body.user.id, body.user.name ?? body.user.username);
    const { channel, threadTs, tell } = clickPlace(body, client);

    if (button.decision === "YELLOW") {
      // Checked before the modal, so nobody types a note that can only be refused.
      const view = await deps.app.runner.view(button.jobId);
      if (!view) return tell("I can't find that job any more.");
      if (!(await mayAccess(deps, actor, view))) {
        return tell("Only the person who started this job or a configured approver can decide on it.");
      }
      const card = view.scenes.find((s) => s.index === button.sceneIndex);
      if (!card || card.awaiting !== "review" || card.versionNo !== button.versionNo) {
        return tell(`Scene ${button.sceneIndex + 1} is not waiting for a review on this preview any more; nothing was changed.`);
      }
      await client.views.open({
        trigger_id: body.trigger_id,
        view: editModal({ action: encodeButton(button), channel: channel ?? "", ...(threadTs ? { threadTs } : {}) }, `scene ${button.sceneIndex + 1}`, card.scriptExcerpt),
      });
      return;
    }

    const result = await deps.app.runner.decide({
      jobId: button.jobId, sceneIndex: button.sceneIndex, versionNo: button.versionNo, decision: button.decision, actor,
    });
    if (!result.ok) return tell(result.message);
    await deps.renderer.refresh(button.jobId);
  };
}
