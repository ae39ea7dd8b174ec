import type { AllMiddlewareArgs, SlackCommandMiddlewareArgs } from "@slack/bolt";
import type { SlackDeps } from "../../deps.js";
import { actorOf, mayAccess, resolveJob } from "../../jobs.js";
import { showVersions } from "../../versions.js";

type Args = AllMiddlewareArgs & SlackCommandMiddlewareArgs;

const USAGE = "Usage: `/versions <job> <scene>`, e.g. `/versions 1a2b3c4d 2`. `/status` lists your jobs.";

/** `/versions <job> <scene>`: a scene's versions with thumbnails and who asked for each; Revert on each (owner or approver). */
export function versions(deps: SlackDeps) {
  return async ({ ack, command, client, context, respond }: Args): Promise<void> => {
    await ack();
    const reply = (text: string) => respond({ response_type: "ephemeral", text });
    const m = /^\s*(\S+)\s+(?:scene\s*|shot\s*|#)?(\d{1,2})\s*$/i.exec(command.text);
    if (!m) return void (await reply(USAGE));
    const actor = actorOf(context, command.user_id, command.user_name);
    const found = await resolveJob(deps, actor, m[1]);
    if ("error" in found) return void (await reply(found.error));
    const view = await deps.app.runner.view(found.jobId);
    if (!view || !(await mayAccess(deps, actor, view))) return void (await reply("I can't find that job of yours. `/status` lists your recent jobs."));
    await showVersions(deps, client, { actor, jobId: found.jobId, sceneIndex: Number(m[2]) - 1, channel: command.channel_id, respond });
  };
}
