import { describe, expect, it } from "vitest";
import { dbTargets } from "./helpers/db.js";
import { blankImage, brandImage, createPipeline, finished, OWNER, reviewAt, reviewsOpen, STRANGER, type SaverKind } from "./helpers/pipeline.js";
import { waitFor } from "./helpers/waitFor.js";

/** Graph tests run on MemorySaver and on PostgresSaver, over every database target. */
const matrix = dbTargets.flatMap((target) =>
  (["memory", "postgres"] as SaverKind[]).map((saver) => ({ name: `${target.name}/${saver}`, target, saver })),
);

describe.each(matrix)("production graph on $name", ({ target, saver }) => {
  const open = async (settings = {}) => createPipeline(await target.open(), saver, settings);

  it("runs a whole job: analysis, style reference, ≥3 concurrent previews, reviews, clips, final MP4", async () => {
    const p = await open();
    try {
      const { jobId } = await p.runner.start({ actor: OWNER, file: { bytes: await brandImage(1), filename: "brand.png" } });
      const cards = await reviewsOpen(p.runner, jobId, 3);
      expect(cards).toHaveLength(3);
      // Previews of all scenes exist before anything is approved: the financial firewall.
      expect(p.meters.illustrator.calls.preview).toBe(3);
      expect(p.meters.engines.KLING.total() + p.meters.engines.LUMA.total() + p.meters.engines.GEMINI_PRO.total()).toBe(0);

      const job = await p.runner.store.jobs.get(jobId);
      expect(job!.styleReferenceKey).toBeTruthy();
      expect(job!.styleReferenceKey).not.toBe(job!.inputKey);
      expect(job!.styleProcessing).toMatchObject({ method: "flux-dev-img2img" });
      expect(job!.styleProcessing!.strength).toBeGreaterThanOrEqual(0.3);
      expect(job!.styleProcessing!.strength).toBeLessThanOrEqual(0.5);
      expect(typeof job!.styleProcessing!.seed).toBe("number");

      for (const card of cards) {
        const r = await p.runner.decide({ jobId, sceneIndex: card.index, versionNo: card.versionNo, decision: "GREEN", actor: OWNER });
        expect(r).toMatchObject({ ok: true, status: "queued" });
      }
      const view = await finished(p.runner, jobId);
      expect(view.stage).toBe("done");
      expect(view.scenes.every((s) => s.status === "completed" && s.clipKey)).toBe(true);

      // Exactly one paid call of each kind per decision.
      expect(p.meters.analyst.calls.analyzeBrand).toBe(1);
      expect(p.meters.director.calls.directScenes).toBe(1);
      expect(p.meters.illustrator.calls.styleReference).toBe(1);
      expect(p.meters.illustrator.calls.preview).toBe(3);
      const engine = view.engine!;
      expect(p.meters.engines[engine].calls.submit).toBe(3);

      // The final video is a real H.264 MP4 with one segment per scene.
      const final = await p.tools.blobs.get(view.finalVideoKey!);
      const probe = await p.tools.editor.probe(final);
      expect(probe.videoCodec).toBe("h264");
      expect(probe.durationS).toBeCloseTo(3, 0);
      expect(p.events.some((e) => e.type === "final" && e.view.jobId === jobId)).toBe(true);
    } finally {
      await p.close();
    }
  });

  it("flags a low-integrity image with a reason about integrity and spends nothing more", async () => {
    const p = await open();
    try {
      const { jobId } = await p.runner.start({ actor: OWNER, file: { bytes: await blankImage(), filename: "blank.png" } });
      const view = await finished(p.runner, jobId);
      expect(view.stage).toBe("flagged");
      expect(view.error).toContain("integrity");
      const job = await p.runner.store.jobs.get(jobId);
      expect(job!.status).toBe("flagged");
      expect(p.meters.illustrator.total()).toBe(0);
      expect(p.meters.director.total()).toBe(0);
    } finally {
      await p.close();
    }
  });

  it("decides several pending reviews in any order; RED re-rolls, YELLOW edits with the scene's own history", async () => {
    const p = await open();
    try {
      const { jobId } = await p.runner.start({ actor: OWNER, file: { bytes: await brandImage(2), filename: "brand.png" } });
      let cards = await reviewsOpen(p.runner, jobId, 3);
      // Scene 3 first, then scene 1: order does not matter.
      await p.runner.decide({ jobId, sceneIndex: 2, versionNo: 1, decision: "YELLOW", note: "Make it warmer", actor: OWNER });
      await p.runner.decide({ jobId, sceneIndex: 0, versionNo: 1, decision: "RED", actor: OWNER });
      cards = await reviewsOpen(p.runner, jobId, 3);
      expect(cards.find((c) => c.index === 0)!.versionNo).toBe(2);
      expect(cards.find((c) => c.index === 2)!.versionNo).toBe(2);
      expect(cards.find((c) => c.index === 1)!.versionNo).toBe(1);
      expect(p.meters.director.calls.rerollScene).toBe(1);
      expect(p.meters.analyst.calls.editScene).toBe(1);

      await p.runner.decide({ jobId, sceneIndex: 2, versionNo: 2, decision: "YELLOW", note: "Add more motion", actor: OWNER });
      cards = await reviewsOpen(p.runner, jobId, 3);
      const scene3 = cards.find((c) => c.index === 2)!;
      expect(scene3.versionNo).toBe(3);
      // Spec §7 test 5: user + assistant turns per edit, and the first edit's context is kept.
      const history = await p.runner.store.scenes.messages(scene3.sceneId);
      expect(history).toHaveLength(4);
      expect(history[0].content).toContain("warmer");
      const secondPayload = p.meters.analyst.log.filter((l) => l.method === "editScene")[1].args[0] as { conversation_history: unknown[]; prompt_history: unknown[]; user_feedback: string };
      expect(secondPayload.conversation_history).toHaveLength(2);
      expect(secondPayload.prompt_history).toHaveLength(2);
      expect(secondPayload.user_feedback).toBe("Add more motion");
      const versions = await p.runner.store.scenes.versions(scene3.sceneId);
      expect(versions.map((v) => v.kind)).toEqual(["preview", "edit", "edit"]);

      await p.runner.approveAll(jobId, OWNER);
      const view = await finished(p.runner, jobId);
      expect(view.stage).toBe("done");
      expect(p.meters.illustrator.calls.preview).toBe(3 + 3);
      expect(p.meters.engines[view.engine!].calls.submit).toBe(3);
    } finally {
      await p.close();
    }
  });

  it("treats stale ids, double clicks and strangers as no-ops with a clear answer", async () => {
    const p = await open();
    try {
      const { jobId } = await p.runner.start({ actor: OWNER, file: { bytes: await brandImage(3), filename: "brand.png" } });
      await reviewsOpen(p.runner, jobId, 3);
      const refused = await p.runner.decide({ jobId, sceneIndex: 0, versionNo: 1, decision: "GREEN", actor: STRANGER });
      expect(refused).toMatchObject({ ok: false, status: "forbidden" });

      const [first, second] = await Promise.all([
        p.runner.decide({ jobId, sceneIndex: 1, versionNo: 1, decision: "RED", actor: OWNER }),
        p.runner.decide({ jobId, sceneIndex: 1, versionNo: 1, decision: "RED", actor: OWNER }),
      ]);
      expect([first.status, second.status].sort()).toEqual(["duplicate", "queued"]);
      const cards = await reviewsOpen(p.runner, jobId, 3);
      expect(cards.find((c) => c.index === 1)!.versionNo).toBe(2);
      expect(p.meters.director.calls.rerollScene).toBe(1);

      // A click on the replaced card (version 1) is stale and changes nothing.
      const stale = await p.runner.decide({ jobId, sceneIndex: 1, versionNo: 1, decision: "GREEN", actor: OWNER });
      expect(stale).toMatchObject({ ok: false, status: "stale" });
      // An interrupt id that is no longer pending is stale too.
      const oldId = p.events.flatMap((e) => (e.type === "scene" && e.card.index === 1 && e.card.versionNo === 1 ? [e.card.interruptId] : []))[0];
      const staleId = await p.runner.decide({ jobId, interruptId: oldId!, decision: "GREEN", actor: OWNER });
      expect(staleId.status).toBe("stale");
      const yellowWithoutNote = await p.runner.decide({ jobId, sceneIndex: 0, decision: "YELLOW", actor: OWNER });
      expect(yellowWithoutNote.status).toBe("invalid");

      // A configured approver may decide on someone else's job.
      const approver = await p.runner.decide({ jobId, sceneIndex: 0, versionNo: 1, decision: "GREEN", actor: { platform: "slack", teamId: "T1", userId: "U-approver" } });
      expect(approver.ok).toBe(true);
      await p.runner.idle();
      expect((await p.runner.view(jobId))!.scenes[0].decidedBy).toBe("U-approver");
      expect(p.meters.director.calls.rerollScene).toBe(1);
    } finally {
      await p.close();
    }
  });

  it("Approve all is one request against the production limit, however many scenes it approves", async () => {
    const p = await open({ sceneCount: 7 });
    try {
      const { jobId } = await p.runner.start({ actor: OWNER, file: { bytes: await brandImage(8), filename: "brand.png" } });
      await reviewsOpen(p.runner, jobId, 7);
      const result = await p.runner.approveAll(jobId, OWNER);
      expect(result).toMatchObject({ ok: true, status: "queued", approved: 7, refused: 0 });
      expect(result.message).toBe("7 scenes 🟢 approved.");
      const view = await finished(p.runner, jobId);
      expect(view.stage).toBe("done");
      // 7 renders, one unit of the 5-a-minute limit: four more single approvals still fit.
      const user = await p.runner.users.ensure(OWNER);
      for (let i = 0; i < 4; i++) expect((await p.runner.store.limits.consume(user.id, "production")).allowed).toBe(true);
      expect((await p.runner.store.limits.consume(user.id, "production")).allowed).toBe(false);
    } finally {
      await p.close();
    }
  });

  it("falls back from a failing engine along the spec's chain and records it", async () => {
    const p = await open();
    try {
      // A colourful, busy image routes to Kling or Luma; fail whichever it is.
      const { jobId } = await p.runner.start({ actor: OWNER, file: { bytes: await brandImage(4), filename: "brand.png" } });
      await reviewsOpen(p.runner, jobId, 3);
      const primary = (await p.runner.view(jobId))!.engine!;
      p.meters.engines[primary].failAlways(true);
      await p.runner.decide({ jobId, sceneIndex: 0, versionNo: 1, decision: "GREEN", actor: OWNER });
      await p.runner.idle();
      const sceneId = (await p.runner.view(jobId))!.scenes[0].sceneId;
      await waitFor("a clip version", async () => (await p.runner.store.scenes.versions(sceneId)).some((v) => v.kind === "clip"));
      const clip = (await p.runner.store.scenes.versions(sceneId)).find((v) => v.kind === "clip")!;
      const expected = { KLING: "LUMA", LUMA: "GEMINI_PRO", GEMINI_PRO: "LUMA" }[primary];
      expect(clip.engine).toBe(expected);
      expect(clip.fallbackTriggered).toBe(true);
      expect(p.meters.engines[primary].calls.submit).toBe(1);
    } finally {
      await p.close();
    }
  });

  it("a job that failed as a whole is tried again from where it stopped, keeping what was approved", async () => {
    const p = await open();
    try {
      const { jobId } = await p.runner.start({ actor: OWNER, file: { bytes: await brandImage(9), filename: "brand.png" } });
      await reviewsOpen(p.runner, jobId, 3);
      p.meters.editor.failAlways(true); // the final stitch fails for good
      await p.runner.approveAll(jobId, OWNER);
      const failed = await finished(p.runner, jobId);
      expect(failed.stage).toBe("failed");
      expect(failed.error).toBeTruthy();
      expect((await p.runner.retry({ jobId, actor: STRANGER })).status).toBe("forbidden");

      p.meters.editor.failAlways(false);
      const retried = await p.runner.retry({ jobId, actor: OWNER });
      expect(retried).toMatchObject({ ok: true, status: "queued" });
      const view = await finished(p.runner, jobId);
      expect(view.stage).toBe("done");
      // Nothing approved, previewed or rendered was made again.
      expect(p.meters.illustrator.calls.preview).toBe(3);
      expect(p.meters.engines[view.engine!].calls.submit).toBe(3);
      expect((await p.runner.retry({ jobId, actor: OWNER })).status).toBe("invalid");
    } finally {
      await p.close();
    }
  });

  it("brings an earlier version of a brand scene back as a new version, paying for nothing", async () => {
    const p = await open();
    try {
      const { jobId } = await p.runner.start({ actor: OWNER, file: { bytes: await brandImage(10), filename: "brand.png" } });
      await reviewsOpen(p.runner, jobId, 3);
      await p.runner.decide({ jobId, sceneIndex: 0, versionNo: 1, decision: "RED", actor: OWNER });
      await reviewAt(p.runner, jobId, 0, 2);
      const paid = { previews: p.meters.illustrator.calls.preview, rerolls: p.meters.director.calls.rerollScene };
      expect((await p.runner.revert({ jobId, sceneIndex: 0, toVersion: 1, actor: OWNER })).ok).toBe(true);
      await reviewAt(p.runner, jobId, 0, 3);
      const versions = await p.runner.versions(jobId, 0);
      expect(versions.map((v) => v.kind)).toEqual(["preview", "reroll", "revert"]);
      expect(versions[2].previewKey).toBe(versions[0].previewKey);
      expect(versions[2].cinematographyPrompt).toBe(versions[0].cinematographyPrompt);
      expect({ previews: p.meters.illustrator.calls.preview, rerolls: p.meters.director.calls.rerollScene }).toEqual(paid);
    } finally {
      await p.close();
    }
  });

  it("rejects a bad upload with a typed error and leaves no job behind", async () => {
    const p = await open();
    try {
      const exe = Buffer.concat([Buffer.from("MZ"), Buffer.alloc(2000, 7)]);
      await expect(p.runner.start({ actor: OWNER, file: { bytes: exe, filename: "../../../etc/evil.jpg", declaredType: "image/jpeg" } }))
        .rejects.toMatchObject({ code: "UNSUPPORTED_FILE" });
      const user = await p.runner.users.ensure(OWNER);
      expect(await p.runner.jobsOf(user.id)).toHaveLength(0);
      expect(p.meters.analyst.total()).toBe(0);
    } finally {
      await p.close();
    }
  });

  it("reuses the paid analysis when the same user drops the same file again", async () => {
    const p = await open();
    try {
      const bytes = await brandImage(5);
      const a = await p.runner.start({ actor: OWNER, file: { bytes, filename: "a.png" } });
      await reviewsOpen(p.runner, a.jobId, 3);
      const b = await p.runner.start({ actor: OWNER, file: { bytes, filename: "b.png" } });
      await reviewsOpen(p.runner, b.jobId, 3);
      expect(p.meters.analyst.calls.analyzeBrand).toBe(1);
    } finally {
      await p.close();
    }
  });
});

/** Restarts need a checkpoint that outlives the process: PostgresSaver only. */
describe.each(dbTargets)("restarts on $name", (target) => {
  it("resumes from a fresh process and saver, paying for nothing twice", async () => {
    const p = await createPipeline(await target.open(), "postgres");
    try {
      const { jobId } = await p.runner.start({ actor: OWNER, file: { bytes: await brandImage(6), filename: "brand.png" } });
      await reviewsOpen(p.runner, jobId, 3);
      await p.runner.close();
      // The fresh process finds the job through the engine's queue and the unfinished jobs in SQL.
      const fresh = await p.restart();
      await fresh.idle();
      const r = await fresh.decide({ jobId, sceneIndex: 0, versionNo: 1, decision: "RED", actor: OWNER });
      expect(r.ok).toBe(true);
      await reviewsOpen(fresh, jobId, 3);
      await fresh.approveAll(jobId, OWNER);
      const view = await finished(fresh, jobId);
      expect(view.stage).toBe("done");
      expect(p.meters.analyst.calls.analyzeBrand).toBe(1);
      expect(p.meters.illustrator.calls.preview).toBe(4);
      expect(p.meters.engines[view.engine!].calls.submit).toBe(3);
    } finally {
      await p.close();
    }
  });

  it("survives a restart in the middle of a render: the same request is collected, not paid again", async () => {
    const p = await createPipeline(await target.open(), "postgres");
    try {
      const { jobId } = await p.runner.start({ actor: OWNER, file: { bytes: await brandImage(7), filename: "brand.png" } });
      await reviewsOpen(p.runner, jobId, 3);
      const engine = (await p.runner.view(jobId))!.engine!;
      // Renders are held in this process: the "crash" happens while they are in flight.
      p.holdRenders(true);
      await p.runner.approveAll(jobId, OWNER);
      await waitFor("three submissions", async () => (p.meters.engines[engine].calls.submit ?? 0) >= 3);
      await waitFor("every scene awaiting its render", async () => (await p.runner.view(jobId))!.scenes.every((s) => s.awaiting === "render"));
      await p.runner.close();
      p.holdRenders(false);

      const fresh = await p.restart();
      const view = await finished(fresh, jobId);
      expect(view.stage).toBe("done");
      expect(p.meters.engines[engine].calls.submit).toBe(3);
      expect(p.meters.illustrator.calls.preview).toBe(3);
    } finally {
      await p.close();
    }
  });

  it("two processes clicking at once apply each decision once", async () => {
    const p = await createPipeline(await target.open(), "postgres");
    try {
      const { jobId } = await p.runner.start({ actor: OWNER, file: { bytes: await brandImage(8), filename: "brand.png" } });
      await reviewsOpen(p.runner, jobId, 3);
      const other = await p.restart();
      const results = await Promise.all([
        p.runner.decide({ jobId, sceneIndex: 0, versionNo: 1, decision: "GREEN", actor: OWNER }),
        other.decide({ jobId, sceneIndex: 0, versionNo: 1, decision: "RED", actor: OWNER }),
        other.decide({ jobId, sceneIndex: 1, versionNo: 1, decision: "RED", actor: OWNER }),
      ]);
      expect(results.filter((r) => r.ok)).toHaveLength(2);
      await Promise.all([p.runner.idle(), other.idle()]);
      await reviewsOpen(p.runner, jobId, 1);
      expect(p.meters.director.calls.rerollScene ?? 0).toBe(results[0].ok ? 1 : 2);
    } finally {
      await p.close();
    }
  });
});
