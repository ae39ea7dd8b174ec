/**
 * A finished render is paid for: fetching it may fail any number of ways (a 404, a timeout, a full
 * disk, a late or duplicate answer), and each is retried as fetching — never sent to the next
 * engine, never paid again. The ledger enforces it in SQL: completed is final, and a failed call is
 * never completed by a late answer.
 */
import { describe, expect, it } from "vitest";
import { dbTargets } from "./helpers/db.js";
import { brandImage, createPipeline, finished, OWNER, reviewsOpen } from "./helpers/pipeline.js";
import { createLedger } from "../store/ledger.js";
import type { Media } from "../tools/ports.js";

describe.each(dbTargets)("fetching finished renders on $name", (target) => {
  it("a 404, a timeout and a full disk while fetching are retried as fetching: one submission each, no fallback", async () => {
    const p = await createPipeline(await target.open(), "postgres");
    try {
      const { jobId } = await p.runner.start({ actor: OWNER, file: { bytes: await brandImage(81), filename: "brand.png" } });
      await reviewsOpen(p.runner, jobId, 3);
      const engine = (await p.runner.view(jobId))!.engine!;
      const port = p.tools.engines[engine];
      const faults: Array<() => Error> = [
        () => Object.assign(new Error("download failed: HTTP 404"), { status: 404 }),
        () => Object.assign(new Error("deadline of 300000 ms exceeded"), { name: "DeadlineError" }),
      ];
      const result = port.result.bind(port);
      port.result = async (requestId, signal) => {
        const fault = faults.shift();
        if (fault) throw fault();
        return result(requestId, signal);
      };
      let fullDisk = 1;
      const put = p.tools.blobs.put.bind(p.tools.blobs);
      p.tools.blobs.put = async (media: Media) => {
        if (media.contentType.startsWith("video/") && fullDisk-- > 0) throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
        return put(media);
      };

      await p.runner.approveAll(jobId, OWNER);
      const view = await finished(p.runner, jobId);
      expect(view.stage).toBe("done");
      expect(faults).toHaveLength(0);
      expect(fullDisk).toBeLessThan(0);
      expect(p.meters.engines[engine].calls.submit).toBe(3);
      for (const other of Object.keys(p.meters.engines) as Array<keyof typeof p.meters.engines>) {
        if (other !== engine) expect(p.meters.engines[other].calls.submit ?? 0).toBe(0);
      }
      const calls = await p.db.query<{ status: string }>("SELECT status FROM provider_calls WHERE job_id = $1 AND operation = 'clip'", [jobId]);
      expect(calls.rows.map((r) => r.status)).toEqual(["completed", "completed", "completed"]);
      expect(view.scenes.every((s) => s.engine === engine && s.status === "completed")).toBe(true);

      // A webhook arriving after all this is a duplicate and changes nothing.
      const request = await p.db.query<{ request_id: string }>("SELECT request_id FROM provider_calls WHERE job_id = $1 AND operation = 'clip' LIMIT 1", [jobId]);
      expect(await p.runner.providerResult(request.rows[0].request_id)).toBe("duplicate");
      await p.runner.idle();
      expect(p.meters.engines[engine].calls.submit).toBe(3);
    } finally {
      await p.close();
    }
  });

  it("the ledger: completed is final, and a failed call is not completed by a late answer", async () => {
    const db = await target.open();
    try {
      const ledger = createLedger(db);
      const job = await db.query<{ id: string }>(
        `INSERT INTO users (platform, platform_user_id) VALUES ('cli', 'ledger-test') RETURNING id`,
      ).then(async (u) => db.query<{ id: string }>(
        `INSERT INTO vision_jobs (user_id, image_url, original_filename, mime_type, file_size) VALUES ($1, 'k', 'a.png', 'image/png', 1) RETURNING id`,
        [u.rows[0].id],
      ));
      const meta = (key: string) => ({ key, jobId: job.rows[0].id, operation: "clip", provider: "KLING" });
      await ledger.begin(meta("a"), "req-a");
      expect(await ledger.complete("a", { clipKey: "first" })).toBe(true);
      expect(await ledger.complete("a", { clipKey: "second" })).toBe(false);
      expect(await ledger.fail("a", "late failure")).toBe(false);
      expect(await ledger.get("a")).toMatchObject({ status: "completed", result: { clipKey: "first" } });

      await ledger.begin(meta("b"), "req-b");
      expect(await ledger.fail("b", "cancelled with the job")).toBe(true);
      expect(await ledger.complete("b", { clipKey: "late" })).toBe(false);
      expect(await ledger.get("b")).toMatchObject({ status: "failed", result: null });
    } finally {
      await db.end();
    }
  });
});
