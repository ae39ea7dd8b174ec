/**
 * The model each agent role runs on for one song job: the project's agent configuration
 * (agent_configs, store/projects.ts), so a /project change of a role's model changes what the next
 * call of that role runs on, and what it is booked at. AGENT_ROLE_TASKS says which calls each role
 * makes. Read once per step that needs it: roles change between clicks, not within a step.
 */
import type { GraphContext } from "../context.js";
import type { AgentRole } from "../../core/project-config.js";

export type RoleModels = Record<AgentRole, string>;

export async function roleModels(ctx: Pick<GraphContext, "projects">, projectId: string): Promise<RoleModels> {
  const configs = await ctx.projects.agentConfigs(projectId);
  return {
    ORCHESTRATOR: configs.ORCHESTRATOR.modelString,
    DIRECTOR: configs.DIRECTOR.modelString,
    AUDITOR: configs.AUDITOR.modelString,
    VISION_ANALYZER: configs.VISION_ANALYZER.modelString,
  };
}
