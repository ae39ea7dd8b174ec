import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { dbTargets } from "./helpers/db.js";
import { createProjects } from "../store/projects.js";
import { updateProjectSettings } from "../store/projectSettings.js";

/** /project's writes: validated field by field, merged in one statement, so concurrent changes of different settings all land. */
describe.each(dbTargets)("project settings from chat on $name", (target) => {
  it("merges, validates and refuses what it cannot apply", async () => {
    const db = await target.open();
    try {
      const project = await createProjects(db).ensureDefault(null);
      await Promise.all([
        updateProjectSettings(db, project.id, { loraWeightsId: "miriN15" }),
        updateProjectSettings(db, project.id, { requireHumanApproval: false }),
      ]);
      const now = (await createProjects(db).get(project.id))!.config.globalSettings;
      expect(now).toMatchObject({ loraWeightsId: "miriN15", requireHumanApproval: false, llmModel: project.config.globalSettings.llmModel });
      await expect(updateProjectSettings(db, project.id, { loraWeightsId: "" })).rejects.toMatchObject({ code: "VALIDATION_ERROR" });
      await expect(updateProjectSettings(db, randomUUID(), { loraWeightsId: "x" })).rejects.toThrow(/can't find that project/);
      // A key the schema does not know is ignored, not stored.
      await updateProjectSettings(db, project.id, { nonsense: 1 } as never);
      const stored = await db.query<{ config: Record<string, unknown> }>("SELECT config FROM projects WHERE id = $1", [project.id]);
      expect(Object.keys(stored.rows[0].config)).not.toContain("nonsense");
    } finally {
      await db.end();
    }
  });
});
