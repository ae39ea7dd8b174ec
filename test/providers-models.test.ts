/**
 * Model ids and the Gemini and DeepSeek stand-ins' rules: a retired model is refused the way the
 * provider refuses it, start-up says so first, and `npm run smoke:providers` checks every
 * configured id for free. Real SDKs (@langchain/google-genai, openai) against the stand-ins.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import OpenAI from "openai";
import pino from "pino";
import sharp from "sharp";
import { loadConfig, startupWarnings } from "../bot/config.js";
import { createApp, type App } from "../bot/app.js";
import { runSmoke } from "../scripts/smoke-providers.js";
import { ClientError, SPEC_POLICIES, createResilience, type ResiliencePolicy } from "../tools/resilience.js";
import { createGeminiAnalyst } from "../tools/gemini.js";
import { createGeminiSongAnalyst } from "../tools/gemini-song.js";
import { createDeepSeekDirector } from "../tools/deepseek.js";
import { createGeminiEmbedder } from "../tools/gemini-embedder.js";
import { createGeminiStandin, type GeminiStandin } from "./standins/gemini.js";
import { createDeepSeekStandin, type DeepSeekStandin } from "./standins/deepseek.js";
import { createFalStandin, type FalStandin } from "./standins/fal.js";
import { brandImage, finished, OWNER } from "./helpers/pipeline.js";

const GEMINI_KEY = "gem-test";
const DEEPSEEK_KEY = "ds-test";
const FAL_KEY = "fal-test";
let gemini: GeminiStandin, deepseek: DeepSeekStandin, fal: FalStandin;

beforeAll(async () => {
  [gemini, deepseek, fal] = await Promise.all([
    createGeminiStandin({ apiKey: GEMINI_KEY, inlineLimitBytes: 64 * 1024 }), createDeepSeekStandin({ apiKey: DEEPSEEK_KEY }), createFalStandin({ apiKey: FAL_KEY }),
  ]);
});
afterAll(() => Promise.all([gemini.close(), deepseek.close(), fal.close()]));
beforeEach(() => {
  gemini.reset();
  deepseek.reset();
  fal.reset();
});

const png = async () => ({ data: new Uint8Array(await brandImage(3)), contentType: "image/png" });

describe("Gemini stand-in: models, quota 429s, inline data", () => {
  it("refuses a shut-down model with Google's 404, which the analyst turns into a plain sentence (not retried)", async () => {
    const analyst = createGeminiAnalyst({ apiKey: GEMINI_KEY, model: "gemini-2.5-flash", baseUrl: gemini.url });
    const layer = createResilience({ policies: SPEC_POLICIES, delayScale: 0.001 });
    const err = await layer.wrap("GEMINI", analyst.analyzeBrand)(await png()).catch((e: unknown) => e);
    await layer.shutdown();
    expect(err).toBeInstanceOf(ClientError);
    expect(err).toMatchObject({ status: 404 });
    expect((err as ClientError).userMessage).toMatch(/model this bot is set to use is not available/);
    expect(gemini.requests).toHaveLength(1);
    const info = (model: string) => fetch(`${gemini.url}/v1beta/models/${model}`, { headers: { "x-goog-api-key": GEMINI_KEY } });
    expect((await info("gemini-2.5-pro")).status).toBe(404);
    expect((await info("gemini-3.5-flash-lite")).status).toBe(200);
  });

  it("a quota 429 with only google.rpc.Help (no RetryInfo) is retryable with our own backoff, and the layer gets through", async () => {
    gemini.rateLimit(1, null);
    const analyst = createGeminiAnalyst({ apiKey: GEMINI_KEY, model: "gemini-3.5-flash-lite", baseUrl: gemini.url });
    const raw = await analyst.analyzeBrand(await png()).catch((e: unknown) => e);
    expect(raw).toMatchObject({ code: "EXTERNAL_RATE_LIMIT", retryable: true, status: 429, retryAfterMs: undefined });
    const policies: Record<string, ResiliencePolicy> = { GEMINI: { ...SPEC_POLICIES.GEMINI, limiter: { maxConcurrent: 1, minTimeMs: 0 } } };
    const layer = createResilience({ policies, delayScale: 0.001 });
    gemini.rateLimit(1, null);
    await expect(layer.wrap("GEMINI", analyst.analyzeBrand)(await png())).resolves.toMatchObject({ physics: 0.82 });
    await layer.shutdown();
    expect(gemini.requests).toHaveLength(3);
  });

  it("refuses a shut-down embedding model too (the SDK swallows the batch; the embedder does not)", async () => {
    const retired = createGeminiEmbedder({ apiKey: GEMINI_KEY, model: "text-embedding-004", baseUrl: gemini.url });
    await expect(retired.embed(["a rule"])).rejects.toBeInstanceOf(Error);
    const current = createGeminiEmbedder({ apiKey: GEMINI_KEY, model: "gemini-embedding-001", baseUrl: gemini.url });
    await expect(current.embed(["a rule"])).resolves.toHaveLength(1);
    expect(gemini.embedRequests.map((r) => r.model)).toEqual(["text-embedding-004", "gemini-embedding-001"]);
  });

  it("refuses a request over the inline limit and inline data of a type Gemini does not read", async () => {
    const song = createGeminiSongAnalyst({ apiKey: GEMINI_KEY, model: "gemini-3.8-flash", baseUrl: gemini.url, measureDurationMs: async () => 12_000 });
    const big = { data: new Uint8Array(96 * 1024).fill(0xff), contentType: "audio/mpeg" }; // over the stand-in's 64 KB limit
    await expect(song.analyzeSong({ audio: big, minShotMs: 3_000, maxShotMs: 10_000 })).rejects.toMatchObject({ status: 400, retryable: false });
    const analyst = createGeminiAnalyst({ apiKey: GEMINI_KEY, model: "gemini-3.5-flash-lite", baseUrl: gemini.url });
    const gif = { data: new Uint8Array(await sharp({ create: { width: 8, height: 8, channels: 3, background: "#000" } }).gif().toBuffer()), contentType: "image/gif" };
    const err = await analyst.analyzeBrand(gif).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 400 });
    expect((err as Error).message).toContain("Unsupported MIME type: image/gif");
  });
});

describe("DeepSeek stand-in: models and JSON mode", () => {
  const input = {
    analysis: { physics: 0.8, vibe: 0.5, logic: 0.2, integrity: 0.9, brandEssencePrompt: "amber bottle", colorPalette: ["#c87828"], invariantElements: ["bottle"], subject: "bottle", mood: "calm", integrityNotes: "", offline: false },
    styleReferenceUrl: "https://example.invalid/style.png", engine: "KLING" as const, sceneCount: 3,
  };

  it("refuses a retired model with 400 Model Not Exist, said plainly and not retried", async () => {
    const director = createDeepSeekDirector({ apiKey: DEEPSEEK_KEY, model: "deepseek-chat", baseUrl: deepseek.url, deadlineMs: 5_000 });
    const err = await director.directScenes(input).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClientError);
    expect((err as ClientError).userMessage).toMatch(/set a current DEEPSEEK_MODEL/);
    expect(deepseek.requests).toHaveLength(1);
  });

  it("JSON mode without the word json in the prompt is refused; GET /models lists the current ids", async () => {
    const client = new OpenAI({ apiKey: DEEPSEEK_KEY, baseURL: deepseek.url, maxRetries: 0 });
    await expect(client.chat.completions.create({ model: "deepseek-flash", messages: [{ role: "user", content: "three scenes please" }], response_format: { type: "json_object" } }))
      .rejects.toMatchObject({ status: 400 });
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(["deepseek-flash", "deepseek-v4-pro"]);
  });
});

describe("start-up and smoke: a retired or missing setting is said before any job", () => {
  let dir: string;
  const apps: App[] = [];
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), "reelbot-models-"));
  });
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const env = (extra: Record<string, string> = {}) => ({
    DATA_DIR: dir, LOG_LEVEL: "silent", GEMINI_API_KEY: GEMINI_KEY, GEMINI_BASE_URL: gemini.url,
    DEEPSEEK_API_KEY: DEEPSEEK_KEY, DEEPSEEK_BASE_URL: deepseek.url, FAL_API_KEY: FAL_KEY, FAL_API_URL: fal.url, ...extra,
  });

  it("warns once per problem at start-up (retired Gemini id, no LoRA location, no price), and the stand-in refuses the retired id", async () => {
    const lines: Array<{ level: number; msg: string }> = [];
    const sink = new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done(); } });
    const app = await createApp(loadConfig(env({ GEMINI_MODEL: "gemini-2.5-flash" })), { logger: pino({ level: "warn" }, sink) });
    apps.push(app);
    const warnings = lines.filter((l) => l.level === 40).map((l) => l.msg);
    expect(warnings).toEqual([
      "FAL_API_KEY is set but LORA_URL_TEMPLATE is not: song shots cannot be drawn until it names where the LoRA weights are (https://…/{id}.safetensors).",
      expect.stringMatching(/^GEMINI_MODEL=gemini-2\.5-flash is on its provider's deprecation list \(shut down December 1, 2026\); set GEMINI_MODEL=gemini-3\.5-flash-lite/),
      "The price table has no price for gemini-2.5-flash as configured: its calls are booked at $0 and cost no credits; add it to PRICE_TABLE.",
    ]);
    const { jobId } = await app.runner.start({ actor: OWNER, file: { bytes: await brandImage(31), filename: "brand.png" } });
    const done = await finished(app.runner, jobId);
    expect(done.stage).toBe("failed");
    // Refused once, not retried; the runner logs the adapter's error (its chat text is the runner's choice).
    expect(gemini.requests).toHaveLength(1);
    const failure = lines.find((l) => l.msg === "job failed") as { err?: { message?: string } } | undefined;
    expect(failure?.err?.message).toMatch(/models\/gemini-2\.5-flash is not found/);
  });

  it("the defaults warn about nothing: current model ids, every model priced", () => {
    expect(startupWarnings(loadConfig(env({ LORA_URL_TEMPLATE: "https://weights.example.invalid/{id}.safetensors" })))).toEqual([]);
  });

  it("smoke:providers checks every configured model id for free and fails on a retired one", async () => {
    const out: string[] = [];
    const code = await runSmoke(loadConfig(env({ GEMINI_SONG_MODEL: "gemini-2.5-pro", FAL_KLING_MODEL: "fal-ai/kling-video/v9/pro/image-to-video" })).env, {
      falFetch: fal.fetch, out: (line) => out.push(line),
    });
    expect(code).toBe(1);
    const modelLines = out.filter((l) => l.includes(" model "));
    expect(modelLines).toHaveLength(12); // 3 Gemini, 1 DeepSeek, 8 fal endpoints
    expect(modelLines.filter((l) => l.startsWith("FAIL"))).toEqual([
      expect.stringMatching(/^FAIL model {4}GEMINI_SONG_MODEL=gemini-2\.5-pro: HTTP 404: .*set GEMINI_SONG_MODEL=gemini-3\.8-flash/),
      expect.stringMatching(/^FAIL model {4}FAL_KLING_MODEL=fal-ai\/kling-video\/v9\/pro\/image-to-video: HTTP 404/),
    ]);
    // No video was rendered: only the one tiny schnell frame was paid for at fal.
    expect(fal.accepted().map((s) => s.model)).toEqual(["fal-ai/flux/schnell"]);
    expect(out.join("\n")).not.toContain(GEMINI_KEY);
  });
});
