import type { AllMiddlewareArgs, SlackEventMiddlewareArgs } from "@slack/bolt";
import type { SlackDeps } from "../../deps.js";
import { actorOf, ownJobInThread, parseSceneReply } from "../../jobs.js";
import { isTerminal } from "../../blocks.js";

type Args = AllMiddlewareArgs & SlackEventMiddlewareArgs<"message">;

/**
 * A reply in a job's thread from the job's owner: "scene 2: warmer light" is 🟡 on scene 2 with
 * that note. A reply that names no scene, while scenes wait for review, gets a short re-ask
 * (ephemeral, so the thread stays readable). Replies by anyone else are conversation, not input.
 * A reply also sent to the channel (thread_broadcast) counts the same.
 */
export function threadReply(deps: SlackDeps) {
  return async ({ message, context, client }: Args): Promise<void> => {
    // A reply sent with "Also send to channel" arrives as subtype thread_broadcast
    // (https://docs.slack.dev/reference/events/message/thread_broadcast): the same reply, also shown in the channel.
    if (message.subtype !== undefined && message.subtype !== "thread_broadcast") return;
    const m = message as typeof message & { subtype?: "thread_broadcast"; thread_ts?: string; parent_user_id?: string; bot_id?: string; user?: string; text?: string };
    if (!m.thread_ts || m.thread_ts === m.ts || m.bot_id || !m.user || m.user === context.botUserId) return;
    // A job's thread hangs off the owner's own file message or off a message of the bot's.
    if (m.parent_user_id && m.parent_user_id !== m.user && m.parent_user_id !== context.botUserId) return;
    const actor = actorOf(context, m.user);
    const jobId = await ownJobInThread(deps, actor, m.channel, m.thread_ts);
    if (!jobId) return;
    const view = await deps.app.runner.view(jobId);
    if (!view || isTerminal(view)) return;
    const tell = (text: string) => client.chat.postEphemeral({ channel: m.channel, user: m.user, thread_ts: m.thread_ts, text });
    const waiting = view.scenes.filter((s) => s.awaiting === "review");
    const parsed = parseSceneReply(m.text ?? "");
    if (!parsed) {
      if (waiting.length > 0) {
        await tell(`Which scene should change? Reply like \`scene ${waiting[0].index + 1}: warmer light\`, or use the buttons on its card.`);
      }
      return;
    }
    const card = view.scenes.find((s) => s.index === parsed.sceneIndex);
    if (!card) {
      await tell(`This job has ${view.scenes.length} scenes. Reply like \`scene 1: warmer light\`.`);
      return;
    }
    const result = await deps.app.runner.decide({
      jobId, sceneIndex: card.index, versionNo: card.versionNo, decision: "YELLOW", note: parsed.note, actor,
    });
    if (!result.ok) {
      await tell(result.message);
      return;
    }
    await tell(`${result.message} The new preview will appear in this thread.`);
    await deps.renderer.refresh(jobId);
  };
}
