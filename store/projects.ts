import type { Db } from "./db.js";
import { stableUuid } from "./ids.js";
import { UserFacingError } from "../core/errors.js";
import { boundedText, parseOrThrow } from "../core/text.js";
import {
  AGENT_ROLES,
  AgentConfigSchema,
  defaultAgentModel,
  GlobalSettingsSchema,
  ProjectConfigSchema,
  type AgentConfig,
  type AgentRole,
  type GlobalSettings,
  type ProjectConfig,
} from "../core/project-config.js";

/*
 * Projects of the song route and the model each agent role runs on. Settings live in
 * projects.config as the spec's globalSettings object and are parsed by ProjectConfigSchema on every
 * read, so a setting added to the schema later reads with its default. An owner (or nobody, for a
 * bot without user accounts) has one default project, created on first use, so an MP3 dropped with
 * no set-up has somewhere to go.
 */

export interface Project {
  id: string;
  name: string;
  ownerUserId: string | null;
  isDefault: boolean;
  /** The spec's ProjectConfig, defaults filled in. */
  config: ProjectConfig;
  createdAt: Date;
}

export interface NewProject {
  name: string;
  ownerUserId?: string | null;
  /** Any omitted setting takes its default. */
  settings?: Partial<GlobalSettings>;
}

/** What a chat command may change about a project: any global setting, and its name. */
export type ProjectPatch = Partial<Omit<GlobalSettings, "referenceSheetKey">> & { referenceSheetKey?: string | null; name?: string };

export interface Projects {
  /**
   * The owner's default project, created the first time with `settings` over the defaults (the
   * deployment's models, say); an existing project keeps its own settings.
   */
  ensureDefault(ownerUserId?: string | null, settings?: Partial<GlobalSettings>): Promise<Project>;
  /** The project, or null when unknown or deleted. */
  get(id: string): Promise<Project | null>;
  create(input: NewProject): Promise<Project>;
  /** Makes `modelString` the role's active model; the previous row stays, inactive. */
  setAgentConfig(projectId: string, role: AgentRole, modelString: string): Promise<AgentConfig>;
  /** The active model of every role; roles never set get the project's default (its LLM). */
  agentConfigs(projectId: string): Promise<Record<AgentRole, AgentConfig>>;
  /**
   * Changes settings (LoRA, models, requireHumanApproval, the reference sheet; null clears it) and
   * returns the project as it now reads. Invalid values are refused with a sentence; the change is
   * one statement, so two changes at once both land.
   */
  updateSettings(projectId: string, patch: ProjectPatch): Promise<Project>;
  /** The live projects a user owns, their default first. */
  listForOwner(ownerUserId: string): Promise<Project[]>;
}

interface ProjectRow {
  id: string;
  name: string;
  owner_user_id: string | null;
  is_default: boolean;
  config: unknown;
  created_at: Date;
}

interface AgentConfigRow {
  id: string;
  role: AgentRole;
  model_string: string;
  active: boolean;
  updated_at: Date;
}

export const DEFAULT_PROJECT_NAME = "My music videos";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ProjectNameSchema = boundedText(255, 1);
const ModelStringSchema = boundedText(200, 1);

export function createProjects(db: Db): Projects {
  const get = async (id: string): Promise<Project | null> => {
    if (!UUID.test(id)) return null; // Postgres would raise on a malformed uuid
    const { rows } = await db.query<ProjectRow>(`SELECT * FROM projects WHERE id = $1 AND deleted_at IS NULL`, [id]);
    return rows[0] ? toProject(rows[0]) : null;
  };
  const mustGet = async (id: string): Promise<Project> => {
    const project = await get(id);
    if (!project) throw new UserFacingError("NOT_FOUND", "I can't find that project; it may have been deleted.");
    return project;
  };

  return {
    get,

    async ensureDefault(ownerUserId = null, settings = {}) {
      if (ownerUserId !== null && !UUID.test(ownerUserId)) throw new Error(`owner must be a user id, got "${ownerUserId}"`);
      const config = GlobalSettingsSchema.parse(settings);
      // One statement per attempt: concurrent first uploads hit the unique index and create one row.
      const inserted = await db.query<ProjectRow>(
        `INSERT INTO projects (name, owner_user_id, is_default, config) VALUES ($1, $2, true, $3)
         ON CONFLICT (owner_user_id) WHERE is_default AND deleted_at IS NULL DO NOTHING
         RETURNING *`,
        [DEFAULT_PROJECT_NAME, ownerUserId, JSON.stringify(config)],
      );
      if (inserted.rows[0]) return toProject(inserted.rows[0]);
      const { rows } = await db.query<ProjectRow>(
        `SELECT * FROM projects WHERE is_default AND deleted_at IS NULL AND owner_user_id IS NOT DISTINCT FROM $1`,
        [ownerUserId],
      );
      if (!rows[0]) throw new Error("default project vanished between insert and select");
      return toProject(rows[0]);
    },

    async create(input) {
      const name = parseOrThrow(ProjectNameSchema, input.name);
      const settings = parseOrThrow(GlobalSettingsSchema, input.settings ?? {});
      const owner = input.ownerUserId ?? null;
      if (owner !== null && !UUID.test(owner)) throw new Error(`owner must be a user id, got "${owner}"`);
      const { rows } = await db.query<ProjectRow>(
        `INSERT INTO projects (name, owner_user_id, config) VALUES ($1, $2, $3) RETURNING *`,
        [name, owner, JSON.stringify(settings)],
      );
      return toProject(rows[0]);
    },

    async setAgentConfig(projectId, role, modelString) {
      if (!AGENT_ROLES.includes(role)) throw new Error(`unknown agent role: ${role}`);
      const model = parseOrThrow(ModelStringSchema, modelString);
      await mustGet(projectId);
      return db.transaction(async (tx) => {
        // Locking the project serialises changes to its roles, so the partial unique index on the
        // active row never sees two writers (the second waits and then finds the first's row).
        await tx.query(`SELECT id FROM projects WHERE id = $1 FOR UPDATE`, [projectId]);
        const current = await tx.query<AgentConfigRow>(
          `SELECT * FROM agent_configs WHERE project_id = $1 AND role = $2 AND active`,
          [projectId, role],
        );
        if (current.rows[0]?.model_string === model) return toAgentConfig(current.rows[0]);
        await tx.query(
          `UPDATE agent_configs SET active = false, updated_at = NOW() WHERE project_id = $1 AND role = $2 AND active`,
          [projectId, role],
        );
        const { rows } = await tx.query<AgentConfigRow>(
          `INSERT INTO agent_configs (project_id, role, model_string, active) VALUES ($1, $2, $3, true) RETURNING *`,
          [projectId, role, model],
        );
        return toAgentConfig(rows[0]);
      });
    },

    async updateSettings(projectId, patch) {
      const { name, referenceSheetKey, ...settings } = patch;
      const current = await mustGet(projectId);
      const next = { ...current.config.globalSettings, ...settings };
      if (referenceSheetKey === null) delete next.referenceSheetKey;
      else if (referenceSheetKey !== undefined) next.referenceSheetKey = referenceSheetKey;
      const parsed = parseOrThrow(GlobalSettingsSchema, next);
      const changes = Object.fromEntries(Object.entries(parsed).filter(([k, v]) => (current.config.globalSettings as Record<string, unknown>)[k] !== v));
      // Merged in SQL (jsonb ||), so a concurrent change of another setting is not lost; a cleared
      // key is removed there too.
      const { rows } = await db.query<ProjectRow>(
        `UPDATE projects SET config = (config::jsonb || $2::jsonb) - $3::text[], name = COALESCE($4, name)
         WHERE id = $1 AND deleted_at IS NULL RETURNING *`,
        [projectId, JSON.stringify(changes), referenceSheetKey === null ? ["referenceSheetKey"] : [], name === undefined ? null : parseOrThrow(ProjectNameSchema, name)],
      );
      if (!rows[0]) throw new UserFacingError("NOT_FOUND", "I can't find that project; it may have been deleted.");
      return toProject(rows[0]);
    },

    async listForOwner(ownerUserId) {
      if (!UUID.test(ownerUserId)) return [];
      const { rows } = await db.query<ProjectRow>(
        `SELECT * FROM projects WHERE owner_user_id = $1 AND deleted_at IS NULL ORDER BY is_default DESC, created_at, id`,
        [ownerUserId],
      );
      return rows.map(toProject);
    },

    async agentConfigs(projectId) {
      const project = await mustGet(projectId);
      const { rows } = await db.query<AgentConfigRow>(
        `SELECT * FROM agent_configs WHERE project_id = $1 AND active`,
        [projectId],
      );
      const entries = AGENT_ROLES.map((role): [AgentRole, AgentConfig] => {
        const row = rows.find((r) => r.role === role);
        if (row) return [role, toAgentConfig(row)];
        return [
          role,
          AgentConfigSchema.parse({
            // Stable, so the same default reads with the same id every time.
            configId: stableUuid(`agent-config-default:${projectId}:${role}`),
            role,
            modelString: defaultAgentModel(role, project.config.globalSettings),
            active: true,
            updatedAt: project.createdAt.toISOString(),
          }),
        ];
      });
      return Object.fromEntries(entries) as Record<AgentRole, AgentConfig>;
    },
  };
}

function toProject(row: ProjectRow): Project {
  const createdAt = new Date(row.created_at);
  return {
    id: row.id,
    name: row.name,
    ownerUserId: row.owner_user_id,
    isDefault: row.is_default,
    config: ProjectConfigSchema.parse({
      projectId: row.id,
      projectName: row.name,
      globalSettings: typeof row.config === "string" ? JSON.parse(row.config) : row.config,
      creationTimestamp: createdAt.toISOString(),
    }),
    createdAt,
  };
}

function toAgentConfig(row: AgentConfigRow): AgentConfig {
  return AgentConfigSchema.parse({
    configId: row.id,
    role: row.role,
    modelString: row.model_string,
    active: row.active,
    updatedAt: new Date(row.updated_at).toISOString(),
  });
}
