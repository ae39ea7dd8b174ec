/**
 * The real SDKs (@langchain/google-genai, openai, @fal-ai/client) against loopback stand-ins that
 * speak the providers' wire formats, with and without the resilience layer. Every test asserts how
 * many calls or submissions the stand-in recorded: that number is what money is spent on.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import pino from "pino";
import sharp from "sharp";
import type { ClipRequest, Media, ProductionEngine, VideoEngine, YellowContextPayload } from "../tools/ports.js";
import {
  CircuitOpenError,
  ClientError,
  ProviderError,
  RenderFailedError,
  SPEC_POLICIES,
  createResilience,
  type Resilience,
  type ResiliencePolicy,
} from "../tools/resilience.js";
import { createGeminiAnalyst } from "../tools/gemini.js";
import { createDeepSeekDirector } from "../tools/deepseek.js";
import { createDownloader, createFal, createFalIllustrator, createFalVideoEngine, KLING_MODEL, LUMA_MODEL, VEO_MODEL } from "../tools/fal.js";
import { createGeminiStandin, SAMPLE_ANALYSIS, type GeminiStandin } from "./standins/gemini.js";
import { createDeepSeekStandin, type DeepSeekStandin } from "./standins/deepseek.js";
import { createFalStandin, tinyPng, type FalStandin } from "./standins/fal.js";

const GEMINI_KEY = "gemini-test-key";
const DEEPSEEK_KEY = "sk-deepseek-test-key";
const FAL_KEY = "fal-test-key";

let gemini: GeminiStandin;
let deepseek: DeepSeekStandin;
let fal: FalStandin;
let png: Media;

beforeAll(async () => {
  [gemini, deepseek, fal] = await Promise.all([
    createGeminiStandin({ apiKey: GEMINI_KEY }),
    createDeepSeekStandin({ apiKey: DEEPSEEK_KEY }),
    createFalStandin({ apiKey: FAL_KEY }),
  ]);
  png = { data: await tinyPng({ r: 30, g: 90, b: 160 }), contentType: "image/png" };
});

afterAll(async () => {
  await Promise.all([gemini?.close(), deepseek?.close(), fal?.close()]);
});

beforeEach(() => {
  gemini.reset();
  deepseek.reset();
  fal.reset();
});

const layers: Resilience[] = [];
afterEach(async () => {
  await Promise.all(layers.splice(0).map((l) => l.shutdown()));
});

/** SPEC_POLICIES with waits scaled down and a short breaker reset, for tests. */
function resilience(overrides: Record<string, Partial<ResiliencePolicy>> = {}) {
  const policies: Record<string, ResiliencePolicy> = {};
  // No spacing between calls (the video limiter's 1 s minTime would only slow the tests down).
  for (const [name, p] of Object.entries(SPEC_POLICIES)) policies[name] = { ...p, limiter: { ...p.limiter, minTimeMs: 0 }, ...overrides[name] };
  const r = createResilience({ policies, delayScale: 0.001, logger: pino({ level: "silent" }) });
  layers.push(r);
  return r;
}

const analyst = () => createGeminiAnalyst({ apiKey: GEMINI_KEY, model: "gemini-3.5-flash-lite", baseUrl: gemini.url, deadlineMs: 5_000 });
const director = (deadlineMs = 5_000) => createDeepSeekDirector({ apiKey: DEEPSEEK_KEY, model: "deepseek-flash", baseUrl: deepseek.url, deadlineMs });
const falClient = () => createFal({ apiKey: FAL_KEY, fetch: fal.fetch });
const download = () => createDownloader({ fetch: fal.fetch });
const illustrator = () => createFalIllustrator({ client: falClient(), download: download(), pollIntervalMs: 10, deadlineMs: 5_000 });
const videoEngine = (engine: ProductionEngine) => createFalVideoEngine({ client: falClient(), engine, download: download() });

/** What the runner's poll task does: ask until fal says COMPLETED, then fetch the clip. */
async function collect(port: VideoEngine, requestId: string) {
  for (let polls = 0; polls < 100; polls++) {
    const status = await port.status(requestId);
    if (status.state === "completed") return port.result(requestId);
    if (status.state === "unknown") throw new Error(`unknown request ${requestId}`);
  }
  throw new Error(`request ${requestId} never completed`);
}

const isPng = (m: Media) => Buffer.from(m.data.subarray(0, 8)).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
const isMp4 = (m: Media) => Buffer.from(m.data.subarray(4, 8)).toString("latin1") === "ftyp";

const analysis = {
  physics: 0.82, vibe: 0.55, logic: 0.2, integrity: 0.93,
  brandEssencePrompt: SAMPLE_ANALYSIS.brand_essence_prompt,
  colorPalette: ["#c87828", "#f4e9d8", "#2b2b2b"],
  invariantElements: SAMPLE_ANALYSIS.invariant_elements,
  subject: "skincare serum bottle", mood: "calm, premium", integrityNotes: "", offline: false,
};

// ------------------------------------------------------------------------------------------------

describe("Gemini analyst (@langchain/google-genai → stand-in)", () => {
  it("analyses a brand image: inline image, structured output, mapped to BrandAnalysis", async () => {
    const result = await analyst().analyzeBrand(png);
    expect(result).toEqual({ ...analysis, integrityNotes: SAMPLE_ANALYSIS.integrity_notes });
    expect(gemini.requests).toHaveLength(1);
    const [req] = gemini.requests;
    expect(req.model).toBe("gemini-3.5-flash-lite");
    expect(req.keyOk).toBe(true);
    expect(JSON.stringify(req.body)).not.toContain(GEMINI_KEY);
    const parts = req.body.contents?.[0].parts ?? [];
    expect(parts.find((p) => p.inlineData)?.inlineData).toEqual({ mimeType: "image/png", data: Buffer.from(png.data).toString("base64") });
    expect(req.body.generationConfig?.responseMimeType).toBe("application/json");
    expect(Object.keys(req.body.generationConfig?.responseSchema?.properties ?? {})).toEqual(
      expect.arrayContaining(["physics_score", "vibe_score", "logic_score", "integrity_score", "brand_essence_prompt", "color_palette"]),
    );
    expect(req.body.systemInstruction?.parts[0].text).toContain("Strategist");
  });

  it("edits a scene from the YellowContextPayload", async () => {
    const payload: YellowContextPayload = {
      brand_essence_prompt: analysis.brandEssencePrompt,
      style_reference_url: "https://example.invalid/style.png",
      current_scene: {
        id: "scene-1", sequence_index: 0, cinematography_prompt: "Serum bottle on travertine, slow dolly in",
        camera_movement: "slow dolly in", lighting_notes: "soft morning light", invariant_token: "amber bottle",
        preview_image_url: null, preview_seed: 7, traffic_light: "YELLOW", user_feedback: "Make it warmer", attempt_count: 1,
      },
      conversation_history: [],
      user_assets: [],
      prompt_history: [],
      user_feedback: "Make it warmer",
    };
    const edit = await analyst().editScene(payload);
    expect(edit.cinematographyPrompt).toBe("Serum bottle on travertine, slow dolly in, make it warmer");
    expect(edit.reply).toContain("Make it warmer");
    expect(gemini.requests).toHaveLength(1);
    expect(JSON.parse(gemini.requests[0].body.contents?.[0].parts[0].text ?? "")).toEqual(payload);
  });

  it("maps a 429 with RetryInfo to a retryable EXTERNAL_RATE_LIMIT with retryAfterMs, and the layer retries it", async () => {
    gemini.rateLimit(1, "7s");
    const raw = await analyst().analyzeBrand(png).catch((e: unknown) => e);
    expect(raw).toBeInstanceOf(ProviderError);
    expect(raw).toMatchObject({ provider: "GEMINI", code: "EXTERNAL_RATE_LIMIT", retryable: true, retryAfterMs: 7_000, status: 429, userAction: "RETRY" });
    expect(gemini.requests).toHaveLength(1); // the SDK itself did not retry (maxRetries 0)

    gemini.reset();
    gemini.rateLimit(1, "7s"); // 7 s × delayScale 0.001 = 7 ms
    const wrapped = resilience().wrap("GEMINI", analyst().analyzeBrand);
    await expect(wrapped(png)).resolves.toMatchObject({ physics: 0.82 });
    expect(gemini.requests).toHaveLength(2);
  });

  it("turns a blocked answer into a non-retryable ClientError with a readable message", async () => {
    gemini.blockNext("SAFETY");
    const r = resilience();
    const err = await r.wrap("GEMINI", analyst().analyzeBrand)(png).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClientError);
    expect(err).toMatchObject({ code: "CONTENT_BLOCKED", retryable: false });
    expect((err as ProviderError).userMessage).toMatch(/declined.*safety/i);
    expect(gemini.requests).toHaveLength(1);
    expect(r.getCircuitState("GEMINI")).toBe("CLOSED");
  });

  it("retries a malformed answer and a 500 through the layer", async () => {
    let n = 0;
    gemini.setHandler(() => (++n === 1 ? '{"physics_score": 0.5, "vibe' : SAMPLE_ANALYSIS));
    gemini.failNext(500);
    const result = await resilience().wrap("GEMINI", analyst().analyzeBrand)(png);
    expect(result.physics).toBe(0.82);
    expect(gemini.requests).toHaveLength(3); // 500, malformed, valid
  });

  it("a hanging generateContent hits the analyst's deadline", async () => {
    gemini.hangNext();
    const started = Date.now();
    const slow = createGeminiAnalyst({ apiKey: GEMINI_KEY, model: "gemini-3.5-flash-lite", baseUrl: gemini.url, deadlineMs: 200 });
    await expect(slow.analyzeBrand(png)).rejects.toMatchObject({ provider: "GEMINI", code: "TIMEOUT", retryable: true });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(gemini.requests).toHaveLength(1);
  });

  it("refuses model names the SDK cannot send images to, without echoing the key", () => {
    expect(() => createGeminiAnalyst({ apiKey: GEMINI_KEY, model: "gemini-flash-latest", baseUrl: gemini.url })).toThrow(/gemini-2\.x or gemini-3\.x/);
    expect(() => createGeminiAnalyst({ apiKey: GEMINI_KEY, model: "gemini-3-pro-preview", baseUrl: gemini.url })).not.toThrow();
  });
});

// ------------------------------------------------------------------------------------------------

describe("DeepSeek director (openai SDK → stand-in)", () => {
  const input = { analysis, styleReferenceUrl: "https://example.invalid/style.png", engine: "KLING" as const, sceneCount: 3 };

  it("writes exactly sceneCount scripts in JSON mode, thinking disabled", async () => {
    const scenes = await director().directScenes(input);
    expect(scenes).toHaveLength(3);
    for (const s of scenes) {
      expect(s.cinematographyPrompt).toContain("amber serum bottle");
      expect(s.cameraMovement).toBeTruthy();
      expect(s.lightingNotes).toBeTruthy();
      expect(s.invariantToken).toBe("amber glass bottle with the gold cap");
      expect([5, 10]).toContain(s.durationS);
    }
    expect(scenes[2].durationS).toBe(10); // "10" as a string, coerced
    expect(deepseek.requests).toHaveLength(1);
    const { body, keyOk } = deepseek.requests[0];
    expect(keyOk).toBe(true);
    expect(body).toMatchObject({ model: "deepseek-flash", response_format: { type: "json_object" }, thinking: { type: "disabled" }, max_tokens: 4000 });
    expect(body.messages[0].content).toMatch(/json/);
    expect(body.messages[0].content).toContain('"scenes":[');
  });

  it("survives blank-line padding before the JSON", async () => {
    deepseek.script("pad");
    await expect(director().directScenes(input)).resolves.toHaveLength(3);
    expect(deepseek.requests).toHaveLength(1);
  });

  it("re-asks after malformed JSON, then succeeds", async () => {
    deepseek.script("invalid", "valid");
    const scenes = await director().directScenes(input);
    expect(scenes).toHaveLength(3);
    expect(deepseek.requests).toHaveLength(2);
    const reask = deepseek.requests[1].body.messages;
    expect(reask.at(-2)).toMatchObject({ role: "assistant" });
    expect(reask.at(-1)?.content).toMatch(/not valid JSON.*exactly 3 scenes/s);
  });

  it("re-asks when too few scenes come back", async () => {
    deepseek.script("fewer", "valid");
    await expect(director().directScenes(input)).resolves.toHaveLength(3);
    expect(deepseek.requests).toHaveLength(2);
  });

  it("blank output three times: a non-retryable INVALID_RESPONSE after 2 re-asks, not retried by the layer", async () => {
    deepseek.script("blank", "blank", "blank", "valid");
    const err = await resilience().wrap("DEEPSEEK", director().directScenes)(input).catch((e: unknown) => e);
    expect(err).toMatchObject({ provider: "DEEPSEEK", code: "INVALID_RESPONSE", retryable: false, userAction: "RETRY" });
    expect(deepseek.requests).toHaveLength(3);
  });

  it("a call that only pads hits the per-call deadline (the SDK timeout would not)", async () => {
    deepseek.script("hang");
    const started = Date.now();
    const err = await director(300).directScenes(input).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "TIMEOUT", retryable: true });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(deepseek.requests).toHaveLength(1);
  });

  it("retries a 503 through the layer; a 429 honours retry-after", async () => {
    deepseek.script({ status: 503, message: "Server overloaded" }, { status: 429, message: "Rate limit reached", headers: { "retry-after": "0.05" } });
    await expect(resilience().wrap("DEEPSEEK", director().directScenes)(input)).resolves.toHaveLength(3);
    expect(deepseek.requests).toHaveLength(3);
  });

  it("never puts the API key into an error", async () => {
    const wrongKey = "sk-wrong-key-1234567890";
    const d = createDeepSeekDirector({ apiKey: wrongKey, model: "deepseek-flash", baseUrl: deepseek.url, deadlineMs: 5_000 });
    const err = await resilience().wrap("DEEPSEEK", d.directScenes)(input).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "AUTH_FAILED", userAction: "CONTACT_SUPPORT" });
    expect(String((err as Error).message)).not.toContain(wrongKey);
    expect(JSON.stringify(err)).not.toContain(wrongKey);
    expect(deepseek.requests).toHaveLength(1);
  });

  it("re-rolls one scene", async () => {
    const previous = { cinematographyPrompt: "old prompt, static", cameraMovement: "static", lightingNotes: "flat", invariantToken: "amber bottle", durationS: 5 };
    const scene = await director().rerollScene({ analysis, engine: "LUMA", previous, sequenceIndex: 1, sceneCount: 3, attempt: 2 });
    expect(scene.invariantToken).toBe("amber glass bottle with the gold cap");
    expect(deepseek.requests).toHaveLength(1);
    const user = JSON.parse(deepseek.requests[0].body.messages[1].content) as { rejected_scene: unknown; scenes_to_write: number };
    expect(user.scenes_to_write).toBe(1);
    expect(user.rejected_scene).toMatchObject({ cinematography_prompt: "old prompt, static" });
    expect(deepseek.requests[0].body.temperature).toBeCloseTo(1.0);
  });
});

// ------------------------------------------------------------------------------------------------

describe("fal illustrator (@fal-ai/client → stand-in)", () => {
  it("style reference: uploads the image, runs flux-dev img2img with strength and seed, returns the PNG bytes", async () => {
    const out = await illustrator().styleReference({ image: png, prompt: analysis.brandEssencePrompt, strength: 0.4, seed: 1234 });
    expect(isPng(out)).toBe(true);
    expect(out.contentType).toBe("image/png");
    expect(fal.uploads).toEqual([{ contentType: "image/png", size: png.data.byteLength, hadAuthorization: false, width: 64, height: 36 }]);
    expect(fal.submissions).toHaveLength(1);
    const [sub] = fal.submissions;
    expect(sub.model).toBe("fal-ai/flux/dev/image-to-image");
    expect(sub.input).toMatchObject({ prompt: analysis.brandEssencePrompt, strength: 0.4, seed: 1234 });
    expect(String(sub.input.image_url)).toMatch(/^https:\/\/v3\.fal\.media\/files\//);
    // Queue host for submit/status/result, rest host for storage, status polled by owner/alias only.
    expect(fal.requests.filter((r) => r.method === "POST" && r.host === "queue.fal.run")).toHaveLength(1);
    expect(fal.requests.some((r) => r.host === "rest.fal.ai" && r.path === "/storage/upload/initiate" && r.authorized)).toBe(true);
    expect(fal.requests.some((r) => r.path === `/fal-ai/flux/requests/${sub.requestId}/status`)).toBe(true);
  });

  it("preview: flux schnell at 1280×720 (a clip's first frame: 720p) with the seed, as the JPEG it asked for", async () => {
    const out = await illustrator().preview({ prompt: "Scene 1: bottle on travertine", styleReference: png, seed: 7, sequenceIndex: 0, sceneCount: 3 });
    expect(out.contentType).toBe("image/jpeg");
    expect(await sharp(out.data).metadata()).toMatchObject({ width: 1280, height: 720, format: "jpeg" });
    expect(fal.submissions).toHaveLength(1);
    expect(fal.submissions[0]).toMatchObject({ model: "fal-ai/flux/schnell", input: { prompt: "Scene 1: bottle on travertine", image_size: { width: 1280, height: 720 }, seed: 7 } });
    expect(fal.submissions[0].ignoredFields).toEqual([]);
  });

  it("spec §7 2b: a preview failing twice then succeeding returns the image after 3 submissions", async () => {
    fal.failSubmits(2, 500);
    const preview = resilience().wrap("FLUX", illustrator().preview);
    const out = await preview({ prompt: "Scene 2", styleReference: png, seed: 8, sequenceIndex: 1, sceneCount: 3 });
    expect(out.contentType).toBe("image/jpeg");
    expect(fal.submissions).toHaveLength(3);
    expect(fal.accepted()).toHaveLength(1);
  });

  it("a 422 on submit is a ClientError: not retried, not counted by the breaker", async () => {
    const r = resilience();
    const styleReference = r.wrap("FLUX", illustrator().styleReference);
    for (let i = 0; i < 6; i++) {
      fal.rejectNextSubmit("image_too_large", "image_url");
      const err = await styleReference({ image: png, prompt: "p", strength: 0.4, seed: 1 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ClientError);
      expect(err).toMatchObject({ code: "INVALID_REQUEST", status: 422 });
      expect((err as ProviderError).message).toContain("image_url: image_too_large");
    }
    expect(fal.submissions).toHaveLength(6);
    expect(r.getCircuitState("FLUX")).toBe("CLOSED");
  });
});

// ------------------------------------------------------------------------------------------------

describe("fal video engines (@fal-ai/client → stand-in)", () => {
  // A getter: png exists only once beforeAll has run.
  let clip: ClipRequest;
  beforeEach(() => {
    clip = { startFrame: png, endFrame: png, prompt: "The serum drop falls in slow motion", durationS: 5 };
  });

  it("Kling: submit uploads both frames and returns fal's request id; status polls, result downloads the MP4", async () => {
    fal.setPollsBeforeDone(3);
    const kling = videoEngine("KLING");
    expect(kling.model).toBe(KLING_MODEL);
    const { requestId } = await kling.submit(clip, "job-1/scene-0/attempt-1");
    expect(requestId).toMatch(/^req-/);
    expect(fal.uploads).toHaveLength(2);
    expect(fal.submissions).toHaveLength(1);
    const { input } = fal.submissions[0];
    expect(fal.submissions[0].model).toBe(KLING_MODEL);
    expect(input).toMatchObject({ prompt: clip.prompt, duration: "5" });
    expect(String(input.image_url)).toMatch(/^https:\/\/v3\.fal\.media\/files\//);
    expect(String(input.tail_image_url)).toMatch(/^https:\/\/v3\.fal\.media\/files\//);

    const video = await collect(kling, requestId);
    expect(isMp4(video)).toBe(true);
    expect(video.contentType).toBe("video/mp4");
    expect(fal.statusPolls(requestId)).toBe(4);
    expect(fal.requests.some((r) => r.path === `/fal-ai/kling-video/requests/${requestId}/status`)).toBe(true);
    expect(fal.submissions).toHaveLength(1);
  });

  it("maps Luma and Veo to their own field names", async () => {
    const webhookUrl = "https://bot.example.invalid/webhooks/fal?job=1";
    const luma = createFalVideoEngine({ client: falClient(), engine: "LUMA", webhookUrl, download: download() });
    await luma.submit({ ...clip, durationS: 10 }, "luma-1");
    await videoEngine("GEMINI_PRO").submit({ startFrame: png, prompt: "Logo reveal", durationS: 5 }, "veo-1");
    expect(fal.submissions).toHaveLength(2);
    const [lumaSub, veo] = fal.submissions;
    // Sent as ?fal_webhook=, with our call key added so a lost answer can be adopted from the delivery.
    expect(lumaSub.webhookUrl).toBe(`${webhookUrl}&call=luma-1`);
    expect(veo.webhookUrl).toBeUndefined();
    expect(lumaSub.model).toBe(LUMA_MODEL);
    expect(lumaSub.input).toMatchObject({ duration: "9s", resolution: "720p", aspect_ratio: "16:9" });
    expect(lumaSub.input.end_image_url).toBeTruthy();
    expect(lumaSub.input).not.toHaveProperty("tail_image_url");
    expect(veo.model).toBe(VEO_MODEL);
    expect(veo.input).toMatchObject({ duration: "6s", generate_audio: false });
    expect(veo.input.first_frame_url).toBeTruthy();
    expect(veo.input.last_frame_url).toBe(veo.input.first_frame_url);
  });

  it("restart safety: a fresh engine instance collects by request id alone, without a second submission", async () => {
    fal.setPollsBeforeDone(2);
    const { requestId } = await videoEngine("KLING").submit(clip, "job-2/scene-0/attempt-1");
    // New process: new client, new engine, only the stored request id.
    const afterRestart = createFalVideoEngine({ client: createFal({ apiKey: FAL_KEY, fetch: fal.fetch }), engine: "KLING", download: download() });
    const video = await collect(afterRestart, requestId);
    expect(isMp4(video)).toBe(true);
    expect(fal.submissions).toHaveLength(1);
  });

  it("the same idempotency key in one process does not submit twice", async () => {
    const kling = videoEngine("KLING");
    const [a, b] = await Promise.all([kling.submit(clip, "job-3/scene-1"), kling.submit(clip, "job-3/scene-1")]);
    expect(a).toEqual(b);
    expect(fal.submissions).toHaveLength(1);
  });

  it("a request that fails on fal's side: status says COMPLETED, result throws RenderFailedError", async () => {
    fal.failNextRequest();
    const kling = videoEngine("KLING");
    const { requestId } = await kling.submit(clip, "job-4");
    const err = await collect(kling, requestId).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RenderFailedError);
    expect(err).toMatchObject({ provider: "KLING", code: "PRODUCTION_FAILED", fallbackAvailable: true });
    expect((err as ProviderError).message).toContain("content_policy_violation");
    expect(fal.submissions).toHaveLength(1);
  });

  it("a render still in fal's queue is reported as waiting, never as a failure", async () => {
    fal.setPollsBeforeDone(1_000_000);
    const kling = videoEngine("KLING");
    const { requestId } = await kling.submit(clip, "job-5");
    for (let i = 0; i < 5; i++) expect((await kling.status(requestId)).state).toMatch(/^(queued|running)$/);
    expect(await kling.status("req-that-fal-never-saw")).toEqual({ state: "unknown" });
    expect(fal.submissions).toHaveLength(1);
  });

  it("result honours the caller's AbortSignal", async () => {
    fal.setPollsBeforeDone(0);
    const kling = videoEngine("KLING");
    const { requestId } = await kling.submit(clip, "job-6");
    const controller = new AbortController();
    controller.abort(new Error("job cancelled"));
    await expect(kling.result(requestId, controller.signal)).rejects.toThrow("job cancelled");
  });

  it("a hanging submit hits the submit deadline and is not re-submitted (it may already be queued and billed)", async () => {
    fal.hangSubmits(1);
    // A deadline a loaded CI machine still gets the POST out within (it must reach fal to count).
    const r = resilience({ LUMA: { submitTimeoutMs: 1_000, retries: 2, baseMs: 10 } });
    const luma = r.wrapTools({
      analyst: analyst(), director: director(), illustrator: illustrator(),
      engines: { KLING: videoEngine("KLING"), LUMA: videoEngine("LUMA"), GEMINI_PRO: videoEngine("GEMINI_PRO") },
      editor: {} as never, blobs: {} as never,
    }).engines.LUMA;
    const started = Date.now();
    const err = await luma.submit(clip, "job-7").catch((e: unknown) => e);
    expect(err).toMatchObject({ provider: "LUMA", code: "PRODUCTION_TIMEOUT" });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(fal.submissions).toHaveLength(1);
    // The same key afterwards is a fresh submit (the dead attempt was forgotten).
    await expect(luma.submit(clip, "job-7")).resolves.toMatchObject({ requestId: expect.stringMatching(/^req-/) });
    expect(fal.submissions).toHaveLength(2);
    expect(fal.accepted()).toHaveLength(1);
  });

  it("a 5xx burst opens the Kling breaker; then submits are refused without reaching fal", async () => {
    fal.failSubmits(100, 500);
    const r = resilience({ KLING: { baseMs: 10 } });
    const tools = r.wrapTools({
      analyst: analyst(), director: director(), illustrator: illustrator(),
      engines: { KLING: videoEngine("KLING"), LUMA: videoEngine("LUMA"), GEMINI_PRO: videoEngine("GEMINI_PRO") },
      editor: {} as never, blobs: {} as never,
    });
    const first = await tools.engines.KLING.submit(clip, "burst-1").catch((e: unknown) => e);
    expect(first).toMatchObject({ provider: "KLING", code: "PRODUCTION_FAILED", status: 500, userAction: "CHANGE_ENGINE" });
    expect(fal.submissions).toHaveLength(3); // 1 + 2 retries
    const second = await tools.engines.KLING.submit(clip, "burst-2").catch((e: unknown) => e);
    expect(second).toBeInstanceOf(CircuitOpenError);
    expect(fal.submissions).toHaveLength(5); // opened on the 5th failure
    expect(r.getCircuitState("KLING")).toBe("OPEN");

    const third = await tools.engines.KLING.submit(clip, "burst-3").catch((e: unknown) => e);
    expect(third).toBeInstanceOf(CircuitOpenError);
    expect(fal.submissions).toHaveLength(5);
    // Other engines keep working: the fallback chain has somewhere to go.
    fal.failSubmits(0);
    await expect(tools.engines.LUMA.submit(clip, "burst-4")).resolves.toMatchObject({ requestId: expect.stringMatching(/^req-/) });
    expect(r.getCircuitState("LUMA")).toBe("CLOSED");
  });
});
