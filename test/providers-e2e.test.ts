import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { loadConfig } from "../bot/config.js";
import { createApp, type App } from "../bot/app.js";
import { createFalStandin, type FalStandin } from "./standins/fal.js";
import { createGeminiStandin, type GeminiStandin } from "./standins/gemini.js";
import { createDeepSeekStandin, type DeepSeekStandin } from "./standins/deepseek.js";
import { brandImage, finished, OWNER, reviewsOpen } from "./helpers/pipeline.js";

/**
 * The whole app with every key set: the real Gemini, DeepSeek and fal SDKs, configured from env
 * exactly as in production, talking to loopback stand-ins of the providers.
 */
describe("a job against the real provider SDKs (loopback stand-ins)", () => {
  let fal: FalStandin, gemini: GeminiStandin, deepseek: DeepSeekStandin, dir: string;
  const apps: App[] = [];

  beforeEach(async () => {
    [fal, gemini, deepseek] = await Promise.all([
      createFalStandin({ apiKey: "fal-test" }), createGeminiStandin({ apiKey: "gem-test" }), createDeepSeekStandin({ apiKey: "ds-test" }),
    ]);
    dir = mkdtempSync(path.join(tmpdir(), "reelbot-e2e-"));
  });
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
    await Promise.all([fal.close(), gemini.close(), deepseek.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  const open = async () => {
    const config = loadConfig({
      DATA_DIR: dir, LOG_LEVEL: "silent", GEMINI_API_KEY: "gem-test", GEMINI_BASE_URL: gemini.url,
      DEEPSEEK_API_KEY: "ds-test", DEEPSEEK_BASE_URL: deepseek.url, FAL_API_KEY: "fal-test", FAL_API_URL: fal.url,
      VIDEO_POLL_INTERVAL_MS: "250",
    });
    const app = await createApp(config, { logger: pino({ level: "silent" }) });
    apps.push(app);
    return app;
  };

  it("runs a whole job, paying each provider once per decision and charging credits", async () => {
    const app = await open();
    expect(app.toolModes).toEqual({ analyst: "real", director: "real", illustrator: "real", video: "real" });
    const { jobId } = await app.runner.start({ actor: OWNER, file: { bytes: await brandImage(21), filename: "brand.png" } });
    await reviewsOpen(app.runner, jobId, 3);
    expect(gemini.requests).toHaveLength(1);
    expect(deepseek.requests).toHaveLength(1);
    const accepted = () => fal.accepted().map((s) => s.model);
    expect(accepted().filter((m) => m.includes("flux/schnell"))).toHaveLength(3);
    expect(accepted().filter((m) => m.includes("image-to-image"))).toHaveLength(1);

    const view = (await app.runner.view(jobId))!;
    expect(view.approvalCredits).toBeGreaterThan(0);
    await app.runner.approveAll(jobId, OWNER);
    const done = await finished(app.runner, jobId);
    expect(done.stage).toBe("done");
    const clips = accepted().filter((m) => m.includes("video"));
    expect(clips).toHaveLength(3);
    const owner = await app.runner.users.ensure(OWNER);
    expect(await app.runner.store.credits.balance(owner.id)).toBe(10 - 3 * view.approvalCredits);
    expect(done.costUsd).toBeGreaterThan(0);
    // Every request carried the key, and results were copied into our blob store.
    expect(fal.requests.filter((r) => r.host.includes("queue")).every((r) => r.authorized)).toBe(true);
    expect((await app.tools.editor.probe(await app.tools.blobs.get(done.finalVideoKey!))).videoCodec).toBe("h264");
  });

  it("collects the same fal request after a restart while a render is queued", async () => {
    const app = await open();
    const { jobId } = await app.runner.start({ actor: OWNER, file: { bytes: await brandImage(22), filename: "brand.png" } });
    await reviewsOpen(app.runner, jobId, 3);
    fal.setPollsBeforeDone(1_000_000); // renders stay IN_QUEUE in this process
    await app.runner.approveAll(jobId, OWNER);
    await waitFor(() => fal.accepted().filter((s) => s.model.includes("video")).length === 3);
    await waitFor(async () => (await app.runner.view(jobId))!.scenes.every((s) => s.awaiting === "render"));
    await app.close();
    apps.splice(apps.indexOf(app), 1);

    fal.setPollsBeforeDone(0);
    fal.completeQueued();
    const fresh = await open();
    await fresh.runner.recover();
    const done = await finished(fresh.runner, jobId);
    expect(done.stage).toBe("done");
    expect(fal.accepted().filter((s) => s.model.includes("video"))).toHaveLength(3);
  });
});

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}
