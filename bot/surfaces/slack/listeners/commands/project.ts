import type { AllMiddlewareArgs, SlackCommandMiddlewareArgs } from "@slack/bolt";
import type { SlackDeps } from "../../deps.js";
import { actorOf, resolveJob } from "../../jobs.js";
import { esc } from "../../blocks.js";
import { roleOf, type ProjectChange } from "../../../common/projectService.js";

type Args = AllMiddlewareArgs & SlackCommandMiddlewareArgs;

const USAGE = "Usage: `/project [job]` shows it; approvers change it with `/project [job] lora <id>`, " +
  "`/project [job] approval on|off` or `/project [job] model <orchestrator|auditor|vision|director> <model id>`.";

/** What follows the optional job: nothing (show), or one change. */
export function parseProjectText(text: string): { job?: string; change: ProjectChange | null } | null {
  const words = text.trim().split(/\s+/).filter(Boolean);
  const job = words[0] && /^`?[0-9a-f-]{4,36}`?$/i.test(words[0]) ? words.shift() : undefined;
  if (words.length === 0) return { job, change: null };
  const [what, ...rest] = words;
  switch (what.toLowerCase()) {
    case "lora": return rest.length === 1 ? { job, change: { lora: rest[0] } } : null;
    case "approval": {
      const on = rest[0]?.toLowerCase();
      return rest.length === 1 && (on === "on" || on === "off") ? { job, change: { requireHumanApproval: on === "on" } } : null;
    }
    case "model": {
      const role = rest[0] ? roleOf(rest[0]) : null;
      return role && rest.length === 2 ? { job, change: { role, model: rest[1] } } : null;
    }
    default: return null;
  }
}

/** `/project`: the project's LoRA, models per role and approval policy; approvers and admins change them. */
export function project(deps: SlackDeps) {
  return async ({ ack, command, context, respond }: Args): Promise<void> => {
    await ack();
    const reply = (text: string) => respond({ response_type: "ephemeral", text });
    const actor = actorOf(context, command.user_id, command.user_name);
    const asked = parseProjectText(command.text);
    if (!asked) return void (await reply(USAGE));
    let jobId: string | undefined;
    if (asked.job) {
      const found = await resolveJob(deps, actor, asked.job);
      if ("error" in found) return void (await reply(found.error));
      jobId = found.jobId;
    }
    const resolved = await deps.projects.resolve(actor, jobId);
    if ("error" in resolved) return void (await reply(resolved.error));
    if (!asked.change) {
      const lines = await deps.projects.describe(resolved.project);
      const hint = resolved.mayEdit ? USAGE.replace(/^Usage: `\/project \[job\]` shows it; approvers change it with /, "Change it with ") : "Approvers can change it.";
      return void (await reply([`*${esc(lines[0])}*`, ...lines.slice(1).map((l) => `• ${esc(l)}`), hint].join("\n")));
    }
    const result = await deps.projects.change(actor, resolved, asked.change);
    await reply(esc(result.message));
  };
}
