import type { Context } from "@slack/bolt";
import { isUserFacing } from "../../../core/errors.js";
import type { Actor } from "../../../graph/actor.js";
import type { JobView } from "../../views.js";
import type { ChatLocation } from "../../../store/chatMessages.js";
import type { SlackDeps } from "./deps.js";

/** Who is acting, from Bolt's context (its teamId is read the same way for events, commands and clicks). */
export function actorOf(context: Context, userId: string, name?: string): Actor {
  return { platform: "slack", teamId: context.teamId ?? context.enterpriseId ?? "", userId, ...(name ? { name } : {}) };
}

export const GENERIC_APOLOGY = "Something went wrong on my side; nothing was charged. Try again in a minute.";

/** The text a chat user may read for an error: a UserFacingError's own words, or an apology. */
export function userTextOf(err: unknown): string {
  return isUserFacing(err) ? err.userMessage : GENERIC_APOLOGY;
}

export function slackLocation(channelId: string, threadId: string): ChatLocation {
  return { platform: "slack", channelId, threadId };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A job named in a command: a full id, or a prefix (at least 4 characters) of one of the
 * caller's own recent jobs, as shown by /status and on the status message.
 */
export async function resolveJob(deps: SlackDeps, actor: Actor, text: string): Promise<{ jobId: string } | { error: string }> {
  const wanted = text.trim().replace(/^`|`$/g, "").toLowerCase();
  if (!wanted) return { error: "Which job? Give its id, e.g. `/status 1a2b3c4d`; `/status` alone lists your jobs." };
  if (UUID.test(wanted)) return { jobId: wanted };
  if (wanted.length >= 4 && /^[0-9a-f-]+$/.test(wanted)) {
    const user = await deps.app.runner.users.ensure(actor);
    const matches = (await deps.app.runner.jobsOf(user.id)).filter((j) => j.id.startsWith(wanted));
    if (matches.length === 1) return { jobId: matches[0].id };
    if (matches.length > 1) return { error: `\`${wanted}\` matches ${matches.length} of your jobs; give more of the id.` };
  }
  return { error: `I can't find a job \`${wanted.slice(0, 40)}\` of yours. \`/status\` lists your recent jobs.` };
}

/** Whether the actor may see or re-post a job: its owner or a configured approver. */
export async function mayAccess(deps: SlackDeps, actor: Actor, view: JobView): Promise<boolean> {
  if (deps.isApprover(actor)) return true;
  const user = await deps.app.runner.users.ensure(actor);
  return user.id === view.ownerId;
}

/** "scene 2: warmer light" → scene index 1 with the note; null when no scene is named. */
export function parseSceneReply(text: string): { sceneIndex: number; note: string } | null {
  const m = /^\s*(?:scene|shot)\s*#?\s*(\d{1,2})\s*(?:[:,.)\-–—]|\s)\s*([\s\S]+)$/i.exec(text);
  if (!m) return null;
  const note = m[2].trim();
  const n = Number(m[1]);
  if (!note || n < 1) return null;
  return { sceneIndex: n - 1, note };
}

/**
 * The actor's job shown in this thread, if any (the newest one): the job's origin thread, or a
 * place /show re-posted it. Only the actor's own recent jobs are searched: thread replies count
 * as edits only from a job's owner.
 */
export async function ownJobInThread(deps: SlackDeps, actor: Actor, channelId: string, threadTs: string): Promise<string | null> {
  const user = await deps.app.runner.users.ensure(actor);
  for (const job of await deps.app.runner.jobsOf(user.id)) {
    if (job.origin.platform === "slack" && job.origin.channelId === channelId && job.origin.threadTs === threadTs) return job.id;
    const shown = await deps.chat.locations(job.id, "slack");
    if (shown.some((l) => l.channelId === channelId && l.threadId === threadTs)) return job.id;
  }
  return null;
}
