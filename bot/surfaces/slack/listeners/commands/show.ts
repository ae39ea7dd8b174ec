import type { AllMiddlewareArgs, SlackCommandMiddlewareArgs } from "@slack/bolt";
import type { SlackDeps } from "../../deps.js";
import { actorOf, mayAccess, resolveJob, slackLocation } from "../../jobs.js";
import { esc, shortId } from "../../blocks.js";
import { errorFields } from "../../logger.js";

type Args = AllMiddlewareArgs & SlackCommandMiddlewareArgs;

/**
 * `/show <job>` re-posts a job here: a status message that starts a new thread, the scene cards
 * with live buttons, and the video when it is done. The new place is recorded in chat_messages,
 * so later progress is shown here as well as in the job's own thread.
 */
export function show(deps: SlackDeps) {
  return async ({ ack, command, client, context, respond }: Args): Promise<void> => {
    await ack();
    const reply = (text: string) => respond({ response_type: "ephemeral", text });
    const actor = actorOf(context, command.user_id, command.user_name);
    const found = await resolveJob(deps, actor, command.text);
    if ("error" in found) return void (await reply(found.error));
    const view = await deps.app.runner.view(found.jobId);
    if (!view || !(await mayAccess(deps, actor, view))) {
      return void (await reply(`I can't find a job \`${esc(command.text.trim())}\` of yours. Only its owner or an approver can show it.`));
    }
    let ts: string;
    try {
      const posted = await client.chat.postMessage({ channel: command.channel_id, text: `📌 Job \`${shortId(view.jobId)}\`, shown here by <@${command.user_id}>.` });
      ts = posted.ts as string;
    } catch (err) {
      deps.logger.info({ ...errorFields(err), channel: command.channel_id }, "could not post in the /show channel");
      return void (await reply("I can't post in this channel. Invite me with `/invite @reelbot` (or DM me), then try again."));
    }
    const here = slackLocation(command.channel_id, ts);
    await deps.chat.put(view.jobId, here, "status", ts, null);
    await deps.renderer.show(here, view);
  };
}
