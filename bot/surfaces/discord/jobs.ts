import type { JobView } from "../../views.js";
import type { Actor } from "../../../graph/actor.js";
import type { SurfaceContext } from "./context.js";
import { shortId } from "./ids.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The job a command names: a full id, or the 8-character short id shown in messages (looked up
 * among the user's recent jobs). Only its owner or a configured approver may see it through a
 * command; anyone else gets the same "not found" as for a job that does not exist.
 */
export async function resolveJob(ctx: SurfaceContext, actor: Actor, input: string): Promise<{ view: JobView } | { error: string }> {
  const text = input.trim().replace(/^`|`$/g, "").toLowerCase();
  const user = await ctx.runner.users.ensure(actor);
  let jobId: string | undefined;
  if (UUID.test(text)) jobId = text;
  else if (/^[0-9a-f]{4,}$/.test(text)) jobId = (await ctx.runner.jobsOf(user.id)).find((j) => j.id.startsWith(text))?.id;
  const notFound = { error: `I can't find a job \`${text.slice(0, 36)}\` of yours. \`/status\` lists your recent jobs.` };
  if (!jobId) return notFound;
  const view = await ctx.runner.view(jobId);
  if (!view) return notFound;
  if (view.ownerId !== user.id && !ctx.isApprover(actor)) return notFound;
  return { view };
}

/** One line per job for /status. */
export function jobLine(view: JobView): string {
  const done = view.scenes.filter((s) => s.status === "completed").length;
  return `\`${shortId(view.jobId)}\` · ${view.stage} · ${view.statusLine}${view.scenes.length ? ` · ${done}/${view.scenes.length} scenes` : ""}`;
}
