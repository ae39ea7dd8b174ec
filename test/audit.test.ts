/**
 * The audit log keeps what was asked and refused, not only what changed: stale, foreign and
 * rate-limited clicks, and every credit movement in the transaction that makes it. The spec's
 * general limit (100 requests a minute per user) applies to every request.
 */
import { describe, expect, it } from "vitest";
import { dbTargets } from "./helpers/db.js";
import { brandImage, createPipeline, OWNER, reviewsOpen, STRANGER } from "./helpers/pipeline.js";

describe.each(dbTargets)("audit of refusals and credits on $name", (target) => {
  it("audits refused clicks and credit changes, and enforces the general limit", async () => {
    const p = await createPipeline(await target.open(), "memory", { clipCredits: { KLING: 1, LUMA: 1, GEMINI_PRO: 1 } });
    try {
      const { jobId } = await p.runner.start({ actor: OWNER, file: { bytes: await brandImage(91), filename: "brand.png" } });
      const cards = await reviewsOpen(p.runner, jobId, 3);
      const owner = await p.runner.users.ensure(OWNER);
      const stranger = await p.runner.users.ensure(STRANGER);

      expect((await p.runner.decide({ jobId, sceneIndex: 0, versionNo: cards[0].versionNo, decision: "GREEN", actor: STRANGER })).status).toBe("forbidden");
      expect((await p.runner.decide({ jobId, sceneIndex: 1, versionNo: 99, decision: "RED", actor: OWNER })).status).toBe("stale");
      expect((await p.runner.decide({ jobId, sceneIndex: 2, versionNo: cards[2].versionNo, decision: "GREEN", actor: OWNER })).status).toBe("queued");
      await p.runner.store.credits.grant(owner.id, 5, "grant:test-1");

      const rows = async (action: string) =>
        (await p.db.query<{ user_id: string; details: Record<string, unknown> }>("SELECT user_id, details FROM audit_logs WHERE action = $1", [action])).rows;
      expect(await rows("decision.refused")).toEqual(expect.arrayContaining([
        expect.objectContaining({ user_id: stranger.id, details: expect.objectContaining({ status: "forbidden", decision: "GREEN" }) }),
        expect.objectContaining({ user_id: owner.id, details: expect.objectContaining({ status: "stale", decision: "RED" }) }),
      ]));
      expect(await rows("credits.reserved")).toEqual([expect.objectContaining({ user_id: owner.id, details: expect.objectContaining({ amount: 1 }) })]);
      expect(await rows("credits.granted")).toEqual([expect.objectContaining({ user_id: owner.id, details: expect.objectContaining({ amount: 5 }) })]);

      // The general limit: the stranger's 100 requests in a minute are answered; the 101st is refused, with when to retry.
      for (let i = 0; i < 99; i++) await p.runner.store.limits.consume(stranger.id, "general");
      const refused = await p.runner.decide({ jobId, sceneIndex: 0, versionNo: cards[0].versionNo, decision: "RED", actor: STRANGER });
      expect(refused).toMatchObject({ ok: false, status: "rate_limited" });
      expect(refused.retryAfterS).toBeGreaterThan(0);
      expect((await rows("decision.refused")).filter((r) => r.details.status === "rate_limited")).toHaveLength(1);
    } finally {
      await p.close();
    }
  });
});
