import type { AllMiddlewareArgs, SlackViewMiddlewareArgs, ViewSubmitAction } from "@slack/bolt";
import { sanitizeText } from "../../../../../core/text.js";
import { decodeButton } from "../../../../views.js";
import type { SlackDeps } from "../../deps.js";
import { actorOf } from "../../jobs.js";
import { EDIT_BLOCK, NOTE_MAX, type EditMetadata } from "../../blocks.js";

type Args = AllMiddlewareArgs & SlackViewMiddlewareArgs<ViewSubmitAction>;

/** The 🟡 modal's submission: the note goes to the runner as a YELLOW decision. */
export function editScene(deps: SlackDeps) {
  return async ({ ack, body, view, client, context }: Args): Promise<void> => {
    const note = sanitizeText(view.state.values[EDIT_BLOCK]?.[EDIT_BLOCK]?.value ?? "");
    // Errors shown in the modal itself need the ack, so this check comes first; it is instant.
    if (!note || note.length > NOTE_MAX) {
      await ack({
        response_action: "errors",
        errors: { [EDIT_BLOCK]: note ? `Keep it to ${NOTE_MAX} characters or fewer.` : "Tell me what to change." },
      });
      return;
    }
    await ack();
    let meta: EditMetadata;
    try {
      meta = JSON.parse(view.private_metadata) as EditMetadata;
    } catch {
      return;
    }
    const button = decodeButton(meta.action);
    if (!button) return;
    const actor = actorOf(context, body.user.id, body.user.name);
    const result = await deps.app.runner.decide({
      jobId: button.jobId, sceneIndex: button.sceneIndex, versionNo: button.versionNo, decision: "YELLOW", note, actor,
    });
    if (!result.ok) {
      if (meta.channel) {
        await client.chat.postEphemeral({ channel: meta.channel, user: body.user.id, text: result.message, ...(meta.threadTs ? { thread_ts: meta.threadTs } : {}) });
      }
      return;
    }
    await deps.renderer.refresh(button.jobId);
  };
}
