/**
 * Waiting is not failing (issue 12 items 1 and 2): the whole app with real SDKs against the strict
 * fal stand-in, whose renders wait IN_QUEUE behind the account's concurrency limit for longer than
 * any deadline the bot configures. Short queue times keep the tests fast; what matters is that the
 * queue outlasts every deadline (VIDEO_DEADLINE_MS here), as a real queue outlasts the old 5 min.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { loadConfig } from "../bot/config.js";
import { createApp, type App } from "../bot/app.js";
import { createFalStandin, type FalStandin } from "./standins/fal.js";
import { createGeminiStandin, type GeminiStandin } from "./standins/gemini.js";
import { createDeepSeekStandin, type DeepSeekStandin } from "./standins/deepseek.js";
import { brandImage, finished, OWNER, reviewsOpen } from "./helpers/pipeline.js";
import { waitFor } from "./helpers/waitFor.js";

describe("renders waiting in fal's queue (real SDKs, strict stand-ins)", () => {
  let fal: FalStandin, gemini: GeminiStandin, deepseek: DeepSeekStandin, dir: string;
  let app: App | undefined;

  beforeEach(async () => {
    [fal, gemini, deepseek] = await Promise.all([
      createFalStandin({ apiKey: "fal-test" }), createGeminiStandin({ apiKey: "gem-test" }), createDeepSeekStandin({ apiKey: "ds-test" }),
    ]);
    dir = mkdtempSync(path.join(tmpdir(), "reelbot-queue-"));
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
    await Promise.all([fal.close(), gemini.close(), deepseek.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  const open = async () => {
    app = await createApp(loadConfig({
      DATA_DIR: dir, LOG_LEVEL: "silent", GEMINI_API_KEY: "gem-test", GEMINI_BASE_URL: gemini.url,
      DEEPSEEK_API_KEY: "ds-test", DEEPSEEK_BASE_URL: deepseek.url, FAL_API_KEY: "fal-test", FAL_API_URL: fal.url,
      LORA_URL_TEMPLATE: "https://weights.example.invalid/{id}.safetensors",
      VIDEO_POLL_INTERVAL_MS: "250", VIDEO_DEADLINE_MS: "1000",
    }), { logger: pino({ level: "silent" }) });
    return app;
  };
  const clips = () => fal.accepted().filter((s) => s.model.includes("video"));
  const clipCharges = () => fal.billing().filter((e) => e.model.includes("video"));

  it("a render queued longer than the old 5-min deadline finishes on its first engine with one payment", async () => {
    const app = await open();
    const { jobId } = await app.runner.start({ actor: OWNER, file: { bytes: await brandImage(41), filename: "brand.png" } });
    await reviewsOpen(app.runner, jobId, 3);
    // One render at a time, each first waiting 3 s in the queue: three times the 1 s deadline.
    fal.setTimings({ queueMs: 3_000, runMs: 300, concurrency: 1 });
    await app.runner.approveAll(jobId, OWNER);
    await waitFor("three clip submissions", () => clips().length === 3);
    // The cards say why nothing has happened yet: the provider reports the render queued.
    await waitFor("a queue note on a card", async () => (await app.runner.view(jobId))!.scenes.some((s) => /waiting in the provider's queue/i.test(s.renderNote ?? "")));

    const done = await finished(app.runner, jobId);
    expect(done.stage).toBe("done");
    // Kling (the routed engine) rendered every scene; no fallback engine was submitted or paid.
    expect(clips().map((s) => s.model)).toEqual(Array(3).fill("fal-ai/kling-video/v2.5-turbo/pro/image-to-video"));
    expect(clipCharges()).toHaveLength(3);
    expect(fal.cancellations).toEqual([]);
    expect(done.scenes.every((s) => s.engine === "KLING")).toBe(true);
    const owner = await app.runner.users.ensure(OWNER);
    expect(await app.runner.store.credits.balance(owner.id)).toBe(10 - 4); // 1 + 1 + 2 credits, none refunded
  });

  it("cancel during queue removes the request with nothing billed", async () => {
    const app = await open();
    const { jobId } = await app.runner.start({ actor: OWNER, file: { bytes: await brandImage(42), filename: "brand.png" } });
    await reviewsOpen(app.runner, jobId, 3);
    fal.setTimings({ queueMs: 60_000 });
    await app.runner.approveAll(jobId, OWNER);
    await waitFor("three clip submissions", () => clips().length === 3);

    expect((await app.runner.cancel({ jobId, actor: OWNER })).ok).toBe(true);
    await waitFor("three cancellations", () => fal.cancellations.length === 3);
    expect(fal.cancellations.map((c) => c.requestId).sort()).toEqual(clips().map((s) => s.requestId).sort());
    expect(fal.cancellations.every((c) => c.state === "IN_QUEUE")).toBe(true);
    fal.setTimings({ queueMs: 0 }); // were anything still queued, it would run and bill now
    await new Promise((r) => setTimeout(r, 300));
    expect(clipCharges()).toEqual([]);
    expect(clips()).toHaveLength(3);
  });
});
