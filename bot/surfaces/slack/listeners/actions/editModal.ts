import type { AllMiddlewareArgs, BlockAction } from "@slack/bolt";
import { encodeButton, type ButtonAction } from "../../../../views.js";
import type { Actor } from "../../../../../graph/actor.js";
import type { SlackDeps } from "../../deps.js";
import { mayAccess } from "../../jobs.js";
import { editModal, noticeModal } from "../../blocks.js";
import { errorFields } from "../../logger.js";
import { clickPlace } from "./clickPlace.js";

type Client = AllMiddlewareArgs["client"];

/**
 * 🟡: the edit modal opens first, then the checks run. A trigger_id is valid for 3 seconds
 * (https://docs.slack.dev/reference/methods/views.open, "expired_trigger_id") and a busy database
 * can take longer than that, so nothing that queries it may come before views.open. What the
 * modal shows comes from the click itself (the card's script line is in the clicked message).
 * If the clicker may not decide, or the preview was replaced meanwhile, the open modal is turned
 * into that answer (views.update needs no trigger); the submission is checked again (editScene.ts).
 */
export async function openEditModal(deps: SlackDeps, client: Client, body: BlockAction, button: ButtonAction, actor: Actor): Promise<void> {
  const { channel, threadTs, tell } = clickPlace(body, client);
  const label = `scene ${button.sceneIndex + 1}`;
  let opened: { id?: string; hash?: string } | undefined;
  try {
    const result = await client.views.open({
      trigger_id: body.trigger_id,
      view: editModal({ action: encodeButton(button), channel: channel ?? "", ...(threadTs ? { threadTs } : {}) }, label, scriptOf(body)),
    });
    opened = result.view as { id?: string; hash?: string } | undefined;
  } catch (err) {
    deps.logger.warn({ ...errorFields(err), jobId: button.jobId }, "the edit modal did not open");
    await tell(`The edit form didn't open in time. Click 🟡 again, or reply in the thread like \`scene ${button.sceneIndex + 1}: warmer light\`.`);
    return;
  }
  const refusal = await whyNot(deps, actor, button);
  if (refusal && opened?.id) {
    await client.views.update({ view_id: opened.id, ...(opened.hash ? { hash: opened.hash } : {}), view: noticeModal(`Edit ${label}`, refusal) });
  }
}

/** Why this actor may not edit this scene version now; null when they may. */
async function whyNot(deps: SlackDeps, actor: Actor, button: ButtonAction): Promise<string | null> {
  const view = await deps.app.runner.view(button.jobId);
  if (!view) return "I can't find that job any more.";
  if (!(await mayAccess(deps, actor, view))) return "Only the person who started this job or a configured approver can decide on it.";
  const card = view.scenes.find((s) => s.index === button.sceneIndex);
  if (!card || card.awaiting !== "review" || card.versionNo !== button.versionNo) {
    return `Scene ${button.sceneIndex + 1} is not waiting for a review on this preview any more; nothing was changed.`;
  }
  return null;
}

/** The card's script line, as shown on the clicked message (already mrkdwn). */
function scriptOf(body: BlockAction): string {
  const blocks = (body.message?.blocks ?? []) as Array<{ block_id?: string; elements?: Array<{ text?: string }> }>;
  return blocks.find((b) => b.block_id === "script")?.elements?.[0]?.text ?? "";
}
