import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "../store/db.js";
import { createProjects, DEFAULT_PROJECT_NAME, type Projects } from "../store/projects.js";
import { createRules, textKey } from "../store/rules.js";
import { createUsers } from "../store/users.js";
import { createOfflineEmbedder } from "../tools/offline/embedder.js";
import type { Embedder } from "../tools/ports.js";
import { dbTargets } from "./helpers/db.js";

/** Counts embedding calls, so tests can see that a repeated rule costs none. */
function countingEmbedder(inner: Embedder = createOfflineEmbedder(), model = inner.model) {
  const calls: string[][] = [];
  const embedder: Embedder = {
    model,
    dimensions: inner.dimensions,
    embed: async (texts) => (calls.push(texts), inner.embed(texts)),
  };
  return { embedder, calls };
}

describe.each(dbTargets)("on $name", (target) => {
  let db: Db;
  let projects: Projects;
  beforeAll(async () => {
    db = await target.open();
    projects = createProjects(db);
  });
  afterAll(async () => {
    await db?.end();
  });

  it("needs no vector extension", async () => {
    const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'vector'`);
    expect(rows[0].n).toBe(0);
  });

  describe("projects", () => {
    it("gives every owner (and nobody) one default project with the spec's defaults", async () => {
      const user = await createUsers(db).ensure({ platform: "slack", teamId: "T1", userId: `U-${randomUUID().slice(0, 8)}` });
      const [a, b] = await Promise.all([projects.ensureDefault(user.id), projects.ensureDefault(user.id)]);
      expect(a.id).toBe(b.id);
      expect(a).toMatchObject({ name: DEFAULT_PROJECT_NAME, ownerUserId: user.id, isDefault: true });
      expect(a.config).toEqual({
        projectId: a.id,
        projectName: DEFAULT_PROJECT_NAME,
        globalSettings: { llmModel: "gemini-3.1-pro-preview", imageModel: "flux-2-turbo", videoModel: "kling-o3", loraWeightsId: "miriN14", requireHumanApproval: true },
        creationTimestamp: a.createdAt.toISOString(),
      });
      const ownerless = await projects.ensureDefault();
      expect(ownerless.id).not.toBe(a.id);
      expect((await projects.ensureDefault(null)).id).toBe(ownerless.id);
      expect(await projects.get(a.id)).toEqual(a);
      expect(await projects.get(randomUUID())).toBeNull();
      expect(await projects.get("not-a-uuid")).toBeNull();
    });

    it("creates projects with validated settings", async () => {
      const p = await projects.create({ name: "  Album  ", settings: { loraWeightsId: "miriN15", requireHumanApproval: false } });
      expect(p.name).toBe("Album");
      expect(p.isDefault).toBe(false);
      expect(p.config.globalSettings).toMatchObject({ loraWeightsId: "miriN15", requireHumanApproval: false, videoModel: "kling-o3" });
      await expect(projects.create({ name: "" })).rejects.toThrow("VALIDATION_ERROR");
      await expect(projects.create({ name: "x", settings: { imageModel: "" } })).rejects.toThrow("VALIDATION_ERROR");
    });

    it("changes settings from chat: LoRA, models, approval policy and reference sheet, merged, validated, listed per owner", async () => {
      const user = await createUsers(db).ensure({ platform: "discord", userId: `D-${randomUUID().slice(0, 8)}` });
      // A first project can take the deployment's model as its LLM; an existing one keeps its own.
      const first = await projects.ensureDefault(user.id, { llmModel: "gemini-3.8-flash" });
      expect(first.config.globalSettings.llmModel).toBe("gemini-3.8-flash");
      expect((await projects.ensureDefault(user.id, { llmModel: "gemini-3.5-flash" })).config.globalSettings.llmModel).toBe("gemini-3.8-flash");

      const sheet = `${"a".repeat(64)}.png`;
      // Two changes at once both land: each merges its own keys.
      await Promise.all([
        projects.updateSettings(first.id, { loraWeightsId: "miriN15" }),
        projects.updateSettings(first.id, { requireHumanApproval: false, referenceSheetKey: sheet }),
      ]);
      const changed = await projects.updateSettings(first.id, { videoModel: "luma-ray-2", name: "Tour" });
      expect(changed.name).toBe("Tour");
      expect(changed.config.globalSettings).toEqual({
        llmModel: "gemini-3.8-flash", imageModel: "flux-2-turbo", videoModel: "luma-ray-2", loraWeightsId: "miriN15", requireHumanApproval: false, referenceSheetKey: sheet,
      });
      expect((await projects.updateSettings(first.id, { referenceSheetKey: null })).config.globalSettings.referenceSheetKey).toBeUndefined();
      await expect(projects.updateSettings(first.id, { loraWeightsId: "" })).rejects.toThrow("VALIDATION_ERROR");
      await expect(projects.updateSettings(first.id, { referenceSheetKey: "../etc/passwd" })).rejects.toThrow("VALIDATION_ERROR");
      await expect(projects.updateSettings(randomUUID(), { loraWeightsId: "x" })).rejects.toThrow("NOT_FOUND");

      const other = await projects.create({ name: "B-sides", ownerUserId: user.id });
      expect((await projects.listForOwner(user.id)).map((p) => p.id)).toEqual([first.id, other.id]);
      expect(await projects.listForOwner("nobody")).toEqual([]);
    });

    it("fills agent configs with defaults and keeps one active model per role", async () => {
      const p = await projects.create({ name: "Agents", settings: { llmModel: "gemini-2.5-pro" } });
      const defaults = await projects.agentConfigs(p.id);
      expect(Object.keys(defaults)).toEqual(["ORCHESTRATOR", "AUDITOR", "VISION_ANALYZER", "DIRECTOR"]);
      for (const c of Object.values(defaults)) expect(c).toMatchObject({ modelString: "gemini-2.5-pro", active: true });
      expect(await projects.agentConfigs(p.id)).toEqual(defaults); // stable ids

      const first = await projects.setAgentConfig(p.id, "AUDITOR", "gemini-2.5-flash");
      const second = await projects.setAgentConfig(p.id, "AUDITOR", "gemini-3.1-pro-preview");
      expect(await projects.setAgentConfig(p.id, "AUDITOR", "gemini-3.1-pro-preview")).toEqual(second); // unchanged: no new row
      const configs = await projects.agentConfigs(p.id);
      expect(configs.AUDITOR).toEqual(second);
      expect(configs.DIRECTOR).toEqual(defaults.DIRECTOR);
      const { rows } = await db.query<{ id: string; active: boolean }>(
        `SELECT id, active FROM agent_configs WHERE project_id = $1 AND role = 'AUDITOR' ORDER BY updated_at, id`,
        [p.id],
      );
      expect(rows).toHaveLength(2);
      expect(rows.filter((r) => r.active).map((r) => r.id)).toEqual([second.configId]);
      expect(rows.map((r) => r.id)).toContain(first.configId);
      // The database itself refuses a second active row.
      await expect(
        db.query(`INSERT INTO agent_configs (project_id, role, model_string) VALUES ($1, 'AUDITOR', 'x')`, [p.id]),
      ).rejects.toThrow(/unique|duplicate/i);
      await expect(projects.agentConfigs(randomUUID())).rejects.toThrow("NOT_FOUND");
    });
  });

  describe("rules", () => {
    it("adds, dedups, lists and soft-deletes", async () => {
      const p = await projects.create({ name: "Rules" });
      const { embedder, calls } = countingEmbedder();
      const rules = createRules(db, embedder);
      const a = await rules.add(p.id, "Avoid bare shoulders", { kind: "rejection", shotId: "s1" });
      expect(a).toMatchObject({ projectId: p.id, text: "Avoid bare shoulders", created: true, embeddingModel: "offline-hash", source: { kind: "rejection", shotId: "s1" } });
      const again = await rules.add(p.id, "  avoid bare   shoulders. ");
      expect(again).toMatchObject({ id: a.id, created: false, text: "Avoid bare shoulders" });
      expect(calls).toHaveLength(1); // the repeat cost no embedding
      const b = await rules.add(p.id, "Always soft morning light", { kind: "manual" });
      expect((await rules.list(p.id)).map((r) => r.id)).toEqual([a.id, b.id]);

      expect(await rules.remove(p.id, a.id)).toBe(true);
      expect(await rules.remove(p.id, a.id)).toBe(false);
      expect((await rules.list(p.id)).map((r) => r.id)).toEqual([b.id]);
      const { rows } = await db.query<{ deleted_at: Date | null }>(`SELECT deleted_at FROM rules WHERE id = $1`, [a.id]);
      expect(rows[0].deleted_at).not.toBeNull(); // soft: still there
      // After removal the same rule can be learnt again, as a new row.
      const relearnt = await rules.add(p.id, "Avoid bare shoulders");
      expect(relearnt.created).toBe(true);
      expect(relearnt.id).not.toBe(a.id);

      await expect(rules.add(p.id, "   ")).rejects.toThrow("VALIDATION_ERROR");
      await expect(rules.add(randomUUID(), "Avoid hats")).rejects.toThrow("NOT_FOUND");
      expect(await rules.remove(p.id, "nope")).toBe(false);
      expect(textKey("Avoid  Bare shoulders!")).toBe("avoid bare shoulders");
    });

    it("ranks the closest rule first, within the project only", async () => {
      const p = await projects.create({ name: "Ranking" });
      const other = await projects.create({ name: "Other" });
      const rules = createRules(db, createOfflineEmbedder());
      const shoulders = await rules.add(p.id, "Avoid bare shoulders");
      const mouth = await rules.add(p.id, "Avoid an open mouth");
      const light = await rules.add(p.id, "Always soft morning light");
      await rules.add(other.id, "Avoid bare shoulders and bare arms");

      const forDress = await rules.relevant(p.id, "She wears a dress that shows her bare shoulder");
      expect(forDress).toHaveLength(3); // k = 3 and no minScore: every rule, best first
      expect(forDress[0]).toMatchObject({ id: shoulders.id, projectId: p.id });
      expect(forDress[0].score).toBeGreaterThan(0.4);
      expect(forDress.every((r) => r.projectId === p.id)).toBe(true);
      for (let i = 1; i < forDress.length; i++) expect(forDress[i - 1].score).toBeGreaterThanOrEqual(forDress[i].score);

      const forFace = await rules.relevant(p.id, "close-up of her face, mouth open in song", 1);
      expect(forFace.map((r) => r.id)).toEqual([mouth.id]);
      const strict = await rules.relevant(p.id, "morning light over the hills", 3, 0.3);
      expect(strict.map((r) => r.id)).toEqual([light.id]);
      expect(await rules.relevant(p.id, "anything", 0)).toEqual([]);
      expect(await rules.relevant(randomUUID(), "anything")).toEqual([]);
    });

    it("re-embeds rules stored by another embedding model before ranking", async () => {
      const p = await projects.create({ name: "Model switch" });
      const old = createRules(db, countingEmbedder(createOfflineEmbedder({ dimensions: 64 }), "old-model").embedder);
      const r = await old.add(p.id, "Avoid bare shoulders");
      expect(r.embeddingModel).toBe("old-model");
      const { embedder, calls } = countingEmbedder();
      const ranked = await createRules(db, embedder).relevant(p.id, "bare shoulders");
      expect(ranked[0]).toMatchObject({ id: r.id, embeddingModel: "offline-hash" });
      expect(ranked[0].score).toBeGreaterThan(0.5);
      expect(calls).toEqual([["Avoid bare shoulders"], ["bare shoulders"]]);
      const { rows } = await db.query<{ embedding_model: string; embedding: number[] }>(`SELECT embedding_model, embedding FROM rules WHERE id = $1`, [r.id]);
      expect(rows[0].embedding_model).toBe("offline-hash");
      expect(rows[0].embedding).toHaveLength(256);
    });
  });
});
