import type { AllMiddlewareArgs, SlackCommandMiddlewareArgs } from "@slack/bolt";
import { progressSquares } from "../../../../views.js";
import type { SlackDeps } from "../../deps.js";
import { actorOf, mayAccess, resolveJob } from "../../jobs.js";
import { esc, shortId } from "../../blocks.js";

type Args = AllMiddlewareArgs & SlackCommandMiddlewareArgs;

/** `/status` lists the caller's recent jobs; `/status <job>` shows one (owner or approver). */
export function status(deps: SlackDeps) {
  return async ({ ack, command, context, respond }: Args): Promise<void> => {
    await ack();
    const reply = (text: string) => respond({ response_type: "ephemeral", text });
    const actor = actorOf(context, command.user_id, command.user_name);
    if (!command.text.trim()) {
      const user = await deps.app.runner.users.ensure(actor);
      const jobs = await deps.app.runner.jobsOf(user.id);
      if (jobs.length === 0) return void (await reply("You have no jobs yet. Drop a brand image in a channel I'm in, or use `/render <link>`."));
      const lines = jobs.map((j) => `• \`${shortId(j.id)}\` ${esc(j.originalFilename)} · ${j.production?.status ?? j.status} · <!date^${Math.floor(Date.parse(j.createdAt) / 1000)}^{date_short_pretty} {time}|${j.createdAt}>`);
      return void (await reply(`*Your recent jobs*\n${lines.join("\n")}\n\`/status <id>\` for one job, \`/show <id>\` to bring its buttons here.`));
    }
    const found = await resolveJob(deps, actor, command.text);
    if ("error" in found) return void (await reply(found.error));
    const view = await deps.app.runner.view(found.jobId);
    if (!view || !(await mayAccess(deps, actor, view))) return void (await reply(`I can't find a job \`${esc(command.text.trim())}\` of yours.`));
    const scenes = view.scenes.map((s) => `Scene ${s.index + 1}: ${s.awaiting === "review" ? "waiting for review" : s.status.replace("_", " ")}`);
    await reply([
      `*Job \`${view.jobId}\`* · ${view.stage}`,
      esc(view.statusLine),
      [progressSquares(view), `Credits used: ${view.creditsUsed}`, view.engine ? `Engine: ${view.engine}` : ""].filter(Boolean).join(" · "),
      ...scenes,
      view.error ? `⚠️ ${esc(view.error)}` : "",
    ].filter(Boolean).join("\n"));
  };
}
