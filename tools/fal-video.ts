/**
 * The production engines (spec §1 routing table) through fal's queue. `submit` returns fal's
 * request id at once; `status` and `result` are single calls, so the runner can store the id
 * before waiting and a restarted process collects the same request instead of paying for a new one.
 *
 * A submit happens in two steps with a deadline each: the frames are sized (720p or more) and
 * uploaded first, then the POST alone runs under the submit deadline. Only a POST that provably
 * never reached fal may be repeated (an answered error, or no connection at all); any other
 * failure after the POST may have left is final, because fal has no idempotency key and a second
 * POST is a second paid render (issue 12 item 6; fal-transport.ts stops the SDK's own retry).
 *
 * GEMINI_PRO routes to Google's Veo 3.1 through fal, not through Vertex: one queue protocol, one
 * bill, and the same restart-safe request ids as Kling and Luma (providers.md §1.6).
 */
import type { FalClient } from "@fal-ai/client";
import { ApiError, ValidationError } from "@fal-ai/client";
import type { ClipRequest, Media, ProductionEngine, RenderStatus, VideoEngine } from "./ports.js";
import { RenderFailedError, SubmissionUncertainError, anySignal, attemptSignal, redactSecrets } from "./resilience.js";
import { createDownloader, falError, raceSignal, resultFile, uploadMedia, type Download } from "./fal.js";
import { SubmitOutcomeUnknownError, provablyNotSent } from "./fal-transport.js";
import { atLeast720p } from "./frames.js";

export const KLING_MODEL = "fal-ai/kling-video/v2.5-turbo/pro/image-to-video";
export const LUMA_MODEL = "fal-ai/luma-dream-machine/ray-2/image-to-video";
export const VEO_MODEL = "fal-ai/veo3.1/first-last-frame-to-video";

export const DEFAULT_VIDEO_MODELS: Record<ProductionEngine, string> = {
  KLING: KLING_MODEL,
  LUMA: LUMA_MODEL,
  GEMINI_PRO: VEO_MODEL,
};

export interface FalVideoEngineOptions {
  client: FalClient;
  engine: ProductionEngine;
  /** Defaults to DEFAULT_VIDEO_MODELS[engine]. Input field names follow the engine (see buildEngineInput). */
  model?: string;
  /** fal calls it when the request completes (verification is not part of this adapter). */
  webhookUrl?: string;
  /** Deadline of sizing and uploading the frames, before the POST. Default 60 s. */
  uploadDeadlineMs?: number;
  /** Deadline of the submit POST alone (the frames are already uploaded). Default 30 s. */
  submitDeadlineMs?: number;
  /**
   * How long fal keeps the rendered clip (x-fal-object-lifecycle-preference, providers.md §1.2).
   * A render can wait hours in the queue and be collected after a restart: its URL must outlive
   * that. Default 7 days.
   */
  resultLifetimeS?: number;
  download?: Download;
}

/** What an engine is asked to render, and bills: its clip length and, where it matters, resolution. */
export interface BilledClip {
  seconds: number;
  /** "native" where the model has one output resolution and the price does not depend on it. */
  resolution: "native" | "720p";
}

function nearest(allowed: readonly number[], seconds: number): number {
  // Ties go to the longer clip: trimming in the edit is free, padding is not.
  return allowed.reduce((best, v) => (Math.abs(v - seconds) < Math.abs(best - seconds) || (Math.abs(v - seconds) === Math.abs(best - seconds) && v > best) ? v : best));
}

/**
 * The clip lengths each engine's model takes: Kling v2.5-turbo pro "5" | "10" (endpoints.d.ts),
 * Luma ray-2 "5s" | "9s", Veo 3.1 "4s" | "6s" | "8s". The song route plans shots from them.
 */
export const CLIP_LENGTHS_S: Record<ProductionEngine, readonly number[]> = {
  KLING: [5, 10],
  LUMA: [5, 9],
  GEMINI_PRO: [4, 6, 8],
};

/**
 * The clip each engine renders for a requested length: the request (buildEngineInput) and the price
 * list (bot/prices.ts) both read it, so what is booked is what is asked for.
 */
export function billedClip(engine: ProductionEngine, durationS: number): BilledClip {
  const seconds = nearest(CLIP_LENGTHS_S[engine], durationS);
  switch (engine) {
    case "KLING": // one output resolution
      return { seconds, resolution: "native" };
    case "LUMA": // 720p costs twice 540p (providers.md prices)
      return { seconds, resolution: "720p" };
    case "GEMINI_PRO": // billed per second
      return { seconds, resolution: "720p" };
  }
}

/** The request in each model's own field names (they differ per engine, and per model version). */
export function buildEngineInput(engine: ProductionEngine, frames: { start: string; end?: string }, request: ClipRequest): Record<string, unknown> {
  const clip = billedClip(engine, request.durationS);
  switch (engine) {
    case "KLING": // v2.5-turbo; v2.6 and v3 use start_image_url/end_image_url and add audio
      return {
        prompt: request.prompt,
        image_url: frames.start,
        ...(frames.end ? { tail_image_url: frames.end } : {}),
        duration: String(clip.seconds),
        negative_prompt: "blur, distort, and low quality",
        cfg_scale: 0.5,
      };
    case "LUMA": // ray-2
      return {
        prompt: request.prompt,
        image_url: frames.start,
        ...(frames.end ? { end_image_url: frames.end } : {}),
        aspect_ratio: "16:9",
        duration: `${clip.seconds}s`,
        resolution: clip.resolution,
        loop: false,
      };
    case "GEMINI_PRO": // Veo 3.1 first-last-frame: the last frame is required, so without an end
      // frame the clip returns to its first frame (configure fal-ai/veo3.1/image-to-video otherwise).
      return {
        prompt: request.prompt,
        first_frame_url: frames.start,
        last_frame_url: frames.end ?? frames.start,
        duration: `${clip.seconds}s`,
        resolution: clip.resolution,
        aspect_ratio: "auto",
        // We lay our own soundtrack over the video, and audio costs extra.
        generate_audio: false,
      };
  }
}

/** Keeps in-flight and recent submits by idempotency key, so a retried submit reuses the request. */
const IDEMPOTENCY_MEMORY = 500;

export function createFalVideoEngine(options: FalVideoEngineOptions): VideoEngine {
  const { client, engine, webhookUrl } = options;
  const model = options.model ?? DEFAULT_VIDEO_MODELS[engine];
  const uploadDeadlineMs = options.uploadDeadlineMs ?? 60_000;
  const submitDeadlineMs = options.submitDeadlineMs ?? 30_000;
  const resultLifetimeS = options.resultLifetimeS ?? 7 * 24 * 3600;
  const download = options.download ?? createDownloader();
  const submitted = new Map<string, Promise<{ requestId: string }>>();

  /** Frames of 720p or more (Veo 3.1 asks for it; previews may come from elsewhere), uploaded. */
  async function uploadFrames(request: ClipRequest, outer: AbortSignal | undefined): Promise<{ start: string; end?: string }> {
    const deadline = AbortSignal.timeout(uploadDeadlineMs);
    const upload = async (frame: Media) => uploadMedia(client, await atLeast720p(frame));
    try {
      const [start, end] = await raceSignal(
        Promise.all([upload(request.startFrame), request.endFrame ? upload(request.endFrame) : Promise.resolve(undefined)]),
        anySignal(deadline, outer),
      );
      return { start, ...(end ? { end } : {}) };
    } catch (err) {
      // Nothing was submitted yet: an upload that failed or ran out of time may simply be tried again.
      throw falError(err, { provider: engine, kind: "production", deadline, callerSignals: [outer] });
    }
  }

  /** Why a submit failed, and whether trying again could pay for the same clip twice. */
  function submitError(err: unknown, deadline: AbortSignal, outer: AbortSignal | undefined): unknown {
    // fal answered (4xx, 5xx, 429): no request was queued, so submitting again cannot pay twice.
    if (err instanceof ApiError) return falError(err, { provider: engine, kind: "production", deadline: NEVER, callerSignals: [] });
    // The resilience layer gave up on this attempt: its own error says so (never retried for submits).
    if (outer?.aborted) return outer.reason;
    // No connection was ever made: the POST did not leave.
    if (provablyNotSent(err)) return falError(err, { provider: engine, kind: "production", deadline: NEVER, callerSignals: [] });
    const why = err instanceof SubmitOutcomeUnknownError ? err.message : deadline.aborted ? `no answer within ${submitDeadlineMs} ms` : redactSecrets(String(err));
    return new SubmissionUncertainError({
      provider: engine,
      code: deadline.aborted ? "PRODUCTION_TIMEOUT" : "PRODUCTION_FAILED",
      message: `${model}: ${why}; fal may have queued this render, so it is not submitted again`,
      fallbackAvailable: true,
      cause: err,
    });
  }

  async function submitOnce(request: ClipRequest, idempotencyKey: string): Promise<{ requestId: string }> {
    const outer = attemptSignal();
    const frames = await uploadFrames(request, outer);
    const input = buildEngineInput(engine, frames, request);
    // The deadline starts here: the POST alone, never the uploads before it.
    const deadline = AbortSignal.timeout(submitDeadlineMs);
    try {
      const queued = await client.queue.submit(model, {
        input,
        abortSignal: anySignal(deadline, outer),
        storageSettings: { expiresIn: resultLifetimeS },
        // Our call key rides along, so a delivery for a submission whose answer we lost can be adopted.
        ...(webhookUrl ? { webhookUrl: withCallKey(webhookUrl, idempotencyKey) } : {}),
      });
      return { requestId: queued.request_id };
    } catch (err) {
      throw submitError(err, deadline, outer);
    }
  }

  return {
    engine,
    model,
    clipLengthsS: CLIP_LENGTHS_S[engine],

    submit(request, idempotencyKey) {
      // Within this process a retry (ours or the runner's) after a lost answer must not pay twice:
      // the same key gets the same request. Across restarts the runner's stored request id does it.
      const known = submitted.get(idempotencyKey);
      if (known) return known;
      const pending = submitOnce(request, idempotencyKey);
      submitted.set(idempotencyKey, pending);
      const forget = () => {
        if (submitted.get(idempotencyKey) === pending) submitted.delete(idempotencyKey);
      };
      pending.catch(forget);
      // An attempt the resilience layer gave up on is forgotten at once (abort listeners run before
      // any promise reaction), so its retry submits afresh instead of reusing the dead promise.
      attemptSignal()?.addEventListener("abort", forget, { once: true });
      if (submitted.size > IDEMPOTENCY_MEMORY) submitted.delete(submitted.keys().next().value as string);
      return pending;
    },

    async status(requestId: string, signal?: AbortSignal): Promise<RenderStatus> {
      try {
        const status = await client.queue.status(model, { requestId, abortSignal: signal });
        if (status.status === "COMPLETED") return { state: "completed" };
        if (status.status === "IN_PROGRESS") return { state: "running" };
        const position = (status as { queue_position?: unknown }).queue_position;
        return { state: "queued", ...(typeof position === "number" ? { position } : {}) };
      } catch (err) {
        // fal answers 404 for a request id it does not know under this model.
        if (err instanceof ApiError && err.status === 404) return { state: "unknown" };
        throw falError(err, { provider: engine, kind: "production", deadline: NEVER, callerSignals: [signal] });
      }
    },

    async result(requestId: string, signal?: AbortSignal): Promise<Media> {
      let data: unknown;
      try {
        data = (await client.queue.result(model, { requestId, abortSignal: signal })).data;
      } catch (err) {
        // A failed run also ends COMPLETED; its error comes back here (providers.md §1.2). Only the
        // model's own verdict moves the scene to another engine; a busy gateway is asked again.
        const mapped = falError(err, { provider: engine, kind: "production", deadline: NEVER, callerSignals: [signal] });
        if (isRenderVerdict(err)) {
          const detail = mapped instanceof Error ? mapped.message : String(err);
          throw new RenderFailedError({ provider: engine, message: `${model} failed ${requestId}: ${detail}`, cause: err });
        }
        throw mapped;
      }
      const file = resultFile(data, "video");
      if (!file) throw new RenderFailedError({ provider: engine, message: `${model} returned no video for ${requestId}` });
      try {
        const media = await download(file.url, signal);
        return { data: media.data, contentType: media.contentType.startsWith("video/") ? media.contentType : (file.contentType ?? "video/mp4") };
      } catch (err) {
        throw falError(err, { provider: engine, kind: "production", deadline: NEVER, callerSignals: [signal] });
      }
    },

    async cancel(requestId: string): Promise<void> {
      try {
        await client.queue.cancel(model, { requestId });
      } catch (err) {
        // Already finished or unknown: nothing left to cancel.
        if (err instanceof ApiError && [400, 404, 409].includes(err.status)) return;
        throw falError(err, { provider: engine, kind: "production", deadline: NEVER, callerSignals: [] });
      }
    },
  };
}

/** A signal that never aborts: status, result and cancel have no deadline of their own here. */
const NEVER = new AbortController().signal;

/** The result GET answered with the model's error about this request (not a gateway hiccup). */
function isRenderVerdict(err: unknown): boolean {
  if (err instanceof ValidationError) return true;
  if (!(err instanceof ApiError)) return false;
  return ![404, 408, 429, 502, 503, 504].includes(err.status);
}

function withCallKey(webhookUrl: string, key: string): string {
  const url = new URL(webhookUrl);
  url.searchParams.set("call", key);
  return url.toString();
}
