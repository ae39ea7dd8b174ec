/**
 * A video submit is paid the moment fal queues it, and fal has no idempotency key: a submit may be
 * repeated only when its POST provably never reached fal. The real @fal-ai/client and the real
 * resilience layer against the strict fal stand-in; every test counts what fal queued and billed.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createServer } from "node:net";
import pino from "pino";
import type { ClipRequest, Media, ProductionEngine } from "../tools/ports.js";
import { SPEC_POLICIES, SubmissionUncertainError, createResilience, type Resilience, type ResiliencePolicy } from "../tools/resilience.js";
import { createDownloader, createFal, createFalVideoEngine, type FalVideoEngineOptions } from "../tools/fal.js";
import { createFalStandin, tinyPng, type FalStandin } from "./standins/fal.js";

const FAL_KEY = "fal-test-key";
let fal: FalStandin;
let clip: ClipRequest;

beforeAll(async () => {
  fal = await createFalStandin({ apiKey: FAL_KEY });
  const png: Media = { data: await tinyPng(), contentType: "image/png" };
  clip = { startFrame: png, endFrame: png, prompt: "The serum drop falls in slow motion", durationS: 5 };
});
afterAll(() => fal.close());
beforeEach(() => fal.reset());

const layers: Resilience[] = [];
afterEach(async () => {
  await Promise.all(layers.splice(0).map((l) => l.shutdown()));
});

/** The production policies as shipped (2 retries, breaker, limiter), with waits scaled down 1000×. */
function engine(name: ProductionEngine, options: Partial<FalVideoEngineOptions> = {}, fetchImpl: typeof fetch = fal.fetch) {
  const policies: Record<string, ResiliencePolicy> = {};
  for (const [p, policy] of Object.entries(SPEC_POLICIES)) policies[p] = { ...policy, limiter: { ...policy.limiter, minTimeMs: 0 } };
  const layer = createResilience({ policies, delayScale: 0.001, logger: pino({ level: "silent" }) });
  layers.push(layer);
  const raw = createFalVideoEngine({ client: createFal({ apiKey: FAL_KEY, fetch: fetchImpl }), engine: name, download: createDownloader({ fetch: fal.fetch }), ...options });
  const unused = async (): Promise<never> => { throw new Error("not part of this test"); };
  return layer.wrapTools({
    analyst: { analyzeBrand: unused, editScene: unused }, director: { directScenes: unused, rerollScene: unused },
    illustrator: { styleReference: unused, preview: unused }, engines: { KLING: raw, LUMA: raw, GEMINI_PRO: raw },
  }).engines[name];
}

/** fal-js retries a failed submit after ~1 s (±25 %) and again after ~2 s: wait past the first. */
const pastSdkRetry = () => new Promise((r) => setTimeout(r, 1_500));

describe("a video submit is never repeated once its POST may have reached fal", () => {
  it("a connection cut after fal queued the render: one request, one bill, a final error", async () => {
    fal.acceptThenDrop(1);
    const err = await engine("KLING").submit(clip, "job-1/scene-0").catch((e: unknown) => e);
    await pastSdkRetry();
    expect(err).toBeInstanceOf(SubmissionUncertainError);
    expect(err).toMatchObject({ provider: "KLING", code: "PRODUCTION_FAILED", retryable: false, fallbackAvailable: true });
    expect((err as Error).message).toMatch(/may have queued this render, so it is not submitted again/);
    expect(fal.submissions).toHaveLength(1);
    // The request fal queued still runs and bills: exactly once.
    expect(fal.billing()).toHaveLength(1);
  });

  it("no answer within the submit deadline: not submitted again by the resilience layer", async () => {
    fal.acceptThenHang(1);
    const started = Date.now();
    const err = await engine("LUMA", { submitDeadlineMs: 1_000 }).submit(clip, "job-2/scene-0").catch((e: unknown) => e);
    await pastSdkRetry();
    expect(err).toBeInstanceOf(SubmissionUncertainError);
    expect(err).toMatchObject({ provider: "LUMA", code: "PRODUCTION_TIMEOUT", retryable: false });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(fal.submissions).toHaveLength(1);
    expect(fal.billing()).toHaveLength(1);
  });

  it("slow uploads happen before the submit deadline starts, so they cannot push the POST past it", async () => {
    fal.delayUploads(1_500);
    const { requestId } = await engine("KLING", { submitDeadlineMs: 1_000 }).submit(clip, "job-3/scene-0");
    expect(requestId).toMatch(/^req-/);
    expect(fal.uploads).toHaveLength(2);
    expect(fal.submissions).toHaveLength(1);
  });

  it("an answered 5xx queued nothing: the layer submits again and one render is billed", async () => {
    fal.failSubmits(1, 500);
    const { requestId } = await engine("GEMINI_PRO").submit(clip, "job-4/scene-0");
    expect(fal.submissions.map((s) => s.status)).toEqual([500, 200]);
    expect(fal.stateOf(requestId)).not.toBe("unknown");
    expect(fal.billing()).toHaveLength(1);
  });

  it("a refused connection never sent the POST: it is tried again and goes through", async () => {
    // A port nobody listens on: the first submit attempt is refused before any byte leaves.
    const closed = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, "127.0.0.1", () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    let refused = 0;
    const flaky: typeof fetch = (input, init) => {
      const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
      if (url.host === "queue.fal.run" && (init?.method ?? "GET") === "POST" && refused++ === 0) {
        return fetch(`http://127.0.0.1:${closed}${url.pathname}`, init);
      }
      return fal.fetch(input, init);
    };
    const { requestId } = await engine("KLING", {}, flaky).submit(clip, "job-5/scene-0");
    expect(refused).toBe(2);
    expect(requestId).toMatch(/^req-/);
    expect(fal.submissions).toHaveLength(1);
  });
});
