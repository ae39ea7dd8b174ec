import type { z } from "zod";
import type { Db } from "./db.js";
import { UserFacingError } from "../core/errors.js";
import { parseOrThrow } from "../core/text.js";
import { GlobalSettingsSchema, type GlobalSettings } from "../core/project-config.js";

/*
 * Changing a project's settings (LoRA, models, requireHumanApproval) from chat. The new settings
 * are parsed by the spec's schema before they are written, and the write merges into the stored
 * object inside one statement, so two people changing different settings at once both keep theirs.
 * (Kept apart from store/projects.ts, which another change is extending; see docs/slack.md.)
 */
export async function updateProjectSettings(db: Db, projectId: string, patch: Partial<GlobalSettings>): Promise<GlobalSettings> {
  // Each given field through its own schema: parsing the patch as a whole would fill in defaults
  // for the fields it does not name, and overwrite them.
  const shape = GlobalSettingsSchema.shape;
  const clean: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(patch)) {
    if (!(key in shape) || value === undefined) continue;
    clean[key] = parseOrThrow(shape[key as keyof typeof shape] as z.ZodType, value);
  }
  const r = await db.query<{ config: unknown }>(
    `UPDATE projects SET config = COALESCE(config, '{}'::jsonb) || $2::jsonb
     WHERE id = $1 AND deleted_at IS NULL RETURNING config`,
    [projectId, JSON.stringify(clean)],
  );
  if (!r.rows[0]) throw new UserFacingError("NOT_FOUND", "I can't find that project; it may have been deleted.");
  const config = typeof r.rows[0].config === "string" ? JSON.parse(r.rows[0].config) : r.rows[0].config;
  return GlobalSettingsSchema.parse(config);
}
