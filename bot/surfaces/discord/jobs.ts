import { MessageFlags, type ChatInputCommandInteraction } from "discord.js";
import type { JobView } from "../../views.js";
import type { Actor } from "../../../graph/actor.js";
import type { SurfaceContext } from "./context.js";
import type { Resolved } from "../common/projectService.js";
import { actorOf } from "./identity.js";
import { shortId } from "./ids.js";
import { acknowledge, explain } from "./respond.js";

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

/**
 * The project a project command is about: the one of the job it names, else the caller's own. An
 * admin (ADMIN_IDS) may name anyone's job by its full id, as the project service allows them;
 * everyone else goes through resolveJob.
 */
export async function resolveProject(ctx: SurfaceContext, actor: Actor, input: string | null): Promise<Resolved> {
  if (!input) return ctx.projects.resolve(actor);
  const text = input.trim().replace(/^`|`$/g, "").toLowerCase();
  if (UUID.test(text) && ctx.isAdmin(actor)) return ctx.projects.resolve(actor, text);
  const found = await resolveJob(ctx, actor, input);
  return "error" in found ? found : ctx.projects.resolve(actor, found.view.jobId);
}

/**
 * A private `/<command> job:<id>` answer: defers an ephemeral reply, finds the job for the caller
 * (resolveJob) and edits the reply with what `act` makes of it. A job not found answers with
 * resolveJob's message; a failure with `explainError`'s wording when it has one, else explain()'s.
 */
export async function replyAboutJob(
  ctx: SurfaceContext,
  interaction: ChatInputCommandInteraction,
  act: (view: JobView, actor: Actor) => Promise<string>,
  explainError: (err: unknown) => string | undefined = () => undefined,
): Promise<void> {
  if (!(await acknowledge(ctx.logger, interaction, () => interaction.deferReply({ flags: MessageFlags.Ephemeral })))) return;
  const actor = actorOf(interaction.user, interaction.member, interaction.guildId);
  let content: string;
  try {
    const found = await resolveJob(ctx, actor, interaction.options.getString("job", true));
    content = "error" in found ? found.error : await act(found.view, actor);
  } catch (err) {
    content = explainError(err) ?? explain(ctx.logger, err, { interactionId: interaction.id });
  }
  await interaction.editReply({ content, allowedMentions: { parse: [] } }).catch(() => undefined);
}

/** One line per job for /status. */
export function jobLine(view: JobView): string {
  const done = view.scenes.filter((s) => s.status === "completed").length;
  return `\`${shortId(view.jobId)}\` · ${view.stage} · ${view.statusLine}${view.scenes.length ? ` · ${done}/${view.scenes.length} scenes` : ""}`;
}
