import type { AllMiddlewareArgs, SlackCommandMiddlewareArgs } from "@slack/bolt";
import type { SlackDeps } from "../../deps.js";
import { actorOf, resolveJob } from "../../jobs.js";

type Args = AllMiddlewareArgs & SlackCommandMiddlewareArgs;

/** `/cancel <job>`: stops a job (owner or approver); finished clips are kept. */
export function cancel(deps: SlackDeps) {
  return async ({ ack, command, context, respond }: Args): Promise<void> => {
    await ack();
    const reply = (text: string) => respond({ response_type: "ephemeral", text });
    const actor = actorOf(context, command.user_id, command.user_name);
    const found = await resolveJob(deps, actor, command.text);
    if ("error" in found) return void (await reply(found.error));
    const result = await deps.app.runner.cancel({ jobId: found.jobId, actor });
    await reply(result.message);
    if (result.ok) await deps.renderer.refresh(found.jobId);
  };
}
