/**
 * Every rule of the strict fal stand-in, exercised through the real @fal-ai/client (and, where the
 * rule is about what the bot sends, through the bot's adapters): a stand-in that does not enforce
 * what fal enforces would let a test pass that production fails.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import sharp from "sharp";
import { ValidationError, type FalClient } from "@fal-ai/client";
import type { ClipRequest, Media } from "../tools/ports.js";
import { ClientError, RenderFailedError } from "../tools/resilience.js";
import { createDownloader, createFal, createFalIllustrator, createFalVideoEngine, KLING_MODEL, LUMA_MODEL, VEO_MODEL, uploadMedia } from "../tools/fal.js";
import { createFalStandin, tinyPng, type FalStandin } from "./standins/fal.js";

const FAL_KEY = "fal-test-key";
let fal: FalStandin;
let client: FalClient;
let small: Media;

beforeAll(async () => {
  fal = await createFalStandin({ apiKey: FAL_KEY });
  small = { data: await tinyPng(), contentType: "image/png" };
});
afterAll(() => fal.close());
beforeEach(() => {
  fal.reset();
  client = createFal({ apiKey: FAL_KEY, fetch: fal.fetch });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A submit with any input (the SDK's endpoint types would refuse the invalid ones these tests send). */
const submitRaw = async (model: string, input: Record<string, unknown>) => (await client.queue.submit(model as "fal-ai/flux/schnell", { input } as never)).request_id;
const status = async (model: string, requestId: string) => (await client.queue.status(model, { requestId })).status;
async function settled(model: string, requestId: string): Promise<void> {
  for (let i = 0; i < 200 && (await status(model, requestId)) !== "COMPLETED"; i++) await sleep(20);
}
const frame = async (width: number, height: number): Promise<Media> => ({
  data: new Uint8Array(await sharp({ create: { width, height, channels: 3, background: "#336699" } }).png().toBuffer()), contentType: "image/png",
});
const engine = (name: "KLING" | "LUMA" | "GEMINI_PRO") => createFalVideoEngine({ client, engine: name, download: createDownloader({ fetch: fal.fetch }) });

describe("fal stand-in: the queue", () => {
  it("keeps requests IN_QUEUE for the queue time, runs at most the account's concurrency, refuses none", async () => {
    fal.setTimings({ queueMs: 300, runMs: 400, concurrency: 1 });
    const url = await uploadMedia(client, await frame(1280, 720));
    const input = { prompt: "p", image_url: url, duration: "5" };
    const a = await submitRaw(KLING_MODEL, input);
    const b = await submitRaw(KLING_MODEL, input);
    expect(fal.submissions.map((s) => s.status)).toEqual([200, 200]);
    expect([await status(KLING_MODEL, a), await status(KLING_MODEL, b)]).toEqual(["IN_QUEUE", "IN_QUEUE"]);
    await sleep(350);
    // a runs; b waits for the only slot although its own queue time is over.
    expect([await status(KLING_MODEL, a), await status(KLING_MODEL, b)]).toEqual(["IN_PROGRESS", "IN_QUEUE"]);
    await sleep(450);
    expect([await status(KLING_MODEL, a), await status(KLING_MODEL, b)]).toEqual(["COMPLETED", "IN_PROGRESS"]);
    expect(fal.billing().map((e) => e.requestId)).toEqual([a]);
  });

  it("answers an endpoint id fal does not have with 404 at submit, and nothing is queued", async () => {
    const kling = createFalVideoEngine({ client, engine: "KLING", model: "fal-ai/kling-video/v9/pro/image-to-video", download: createDownloader({ fetch: fal.fetch }) });
    const err = await kling.submit({ startFrame: small, prompt: "p", durationS: 5 }, "k1").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClientError);
    expect(err).toMatchObject({ status: 404, retryable: false });
    expect(fal.accepted()).toHaveLength(0);
    const doc = (id: string) => fal.fetch(`https://fal.ai/api/openapi/queue/openapi.json?endpoint_id=${encodeURIComponent(id)}`);
    expect((await doc(KLING_MODEL)).status).toBe(200);
    expect((await doc("fal-ai/kling-video/v9/pro/image-to-video")).status).toBe(404);
  });
});

describe("fal stand-in: inputs are checked when the request runs, as fal's 422 detail", () => {
  it("an invalid value and a missing field: the result is 422 with pydantic types per field, nothing billed", async () => {
    const url = await uploadMedia(client, await frame(1280, 720));
    // Kling 2.6 field names sent to 2.5: start_image_url is ignored, image_url is missing.
    const id = await submitRaw(KLING_MODEL, { prompt: "p", start_image_url: url, duration: "7" });
    expect(fal.submissions[0].ignoredFields).toEqual(["start_image_url"]);
    await settled(KLING_MODEL, id);
    const err = await client.queue.result(KLING_MODEL, { requestId: id }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).fieldErrors.map((f) => [f.loc.join("."), f.type])).toEqual([
      ["body.image_url", "missing"],
      ["body.duration", "literal_error"],
    ]);
    expect(fal.billing()).toEqual([]);
  });

  it("an input URL fal cannot download is a file_download_error; through the engine port it is a RenderFailedError", async () => {
    const id = await submitRaw(LUMA_MODEL, { prompt: "p", image_url: "https://v3.fal.media/files/never-uploaded.png" });
    await settled(LUMA_MODEL, id);
    const err = await engine("LUMA").result(id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RenderFailedError);
    expect((err as Error).message).toContain("image_url: file_download_error");
    expect(fal.billing()).toEqual([]);
  });

  it("Veo refuses a frame below 720p; the engine adapter sends a 720p frame and the render completes", async () => {
    const url = await uploadMedia(client, await frame(1024, 576));
    const id = await submitRaw(VEO_MODEL, { prompt: "p", first_frame_url: url, last_frame_url: url, generate_audio: false });
    await settled(VEO_MODEL, id);
    const err = await client.queue.result(VEO_MODEL, { requestId: id }).catch((e: unknown) => e);
    expect((err as ValidationError).fieldErrors.map((f) => f.type)).toEqual(["image_too_small", "image_too_small"]);

    fal.reset();
    const veo = engine("GEMINI_PRO");
    const { requestId } = await veo.submit({ startFrame: await frame(1024, 576), prompt: "p", durationS: 6 }, "veo-1");
    expect(fal.uploads.map((u) => [u.width, u.height])).toEqual([[1280, 720]]);
    await settled(VEO_MODEL, requestId);
    await expect(veo.result(requestId)).resolves.toMatchObject({ contentType: "video/mp4" });
    expect(fal.billing().map((e) => e.usd)).toEqual([1.2]);
  });
});

describe("fal stand-in: cancel, expiry and billing", () => {
  const clip = (): ClipRequest => ({ startFrame: small, prompt: "p", durationS: 5 });

  it("cancel: a queued request is removed and never billed; a running one finishes and bills; a finished one is ALREADY_COMPLETED", async () => {
    fal.setTimings({ queueMs: 10_000 });
    const kling = engine("KLING");
    const queued = (await kling.submit(clip(), "c1")).requestId;
    await kling.cancel(queued);
    expect(fal.cancellations).toEqual([{ requestId: queued, state: "IN_QUEUE" }]);
    expect(await kling.status(queued)).toEqual({ state: "completed" });
    await expect(kling.result(queued)).rejects.toBeInstanceOf(RenderFailedError);

    fal.setTimings({ queueMs: 0, runMs: 300 });
    const running = (await kling.submit(clip(), "c2")).requestId;
    expect(await kling.status(running)).toEqual({ state: "running" });
    await kling.cancel(running);
    await sleep(350);
    expect(await kling.status(running)).toEqual({ state: "completed" });
    await expect(kling.result(running)).resolves.toMatchObject({ contentType: "video/mp4" });
    await expect(kling.cancel(running)).resolves.toBeUndefined(); // 400 ALREADY_COMPLETED: nothing left to cancel
    expect(fal.cancellations.at(-1)).toEqual({ requestId: running, state: "COMPLETED" });
    expect(fal.billing().map((e) => e.requestId)).toEqual([running]);
  });

  it("result files expire after the default lifetime; the engine asks fal to keep its clips for 7 days", async () => {
    fal.setTimings({ resultTtlMs: 100 });
    const url = await uploadMedia(client, await frame(1280, 720));
    const bare = await submitRaw(KLING_MODEL, { prompt: "p", image_url: url });
    await settled(KLING_MODEL, bare);
    const { data } = await client.queue.result(KLING_MODEL, { requestId: bare });
    await sleep(150);
    expect((await fal.fetch((data as { video: { url: string } }).video.url)).status).toBe(404);

    const kling = engine("KLING");
    const { requestId } = await kling.submit(clip(), "lifetime-1");
    expect(fal.submissions.at(-1)?.resultLifetimeS).toBe(7 * 24 * 3600);
    await settled(KLING_MODEL, requestId);
    await sleep(150);
    await expect(kling.result(requestId)).resolves.toMatchObject({ contentType: "video/mp4" });
  });

  it("bills completed work at fal's published prices: per megapixel, per clip length and resolution, per second", async () => {
    const url = await uploadMedia(client, await frame(1280, 720));
    const run = async (model: string, input: Record<string, unknown>) => {
      const id = await submitRaw(model, input);
      await settled(model, id);
      return fal.billing().find((e) => e.requestId === id)?.usd;
    };
    expect(await run("fal-ai/flux/schnell", { prompt: "p", image_size: { width: 1280, height: 720 } })).toBe(0.003);
    expect(await run("fal-ai/flux/schnell", { prompt: "p", image_size: { width: 2048, height: 1024 } })).toBe(0.006);
    expect(await run("fal-ai/flux-2/lora/edit", { prompt: "p", image_urls: [url, url], image_size: { width: 1280, height: 720 } })).toBe(0.063);
    expect(await run(KLING_MODEL, { prompt: "p", image_url: url, duration: "10" })).toBe(0.7);
    expect(await run(LUMA_MODEL, { prompt: "p", image_url: url, duration: "9s", resolution: "720p" })).toBe(2);
    expect(await run(LUMA_MODEL, { prompt: "p", image_url: url })).toBe(0.5); // fal's defaults: 5s at 540p
    expect(await run(VEO_MODEL, { prompt: "p", first_frame_url: url, last_frame_url: url, duration: "4s", generate_audio: false })).toBe(0.8);
    // Veo with audio (fal's default) has no price here: the stand-in fails it loudly instead of billing $0.
    expect(await run(VEO_MODEL, { prompt: "p", first_frame_url: url, last_frame_url: url })).toBeUndefined();
  });

  it("img2img answers at its input's size: a 40 MP brand image is scaled to one megapixel by the adapter and billed as one", async () => {
    const huge: Media = {
      data: new Uint8Array(await sharp({ create: { width: 8000, height: 5000, channels: 3, background: "#884422" } }).jpeg().toBuffer()),
      contentType: "image/jpeg",
    };
    const illustrator = createFalIllustrator({ client, download: createDownloader({ fetch: fal.fetch }), pollIntervalMs: 10, deadlineMs: 20_000 });
    const styled = await illustrator.styleReference({ image: huge, prompt: "brand", strength: 0.4, seed: 1 });
    const [upload] = fal.uploads;
    expect(upload.width! * upload.height!).toBeLessThanOrEqual(1024 * 1024);
    expect(upload.width! / upload.height!).toBeCloseTo(8000 / 5000, 1);
    expect(await sharp(styled.data).metadata()).toMatchObject({ width: upload.width, height: upload.height });
    expect(fal.billing().map((e) => [e.model, e.usd])).toEqual([["fal-ai/flux/dev/image-to-image", 0.025]]);
  });
});
