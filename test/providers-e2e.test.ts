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
import { brandImage, finished, OWNER, reviewsOpen, songMp3 } from "./helpers/pipeline.js";
import { createHash, generateKeyPairSync, sign } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createPublicServer } from "../bot/publicServer.js";
import { createLinkSigner } from "../bot/links/sign.js";
import { waitFor } from "./helpers/waitFor.js";

const LINK_SECRET = Buffer.from("providers-e2e-link-secret-of-32-bytes-or-more");

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

  const open = async (extra: Record<string, string> = {}) => {
    const config = loadConfig({
      ...extra,
      DATA_DIR: dir, LOG_LEVEL: "silent", GEMINI_API_KEY: "gem-test", GEMINI_BASE_URL: gemini.url,
      DEEPSEEK_API_KEY: "ds-test", DEEPSEEK_BASE_URL: deepseek.url, FAL_API_KEY: "fal-test", FAL_API_URL: fal.url,
      VIDEO_POLL_INTERVAL_MS: "250", LORA_URL_TEMPLATE: "https://weights.example.invalid/loras/{id}.safetensors",
    });
    const app = await createApp(config, { logger: pino({ level: "silent" }) });
    apps.push(app);
    return app;
  };

  it("runs a whole job, paying each provider once per decision and charging credits", async () => {
    const app = await open();
    expect(app.toolModes).toEqual({ analyst: "real", director: "real", illustrator: "real", video: "real", storage: "local" });
    const { jobId } = await app.runner.start({ actor: OWNER, file: { bytes: await brandImage(21), filename: "brand.png" } });
    await reviewsOpen(app.runner, jobId, 3);
    expect(gemini.requests).toHaveLength(1);
    expect(deepseek.requests).toHaveLength(1);
    const accepted = () => fal.accepted().map((s) => s.model);
    expect(accepted().filter((m) => m.includes("flux/schnell"))).toHaveLength(3);
    expect(accepted().filter((m) => m.includes("image-to-image"))).toHaveLength(1);

    const view = (await app.runner.view(jobId))!;
    // Credits follow each clip's price: the storyboard's third scene is 10 s, twice a 5 s Kling clip.
    const perScene = view.scenes.map((c) => c.approvalCredits);
    expect(perScene).toEqual([1, 1, 2]);
    expect(view.approvalCredits).toBe(2);
    await app.runner.approveAll(jobId, OWNER);
    const done = await finished(app.runner, jobId);
    expect(done.stage).toBe("done");
    const clips = accepted().filter((m) => m.includes("video"));
    expect(clips).toHaveLength(3);
    const owner = await app.runner.users.ensure(OWNER);
    expect(await app.runner.store.credits.balance(owner.id)).toBe(10 - 4);
    expect(done.costUsd).toBeGreaterThan(0);
    // Every request carried the key, and results were copied into our blob store.
    expect(fal.requests.filter((r) => r.host.includes("queue")).every((r) => r.authorized)).toBe(true);
    expect((await app.tools.editor.probe(await app.tools.blobs.get(done.finalVideoKey!))).videoCodec).toBe("h264");
  });

  it("books a 3-scene job at exactly what fal bills, line by line, and each model call once", async () => {
    const app = await open();
    const { jobId } = await app.runner.start({ actor: OWNER, file: { bytes: await brandImage(24), filename: "brand.png" } });
    await reviewsOpen(app.runner, jobId, 3);
    await app.runner.approveAll(jobId, OWNER);
    const done = await finished(app.runner, jobId);
    expect(done.stage).toBe("done");

    const rows = (await app.db.query<{ provider: string; cost: string }>(
      "SELECT provider, cost FROM provider_calls WHERE job_id = $1 AND status <> 'failed'", [jobId],
    )).rows;
    const usd = (list: Array<{ cost: string }>) => Math.round(list.reduce((n, r) => n + Number(r.cost), 0) * 1e4) / 1e4;
    const falRows = rows.filter((r) => ["illustrator", "KLING", "LUMA", "GEMINI_PRO"].includes(r.provider));
    // One style reference, three previews, three clips (5 s, 5 s and the storyboard's 10 s scene).
    expect(falRows.map((r) => Number(r.cost)).sort()).toEqual(fal.billing().map((e) => e.usd).sort());
    expect(usd(falRows)).toBe(fal.billedTotal());
    expect(fal.billedTotal()).toBe(0.025 + 3 * 0.003 + 0.35 + 0.35 + 0.7);
    // Model calls are token-billed and booked at an estimate: one line per request the stand-ins answered.
    const modelRows = rows.filter((r) => ["analyst", "director"].includes(r.provider));
    expect(modelRows).toHaveLength(gemini.requests.length + deepseek.requests.length);
    expect(modelRows.every((r) => Number(r.cost) > 0)).toBe(true);
    expect(done.costUsd).toBeCloseTo(usd(rows), 4);
  });

  it("runs a song job: Gemini hears the MP3, fal draws through the LoRA, Kling gets anchor frames", async () => {
    const app = await open();
    const { jobId } = await app.runner.start({ actor: OWNER, file: { bytes: await songMp3(12), filename: "song.mp3" } });
    await reviewsOpen(app.runner, jobId, 1);
    const shots = await app.runner.store.scenes.list(jobId);
    const cards = await reviewsOpen(app.runner, jobId, shots.length);
    const heard = gemini.requests.flatMap((r) => r.media ?? []).filter((m) => m.mimeType === "audio/mp3");
    expect(heard).toHaveLength(1);
    // Cuts land on the beats of the decoded song (a kick every 500 ms), not on the model's guesses.
    for (const s of shots.slice(1)) expect(Math.abs(s.startMs! - Math.round(s.startMs! / 500) * 500)).toBeLessThanOrEqual(40);
    // The project's reference sheet once, then each shot's start and end frame, drawn from references.
    const shotImages = fal.accepted().filter((s) => s.model.includes("flux-2/lora"));
    expect(shotImages).toHaveLength(1 + 2 * cards.length);
    expect(JSON.stringify(shotImages[0].input)).toContain("miriN14");
    expect(shotImages.slice(1).every((s) => s.model.endsWith("/edit") && Array.isArray((s.input as { image_urls?: unknown[] }).image_urls))).toBe(true);
    await app.runner.approveAll(jobId, OWNER);
    const done = await finished(app.runner, jobId);
    expect(done.stage).toBe("done");
    const clips = fal.accepted().filter((s) => s.model.includes("video"));
    expect(clips).toHaveLength(cards.length);
    for (const c of clips) {
      const input = c.input as { tail_image_url?: string; duration: string; prompt: string };
      expect(input.tail_image_url).toBeTruthy();
      expect(input.prompt).toMatch(/^S0\d_V1_KLING Start frame:/);
      // The shortest Kling clip that covers its shot: never shorter, so nothing is held.
      const shot = shots[Number(input.prompt.slice(1, 3)) - 1];
      expect(Number(input.duration) * 1000).toBeGreaterThanOrEqual(shot.endMs! - shot.startMs!);
      expect(Number(input.duration) === 5 || shot.endMs! - shot.startMs! > 5000).toBe(true);
    }
    const probe = await app.tools.editor.probe((await app.tools.blobs.file(done.finalVideoKey!)).path);
    expect(probe.audioCodec).toBeTruthy();
  });

  it("collects the same fal request after a restart while a render is queued", async () => {
    const app = await open();
    const { jobId } = await app.runner.start({ actor: OWNER, file: { bytes: await brandImage(22), filename: "brand.png" } });
    await reviewsOpen(app.runner, jobId, 3);
    fal.setPollsBeforeDone(1_000_000); // renders stay IN_QUEUE in this process
    await app.runner.approveAll(jobId, OWNER);
    await waitFor("three video submissions", () => fal.accepted().filter((s) => s.model.includes("video")).length === 3);
    await waitFor("every scene awaiting its render", async () => (await app.runner.view(jobId))!.scenes.every((s) => s.awaiting === "render"));
    await app.close();
    apps.splice(apps.indexOf(app), 1);

    fal.setPollsBeforeDone(0);
    fal.completeQueued();
    // The new process finds the parked renders through the job engine and polls them.
    const fresh = await open();
    const done = await finished(fresh.runner, jobId);
    expect(done.stage).toBe("done");
    expect(fal.accepted().filter((s) => s.model.includes("video"))).toHaveLength(3);
  });
});

describe("fal webhooks resume parked renders", () => {
  it("waits for signed webhooks instead of polling, and ignores replays", async () => {
    const fal = await createFalStandin({ apiKey: "fal-test" });
    const keys = generateKeyPairSync("ed25519");
    const jwks = http.createServer((_req, res) => res.writeHead(200, { "content-type": "application/json" })
      .end(JSON.stringify({ keys: [keys.publicKey.export({ format: "jwk" })] })));
    await new Promise<void>((r) => jwks.listen(0, "127.0.0.1", r));
    const dir = mkdtempSync(path.join(tmpdir(), "reelbot-webhook-"));
    const app = await createApp(loadConfig({
      DATA_DIR: dir, LOG_LEVEL: "silent", FAL_API_KEY: "fal-test", FAL_API_URL: fal.url, PUBLIC_URL: "https://bot.example.com",
      VIDEO_POLL_INTERVAL_MS: "250", VIDEO_WEBHOOK_GRACE_MS: "120000",
    }), { logger: pino({ level: "silent" }) });
    const server = createPublicServer({
      runner: app.runner, blobs: app.tools.blobs, logger: app.logger, port: 0, host: "127.0.0.1",
      falJwksUrl: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`,
      linkSecret: LINK_SECRET,
    });
    const port = await server.start();
    // laterS: fal re-signs a retried delivery with a later timestamp (an identical one is a replay).
    const deliver = async (requestId: string, laterS = 0) => {
      const body = Buffer.from(JSON.stringify({ request_id: requestId, gateway_request_id: requestId, status: "OK", payload: {} }));
      const ts = String(Math.floor(Date.now() / 1000) + laterS);
      const message = `${requestId}\nuser-1\n${ts}\n${createHash("sha256").update(body).digest("hex")}`;
      const headers = {
        "content-type": "application/json", "x-fal-webhook-request-id": requestId, "x-fal-webhook-user-id": "user-1",
        "x-fal-webhook-timestamp": ts, "x-fal-webhook-signature": sign(null, Buffer.from(message), keys.privateKey).toString("hex"),
      };
      return fetch(`http://127.0.0.1:${port}/webhooks/fal`, { method: "POST", body, headers });
    };
    try {
      const { jobId } = await app.runner.start({ actor: OWNER, file: { bytes: await brandImage(23), filename: "brand.png" } });
      await reviewsOpen(app.runner, jobId, 3);
      const videos = () => fal.accepted().filter((s) => s.model.includes("video"));
      await app.runner.approveAll(jobId, OWNER);
      await waitFor("three videos", () => videos().length === 3);
      // Every submission told fal where to call back.
      expect(videos().every((s) => s.webhookUrl?.startsWith("https://bot.example.com/webhooks/fal?call="))).toBe(true);
      await new Promise((r) => setTimeout(r, 1_000));
      expect((await app.runner.view(jobId))!.stage).toBe("reviewing"); // nothing collected before a webhook

      const forged = await fetch(`http://127.0.0.1:${port}/webhooks/fal`, { method: "POST", body: "{}", headers: { "x-fal-webhook-request-id": "x" } });
      expect(forged.status).toBe(401);
      for (const s of videos()) expect((await deliver(s.requestId!)).status).toBe(200);
      const done = await finished(app.runner, jobId);
      expect(done.stage).toBe("done");
      // A late duplicate delivery is acknowledged and changes nothing.
      expect((await deliver(videos()[0].requestId!, 2)).status).toBe(200);
      expect(await app.runner.providerResult(videos()[0].requestId!)).toBe("duplicate");
      expect(videos()).toHaveLength(3);
      // The public listener also serves the finished video (for chats whose upload limit it exceeds),
      // through a signed link only (bot/links/sign.ts): a bare key is refused.
      const signed = createLinkSigner(LINK_SECRET).sign(done.finalVideoKey!, 3600);
      const link = await fetch(`http://127.0.0.1:${port}${signed.path}`, { headers: { range: "bytes=0-99" } });
      expect(link.status).toBe(206);
      expect((await fetch(`http://127.0.0.1:${port}/blobs/${done.finalVideoKey}`)).status).toBe(403);
      expect((await fetch(`http://127.0.0.1:${port}/blobs/../../etc/passwd`)).status).toBe(404);
    } finally {
      await server.stop();
      await app.close();
      await fal.close();
      jwks.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("a submission whose answer was lost is adopted from its webhook", () => {
  it("pays once: the connection dropped after fal queued the render, and fal's delivery names our call key", async () => {
    const fal = await createFalStandin({ apiKey: "fal-test" });
    const keys = generateKeyPairSync("ed25519");
    const jwks = http.createServer((_req, res) => res.writeHead(200, { "content-type": "application/json" })
      .end(JSON.stringify({ keys: [keys.publicKey.export({ format: "jwk" })] })));
    await new Promise<void>((r) => jwks.listen(0, "127.0.0.1", r));
    const dir = mkdtempSync(path.join(tmpdir(), "reelbot-adopt-"));
    const app = await createApp(loadConfig({
      DATA_DIR: dir, LOG_LEVEL: "silent", FAL_API_KEY: "fal-test", FAL_API_URL: fal.url, PUBLIC_URL: "https://bot.example.com",
      FAL_WEBHOOK_USER_ID: "user-1", VIDEO_POLL_INTERVAL_MS: "250", VIDEO_WEBHOOK_GRACE_MS: "120000", VIDEO_ADOPT_GRACE_MS: "600000",
    }), { logger: pino({ level: "silent" }) });
    const server = createPublicServer({
      runner: app.runner, blobs: app.tools.blobs, logger: app.logger, port: 0, host: "127.0.0.1",
      falJwksUrl: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`, falUserId: "user-1",
    });
    const port = await server.start();
    /** A signed delivery to the URL the submission gave fal (its call key included). */
    const deliver = async (requestId: string, webhookUrl: string, userId = "user-1") => {
      const body = Buffer.from(JSON.stringify({ request_id: requestId, gateway_request_id: requestId, status: "OK", payload: {} }));
      const ts = String(Math.floor(Date.now() / 1000));
      const message = `${requestId}\n${userId}\n${ts}\n${createHash("sha256").update(body).digest("hex")}`;
      const headers = {
        "content-type": "application/json", "x-fal-webhook-request-id": requestId, "x-fal-webhook-user-id": userId,
        "x-fal-webhook-timestamp": ts, "x-fal-webhook-signature": sign(null, Buffer.from(message), keys.privateKey).toString("hex"),
      };
      const target = new URL(webhookUrl);
      return fetch(`http://127.0.0.1:${port}${target.pathname}${target.search}`, { method: "POST", body, headers });
    };
    try {
      const { jobId } = await app.runner.start({ actor: OWNER, file: { bytes: await brandImage(24), filename: "brand.png" } });
      const cards = await reviewsOpen(app.runner, jobId, 3);
      const videos = () => fal.submissions.filter((s) => s.model.includes("video"));
      fal.acceptThenDrop(1); // fal queues (and will bill) the render; our side never hears back
      await app.runner.decide({ jobId, sceneIndex: cards[0].index, versionNo: cards[0].versionNo, decision: "GREEN", actor: OWNER });
      await waitFor("one video", () => videos().length === 1);
      await new Promise((r) => setTimeout(r, 1_500));
      // Not sent again while its delivery may still come, and not moved to another engine.
      expect(videos()).toHaveLength(1);
      const lost = videos()[0];
      expect(lost.requestId).toBeTruthy();
      expect(new URL(lost.webhookUrl!).searchParams.get("call")).toMatch(/:clip:/);

      // A delivery signed for another fal account is refused and adopts nothing.
      expect((await deliver(lost.requestId!, lost.webhookUrl!, "someone-else")).status).toBe(403);
      expect(await app.runner.store.ledger.byRequestId(lost.requestId!)).toBeNull();

      fal.completeQueued();
      expect((await deliver(lost.requestId!, lost.webhookUrl!)).status).toBe(200);
      await waitFor("the first card's scene completed", async () => (await app.runner.view(jobId))!.scenes.find((s) => s.index === cards[0].index)!.status === "completed");
      expect(videos()).toHaveLength(1);
      expect(fal.billing().filter((b) => b.model.includes("video"))).toHaveLength(1);
    } finally {
      await server.stop();
      await app.close();
      await fal.close();
      jwks.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
