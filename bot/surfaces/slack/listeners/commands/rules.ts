import type { AllMiddlewareArgs, SlackCommandMiddlewareArgs } from "@slack/bolt";
import type { SlackDeps } from "../../deps.js";
import { actorOf, resolveJob } from "../../jobs.js";
import { rulesMessage } from "../../historyBlocks.js";
import { postPrivately } from "../../ephemeral.js";

type Args = AllMiddlewareArgs & SlackCommandMiddlewareArgs;

/** `/rules [job]`: the project's learnt rules (yours, or that music video's), each with Remove for its owner or an admin. */
export function rules(deps: SlackDeps) {
  return async ({ ack, command, client, context, respond }: Args): Promise<void> => {
    await ack();
    const reply = (text: string) => respond({ response_type: "ephemeral", text });
    const actor = actorOf(context, command.user_id, command.user_name);
    let jobId: string | undefined;
    if (command.text.trim()) {
      const found = await resolveJob(deps, actor, command.text);
      if ("error" in found) return void (await reply(found.error));
      jobId = found.jobId;
    }
    const resolved = await deps.projects.resolve(actor, jobId);
    if ("error" in resolved) return void (await reply(resolved.error));
    const me = await deps.app.runner.users.ensure(actor);
    const mayRemove = resolved.project.ownerUserId === me.id || deps.isAdmin(actor);
    const message = rulesMessage(resolved.project, await deps.projects.listRules(resolved.project), mayRemove);
    await postPrivately(client, { channel: command.channel_id, user: command.user_id }, message, { respond });
  };
}
