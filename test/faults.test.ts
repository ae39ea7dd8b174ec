/**
 * Nothing lost, nothing paid twice, with real processes: a worker (`bot/main.ts --role worker`) is
 * killed with SIGKILL at each stage of a job and a new one is started 0.5 s later, or after the
 * dead worker's lock has expired. The job must reach its next state on its own within the lock
 * time plus a few seconds (the new process's start-up included), and every provider operation
 * must have been sent once — except where the test says which call was in flight at the kill and
 * why it is sent again. The stand-ins count every request; the ingress is this test process.
 * Postgres only (TEST_DATABASE_URL, set by CI).
 */
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { createWorld, type World } from "./helpers/world.js";
import { waitUntil } from "./helpers/processes.js";
import { brandImage, OWNER } from "./helpers/pipeline.js";

const url = process.env.TEST_DATABASE_URL;
/** A new worker process takes a few seconds to start (tsx, imports, migrations check). */
const STARTUP_MS = 12_000;
const STAGES = ["analysing", "styling", "review", "rendering", "assembling"] as const;
type Stage = (typeof STAGES)[number];

describe.skipIf(!url)("a worker killed with SIGKILL at each stage, on Postgres", () => {
  let world: World | undefined;
  afterEach(async () => {
    await world?.close();
    world = undefined;
  });

  const sent = (w: World) => ({
    analysis: w.gemini.requests.length,
    storyboard: w.deepseek.requests.length,
    style: w.fal.submissions.filter((s) => s.model.includes("image-to-image")).length,
    previews: w.fal.submissions.filter((s) => s.model.includes("flux/schnell")).length,
    clips: w.fal.submissions.filter((s) => s.model.includes("video")).length,
  });
  const view = (w: World, jobId: string) => w.ingress.runner.view(jobId);
  const reviewsOpen = async (w: World, jobId: string) => (await view(w, jobId))?.scenes.filter((s) => s.awaiting === "review").length === 3;
  const done = async (w: World, jobId: string) => (await view(w, jobId))?.stage === "done";

  describe.each([
    { restart: "0.5 s later", delayMs: () => 500 },
    { restart: "after the dead worker's lock expired", delayMs: (w: World) => w.lockMs + 500 },
  ])("restarted $restart", ({ delayMs }) => {
    it.each(STAGES)("killed while %s: the job goes on, and nothing is paid twice", async (stage: Stage) => {
      const w = (world = await createWorld(url!));
      // Arrange the stall that keeps the first worker in the stage.
      if (stage === "analysing") w.gemini.hangNext();
      if (stage === "styling") w.fal.setPollsBeforeDone(1_000_000);
      if (stage === "assembling") writeFileSync(w.stallFile, "");
      const { jobId } = await w.ingress.runner.start({ actor: OWNER, file: { bytes: await brandImage(40), filename: "brand.png" } });
      const first = w.spawnWorker();

      if (stage === "analysing") await waitUntil("the analysis in flight", () => w.gemini.requests.length === 1);
      if (stage === "styling") {
        // The style reference was accepted by fal and its request id recorded (polling has begun).
        await waitUntil("the style reference queued at fal", () => {
          const style = w.fal.submissions.find((s) => s.model.includes("image-to-image") && s.requestId);
          return Boolean(style && w.fal.statusPolls(style.requestId!) > 0);
        });
      }
      if (stage === "review" || stage === "rendering" || stage === "assembling") {
        await waitUntil("every scene at review", () => reviewsOpen(w, jobId));
      }
      if (stage === "rendering") w.fal.setPollsBeforeDone(1_000_000);
      if (stage === "rendering" || stage === "assembling") {
        expect((await w.ingress.runner.approveAll(jobId, OWNER)).approved).toBe(3);
      }
      if (stage === "rendering") {
        await waitUntil("three renders queued at fal", async () => sent(w).clips === 3 && (await view(w, jobId))!.scenes.every((s) => s.awaiting === "render"));
      }
      if (stage === "assembling") await waitUntil("the final stitch started", () => existsSync(`${w.stallFile}.reached`));

      await first.kill9();
      await new Promise((r) => setTimeout(r, delayMs(w)));
      // What held the first worker is gone now: the second gets normal answers.
      if (stage === "styling" || stage === "rendering") {
        w.fal.setPollsBeforeDone(0);
        w.fal.completeQueued();
      }
      if (stage === "assembling") rmSync(w.stallFile);
      const restartedAt = Date.now();
      w.spawnWorker();

      // The next state a user would see, reached on its own.
      if (stage === "review") {
        // Nothing was running: the job waits for a human, and the new worker applies the click.
        expect((await w.ingress.runner.approveAll(jobId, OWNER)).approved).toBe(3);
      }
      const next = stage === "analysing" || stage === "styling" ? () => reviewsOpen(w, jobId) : () => done(w, jobId);
      await waitUntil(`the job after a kill while ${stage}`, next, w.lockMs + STARTUP_MS + 15_000);
      expect(Date.now() - restartedAt, "from the restart to the next state").toBeLessThan(w.lockMs + STARTUP_MS + 15_000);

      const calls = sent(w);
      // The analysis was in flight when the worker died: Gemini is asked again (a call with no
      // request id to wait for; README, "Resilience"). Every other call went out exactly once.
      expect(calls.analysis).toBe(stage === "analysing" ? 2 : 1);
      expect(calls.storyboard).toBe(1);
      expect(calls.style).toBe(1);
      expect(calls.previews).toBe(3);
      expect(calls.clips).toBe(stage === "analysing" || stage === "styling" ? 0 : 3);
      if (calls.clips === 3) {
        const final = await view(w, jobId);
        expect(final!.finalVideoKey).toBeTruthy();
        // What fal bills equals what the job booked for fal's operations: nothing twice.
        const booked = await w.ingress.db.query<{ total: string }>(
          "SELECT COALESCE(SUM(cost), 0) AS total FROM provider_calls WHERE job_id = $1 AND operation IN ('style_reference', 'preview', 'clip') AND status <> 'failed'",
          [jobId],
        );
        expect(Number(booked.rows[0].total)).toBeCloseTo(w.fal.billedTotal(), 4);
      }
    });
  });
});

