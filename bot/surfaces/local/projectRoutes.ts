import { z } from "zod";
import type { Actor } from "../../../graph/actor.js";
import type { ProjectService } from "../common/projectService.js";
import { roleOf } from "../common/projectService.js";
import { sendJson } from "./http.js";
import { readJson, UUID_RE, type Route } from "./routes.js";

/*
 * The page's project panel: the project of the open music video (or the browser's own), its
 * settings and its learnt rules; rules can be removed by the owner, settings changed by the
 * operator (the page listens on loopback only).
 */

const ChangeBody = z.object({
  job: z.string().regex(UUID_RE).optional(),
  lora: z.string().min(1).max(200).optional(),
  approval: z.boolean().optional(),
  role: z.string().max(40).optional(),
  model: z.string().min(1).max(200).optional(),
});

const RemoveBody = z.object({ projectId: z.string().regex(UUID_RE), ruleId: z.string().regex(UUID_RE) });

export function projectRoutes(deps: { projects: ProjectService }): Route[] {
  const { projects } = deps;

  async function payload(actor: Actor, job?: string) {
    const resolved = await projects.resolve(actor, job);
    if ("error" in resolved) return { status: 404, body: { error: resolved.error } };
    const { project, mayEdit } = resolved;
    const rules = await projects.listRules(project);
    return {
      status: 200,
      body: {
        project: { id: project.id, name: project.name, settings: project.config.globalSettings, lines: await projects.describe(project) },
        rules: rules.map((r) => ({ id: r.id, text: r.text, source: r.source.kind ?? null })),
        mayEdit,
      },
    };
  }

  return [
    ["GET", /^\/api\/project$/, async ({ res, actor, url }) => {
      const job = url.searchParams.get("job") ?? undefined;
      if (job !== undefined && !UUID_RE.test(job)) return sendJson(res, 400, { error: "Say which job: /api/project?job=<id>." });
      const { status, body } = await payload(actor, job);
      sendJson(res, status, body);
    }],
    ["POST", /^\/api\/project$/, async ({ req, res, actor }) => {
      const parsed = ChangeBody.safeParse(await readJson(req));
      if (!parsed.success) return sendJson(res, 400, { error: "That change is not one I understand." });
      const { job, lora, approval, role, model } = parsed.data;
      const agentRole = role ? roleOf(role) : undefined;
      if (role && !agentRole) return sendJson(res, 400, { error: "Roles are orchestrator, auditor, vision analyser and director." });
      const result = await projects.change(actor, await projects.resolve(actor, job), {
        lora, requireHumanApproval: approval, ...(agentRole ? { role: agentRole } : {}), model,
      });
      sendJson(res, result.ok ? 200 : 403, result);
    }],
    ["POST", /^\/api\/rules\/remove$/, async ({ req, res, actor }) => {
      const parsed = RemoveBody.safeParse(await readJson(req));
      if (!parsed.success) return sendJson(res, 400, { error: "Say which rule to remove." });
      const result = await projects.removeRule(actor, parsed.data.projectId, parsed.data.ruleId);
      sendJson(res, result.ok ? 200 : 403, result);
    }],
  ];
}
