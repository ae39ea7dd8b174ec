import { describe, expect, it } from "vitest";
import { dbTargets } from "./helpers/db.js";
import { brandImage, createPipeline, finished, OWNER, reviewsOpen } from "./helpers/pipeline.js";

const clipCredits = { KLING: 2, LUMA: 2, GEMINI_PRO: 2 };

describe.each(dbTargets)("credits on $name", (target) => {
  it("reserves on 🟢, refunds when every engine fails, and refuses when credits run out", async () => {
    const p = await createPipeline(await target.open(), "postgres", { clipCredits });
    try {
      const { jobId } = await p.runner.start({ actor: OWNER, file: { bytes: await brandImage(11), filename: "brand.png" } });
      await reviewsOpen(p.runner, jobId, 3);
      const owner = await p.runner.users.ensure(OWNER);
      const view = (await p.runner.view(jobId))!;
      expect(view.approvalCredits).toBe(2);
      expect(view.ownerCredits).toBe(10);

      // Every engine fails for scene 1: its credits come back and the scene returns to review.
      for (const e of Object.values(p.meters.engines)) e.failAlways(true);
      expect((await p.runner.decide({ jobId, sceneIndex: 0, versionNo: 1, decision: "GREEN", actor: OWNER })).ok).toBe(true);
      expect(await p.runner.store.credits.balance(owner.id)).toBe(8);
      await reviewsOpen(p.runner, jobId, 3);
      expect(await p.runner.store.credits.balance(owner.id)).toBe(10);
      const failed = (await p.runner.view(jobId))!.scenes[0];
      expect(failed.awaiting).toBe("review");
      expect(failed.errorMessage).toMatch(/No engine could render this scene, so its credits were refunded/);
      for (const e of Object.values(p.meters.engines)) e.failAlways(false);

      // Down to 3 credits: one approval fits, the next is refused and nothing is submitted.
      await p.db.query("UPDATE users SET credits_remaining = 3 WHERE id = $1", [owner.id]);
      const submitsBefore = Object.values(p.meters.engines).reduce((n, e) => n + (e.calls.submit ?? 0), 0);
      const first = await p.runner.decide({ jobId, sceneIndex: 1, versionNo: 1, decision: "GREEN", actor: OWNER });
      const second = await p.runner.decide({ jobId, sceneIndex: 2, versionNo: 1, decision: "GREEN", actor: OWNER });
      expect(first.ok).toBe(true);
      expect(second).toMatchObject({ ok: false, status: "insufficient_credits" });
      expect(second.message).toMatch(/costs 2 credits and you have 1 left/);
      await p.runner.idle();
      const submitsAfter = Object.values(p.meters.engines).reduce((n, e) => n + (e.calls.submit ?? 0), 0);
      expect(submitsAfter - submitsBefore).toBe(1);
      expect(await p.runner.store.credits.balance(owner.id)).toBe(1);
      expect((await p.runner.view(jobId))!.scenes[2].awaiting).toBe("review");

      // Credits granted: the job can finish, and what it cost is on the job.
      await p.runner.store.credits.grant(owner.id, 10, "grant:test");
      await p.runner.approveAll(jobId, OWNER);
      const done = await finished(p.runner, jobId);
      expect(done.stage).toBe("done");
      expect(done.creditsUsed).toBe(6);
      const row = await p.db.query<{ credits_used: string }>("SELECT credits_used FROM vision_job_video_prompts WHERE job_id = $1", [jobId]);
      expect(Number(row.rows[0].credits_used)).toBe(6);
      expect(await p.runner.store.credits.balance(owner.id)).toBe(7);
      await expect(p.db.query("DELETE FROM credit_ledger")).rejects.toThrow(/append-only/);
    } finally {
      await p.close();
    }
  });
});
