import type { Runner } from "../../../graph/runner.js";
import type { Actor } from "../../../graph/actor.js";
import type { Project } from "../../../store/projects.js";
import type { Rule } from "../../../store/rules.js";
import { AGENT_ROLES, type AgentRole } from "../../../core/project-config.js";
import { isUserFacing } from "../../../core/errors.js";
import { NOT_ADMIN } from "./admins.js";

/*
 * /project and /rules, the same on every surface: which project a person means, what it is set
 * to, changing it (approvers and admins only, audited) and the rulebook learnt from 🔴 (listed;
 * removed by the project's owner or an admin). Surfaces only parse their input and lay out the
 * answer.
 */

export interface ProjectChange {
  lora?: string;
  requireHumanApproval?: boolean;
  role?: AgentRole;
  model?: string;
}

export type Resolved = { project: Project; mayEdit: boolean } | { error: string };

const ROLE_WORDS: Record<AgentRole, string> = {
  ORCHESTRATOR: "orchestrator", AUDITOR: "auditor", VISION_ANALYZER: "vision analyser", DIRECTOR: "director",
};

export function roleOf(text: string): AgentRole | null {
  const wanted = text.trim().toUpperCase().replace(/[\s-]+/g, "_").replace("ANALYSER", "ANALYZER");
  return AGENT_ROLES.find((r) => r === wanted || r.startsWith(wanted)) ?? null;
}

export function createProjectService(deps: { runner: Runner; isAdmin: (actor: Actor) => boolean }) {
  const { runner } = deps;
  const { projects, rules, audit } = runner.store;

  /** A job's project (owner or admin), or the person's own default project when no job is named. */
  async function resolve(actor: Actor, jobId?: string): Promise<Resolved> {
    const user = await runner.users.ensure(actor);
    const admin = deps.isAdmin(actor);
    if (jobId) {
      const job = await runner.store.jobs.get(jobId);
      if (!job || (job.userId !== user.id && !admin)) return { error: "I can't find that job of yours. `/status` lists your recent jobs." };
      if (!job.projectId) return { error: "That job is a brand video; projects hold the settings of music videos (drop an MP3 to start one)." };
      const project = await projects.get(job.projectId);
      return project ? { project, mayEdit: admin } : { error: "That job's project was deleted." };
    }
    return { project: await projects.ensureDefault(user.id), mayEdit: admin };
  }

  /** The settings and each role's model, one line each. */
  async function describe(project: Project): Promise<string[]> {
    const s = project.config.globalSettings;
    const agents = await projects.agentConfigs(project.id);
    return [
      `Project “${project.name}”`,
      `LoRA: ${s.loraWeightsId}`,
      `Human approval of every shot: ${s.requireHumanApproval ? "on" : "off (shots render without a 🟢)"}`,
      `Models: image ${s.imageModel} · video ${s.videoModel} · language ${s.llmModel}`,
      `Agents: ${AGENT_ROLES.map((r) => `${ROLE_WORDS[r]} ${agents[r].modelString}`).join(" · ")}`,
    ];
  }

  async function change(actor: Actor, resolved: Resolved, wanted: ProjectChange): Promise<{ ok: boolean; message: string }> {
    if ("error" in resolved) return { ok: false, message: resolved.error };
    if (!resolved.mayEdit) return { ok: false, message: NOT_ADMIN };
    const { project } = resolved;
    const done: string[] = [];
    try {
      const patch = {
        ...(wanted.lora !== undefined ? { loraWeightsId: wanted.lora.trim() } : {}),
        ...(wanted.requireHumanApproval !== undefined ? { requireHumanApproval: wanted.requireHumanApproval } : {}),
      };
      if (Object.keys(patch).length > 0) {
        await projects.updateSettings(project.id, patch);
        if (patch.loraWeightsId !== undefined) done.push(`LoRA is now ${patch.loraWeightsId}`);
        if (patch.requireHumanApproval !== undefined) done.push(`human approval is ${patch.requireHumanApproval ? "on" : "off"}`);
      }
      if (wanted.role && wanted.model) {
        const config = await projects.setAgentConfig(project.id, wanted.role, wanted.model.trim());
        done.push(`the ${ROLE_WORDS[wanted.role]} now runs on ${config.modelString}`);
      } else if (wanted.role || wanted.model) {
        return { ok: false, message: "Name a role and a model together, e.g. `model director gemini-3.1-pro-preview`." };
      }
    } catch (err) {
      if (isUserFacing(err)) return { ok: false, message: err.userMessage };
      throw err;
    }
    if (done.length === 0) return { ok: false, message: "Nothing to change. Say what: LoRA, approval on/off, or a role's model." };
    const user = await runner.users.ensure(actor);
    await audit.record({ userId: user.id, action: "project.update", entityType: "project", entityId: project.id, details: { ...wanted } });
    return { ok: true, message: `Project “${project.name}”: ${done.join("; ")}. Shots drafted from now on use it.` };
  }

  async function listRules(project: Project): Promise<Rule[]> {
    return rules.list(project.id);
  }

  /** Removes a learnt rule: the project's owner or an admin. */
  async function removeRule(actor: Actor, projectId: string, ruleId: string): Promise<{ ok: boolean; message: string }> {
    const project = await projects.get(projectId);
    if (!project) return { ok: false, message: "I can't find that project; it may have been deleted." };
    const user = await runner.users.ensure(actor);
    if (project.ownerUserId !== user.id && !deps.isAdmin(actor)) {
      return { ok: false, message: "Only the project's owner or an admin can remove its rules." };
    }
    const rule = (await rules.list(projectId)).find((r) => r.id === ruleId);
    if (!rule || !(await rules.remove(projectId, ruleId))) return { ok: false, message: "That rule was already removed." };
    await audit.record({ userId: user.id, action: "rule.removed", entityType: "rule", entityId: ruleId, details: { projectId, text: rule.text } });
    return { ok: true, message: `Removed the rule “${rule.text}”. Shots drafted from now on no longer follow it.` };
  }

  return { resolve, describe, change, listRules, removeRule };
}

export type ProjectService = ReturnType<typeof createProjectService>;
