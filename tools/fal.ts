/**
 * Shared plumbing of the fal adapters: the client, uploads, the queue wait, downloads, the
 * mapping of fal's errors to ProviderError, and one Flux image call (generateFalImage). The adapters live in fal-illustrator.ts (Flux) and
 * fal-video.ts (Kling, Luma, Veo); both are re-exported here.
 *
 * fal's hosts are hard-coded in the SDK (no base-URL option), so tests inject `fetch` and reroute
 * every host to the loopback stand-in (providers.md §1.1). fal's per-call retries (429/502/503/504,
 * 1 s base) cannot be turned off and run below our resilience layer; fal also retries the queue
 * path itself and does not bill 5xx, which is why re-submitting after a 5xx is acceptable.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { ApiError, ValidationError, createFalClient, type FalClient } from "@fal-ai/client";
import type { Media } from "./ports.js";
import { currentPaidCall } from "../core/paidCall.js";
import { ClientError, ProviderError, anySignal, attemptSignal, classifyError, redactSecrets, type ServiceKind } from "./resilience.js";
import { SubmitOutcomeUnknownError, guardSubmits } from "./fal-transport.js";

export { createFalIllustrator, type FalIllustratorOptions } from "./fal-illustrator.js";
export { SubmitOutcomeUnknownError } from "./fal-transport.js";
export {
  createFalVideoEngine,
  buildEngineInput,
  billedClip,
  KLING_MODEL,
  LUMA_MODEL,
  VEO_MODEL,
  DEFAULT_VIDEO_MODELS,
  type FalVideoEngineOptions,
} from "./fal-video.js";

export interface FalConnectionOptions {
  apiKey: string;
  /** Every request of the SDK (queue, storage initiate, storage PUT) goes through this. */
  fetch?: typeof fetch;
}

/**
 * A separate client instance (not the `fal` singleton): config never leaks between users. Its
 * fetch never lets the SDK repeat a submit that may have reached fal (fal-transport.ts).
 */
export function createFal(options: FalConnectionOptions): FalClient {
  const inner = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  return createFalClient({ credentials: options.apiKey, fetch: guardSubmits(inner) });
}

/** Fetches a result's bytes. fal CDN URLs expire, so results are downloaded at once. */
export type Download = (url: string, signal?: AbortSignal) => Promise<Media>;

export interface DownloaderOptions {
  fetch?: typeof fetch;
  /** Refuse bigger bodies (a 10 s 1080p clip is ~20 MB). Default 200 MB. */
  maxBytes?: number;
}

/** An HTTP failure of a download; `status` lets the error mapping classify it. */
export class DownloadError extends Error {
  override readonly name = "DownloadError";
  constructor(readonly status: number | undefined, message: string) {
    super(message);
  }
}

export function createDownloader(options: DownloaderOptions = {}): Download {
  const maxBytes = options.maxBytes ?? 200 * 1024 * 1024;
  return async (url, signal) => {
    const doFetch = options.fetch ?? globalThis.fetch;
    const res = await doFetch(url, signal ? { signal } : {});
    if (!res.ok) throw new DownloadError(res.status, `download failed: HTTP ${res.status}`);
    const declared = Number(res.headers.get("content-length") ?? "0");
    if (declared > maxBytes) throw new DownloadError(undefined, `download too large: ${declared} bytes`);
    const data = new Uint8Array(await res.arrayBuffer());
    if (data.byteLength > maxBytes) throw new DownloadError(undefined, `download too large: ${data.byteLength} bytes`);
    if (data.byteLength === 0) throw new DownloadError(undefined, "download is empty");
    const contentType = (res.headers.get("content-type") ?? "application/octet-stream").split(";")[0].trim();
    return { data, contentType };
  };
}

/**
 * Settles with `work`, or rejects with the signal's reason as soon as it aborts. fal's storage
 * upload takes no AbortSignal, so an upload past its deadline is abandoned, not stopped (it is free).
 */
export function raceSignal<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => { signal.removeEventListener("abort", onAbort); resolve(value); },
      (err) => { signal.removeEventListener("abort", onAbort); reject(err); },
    );
  });
}

/** Uploads bytes to fal storage and returns the file URL a model can read. */
export async function uploadMedia(client: FalClient, media: Media): Promise<string> {
  // Copy: Blob wants an ArrayBuffer-backed view, and the caller's buffer may be shared.
  return client.storage.upload(new Blob([new Uint8Array(media.data)], { type: media.contentType }));
}

export interface QueueWait {
  pollIntervalMs: number;
  signal: AbortSignal;
}

/**
 * Polls `queue.status` until COMPLETED, then returns `queue.result`'s data. A failed run also ends
 * COMPLETED: its error comes from the result GET as ApiError/ValidationError (providers.md §1.2).
 * Works from a bare request id, so a fresh process can collect what another one submitted.
 */
export async function awaitFalResult(client: FalClient, model: string, requestId: string, wait: QueueWait): Promise<unknown> {
  const { signal } = wait;
  for (;;) {
    signal.throwIfAborted();
    const status = await client.queue.status(model, { requestId, abortSignal: signal });
    if (status.status === "COMPLETED") break;
    await sleep(wait.pollIntervalMs, undefined, { signal });
  }
  const result = await client.queue.result(model, { requestId, abortSignal: signal });
  return result.data;
}

/**
 * Submits and waits: the queue path, because fal never rejects queued work for concurrency. The
 * request id is handed to the paid call in progress (core/paidCall.ts) as soon as fal answers, so
 * a retry after a deadline or a new process after a crash waits for the same request instead of
 * paying for a second one; a request fal no longer knows is submitted afresh.
 */
export async function runFalQueue(client: FalClient, model: string, input: Record<string, unknown>, wait: QueueWait): Promise<unknown> {
  const call = currentPaidCall();
  if (call?.requestId) {
    try {
      return await awaitFalResult(client, model, call.requestId, wait);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
    }
  }
  const { request_id: requestId } = await client.queue.submit(model, { input, abortSignal: wait.signal });
  await call?.submitted(requestId);
  return awaitFalResult(client, model, requestId, wait);
}

export interface FalErrorContext {
  provider: string;
  kind: ServiceKind;
  /** Our own deadline for this call. */
  deadline: AbortSignal;
  /** Signals of callers; an abort by them passes through untouched. */
  callerSignals: (AbortSignal | undefined)[];
}

function validationSummary(err: ValidationError): string {
  try {
    // Decide on `type`, never on `msg` (providers.md §1.5); loc names the field.
    return err.fieldErrors.map((f) => `${(f.loc ?? []).filter((l) => l !== "body").join(".") || "input"}: ${f.type}`).join(", ");
  } catch {
    return "invalid input";
  }
}

/** fal / download / deadline failures → ProviderError with the right code for the service. */
export function falError(err: unknown, ctx: FalErrorContext): unknown {
  if (err instanceof ProviderError) return err;
  const { provider, kind } = ctx;
  const production = kind === "production";
  const failure = production ? "PRODUCTION_FAILED" : "PREVIEW_FAILED";
  const e = err as { name?: string; message?: string };
  const message = redactSecrets(`${e?.name ?? "Error"}: ${e?.message ?? String(err)}`);
  if (ctx.deadline.aborted) {
    return new ProviderError({ provider, code: production ? "PRODUCTION_TIMEOUT" : "TIMEOUT", message: "deadline exceeded", fallbackAvailable: production, cause: err });
  }
  // A caller cancelled: hand back its reason (what surfaced may be a poll's generic AbortError).
  const cancelled = ctx.callerSignals.find((s) => s?.aborted);
  if (cancelled) return cancelled.reason;
  if (err instanceof SubmitOutcomeUnknownError) {
    // A preview costs a fraction of a cent and a retry is what the user wants; a clip costs dollars,
    // so fal-video.ts never gets here for a submit (it decides before, see submitError).
    return new ProviderError({ provider, code: failure, message, retryable: !production, fallbackAvailable: production, cause: err });
  }
  if (err instanceof ValidationError) {
    const summary = validationSummary(err);
    return new ClientError({
      provider,
      code: "INVALID_REQUEST",
      message: `422 ${summary}`,
      status: 422,
      userMessage: production
        ? `The video engine rejected this scene (${summary}). Trying an alternate engine.`
        : `The image generator rejected this request (${summary}).`,
      userAction: production ? "CHANGE_ENGINE" : "CONTACT_SUPPORT",
      fallbackAvailable: production,
      cause: err,
    });
  }
  if (err instanceof ApiError || err instanceof DownloadError) {
    const status = err.status;
    const errorType = err instanceof ApiError ? (err.body as { error_type?: unknown } | undefined)?.error_type : undefined;
    const detail = `${message}${typeof errorType === "string" ? ` (${errorType})` : ""}`;
    if (status === 429) {
      return new ProviderError({
        provider, code: "EXTERNAL_RATE_LIMIT", message: detail, status, retryable: true,
        ...(production ? {} : { userAction: "RETRY" as const, fallbackAvailable: false, userMessage: "The image generator is busy. Please try again in a minute." }),
        cause: err,
      });
    }
    if (status === 401 || status === 403) return new ProviderError({ provider, code: "AUTH_FAILED", message: detail, status, cause: err });
    if (err instanceof ApiError && err.isUserTimeout) {
      return new ProviderError({ provider, code: production ? "PRODUCTION_TIMEOUT" : "TIMEOUT", message: detail, status, retryable: false, cause: err });
    }
    if (status !== undefined && status >= 400 && status < 500 && status !== 408) {
      return new ClientError({ provider, code: "INVALID_REQUEST", message: detail, status, userAction: production ? "CHANGE_ENGINE" : "CONTACT_SUPPORT", fallbackAvailable: production, cause: err });
    }
    return new ProviderError({ provider, code: failure, message: detail, status, retryable: true, cause: err });
  }
  // Connection failures and the like may work next time; a bug in our code (a plain TypeError) won't.
  return new ProviderError({ provider, code: failure, message, retryable: classifyError(err).retryable, cause: err });
}

/** The first URL of `images[]` (Flux) or `video` (video models), with fal's content type. */
export function resultFile(data: unknown, field: "images" | "video"): { url: string; contentType?: string } | undefined {
  const d = data as { images?: Array<{ url?: unknown; content_type?: unknown }>; video?: { url?: unknown; content_type?: unknown } } | null;
  const file = field === "images" ? d?.images?.[0] : d?.video;
  if (!file || typeof file.url !== "string") return undefined;
  return { url: file.url, contentType: typeof file.content_type === "string" ? file.content_type : undefined };
}

export interface FalImageCall {
  client: FalClient;
  download: Download;
  provider: string;
  /** Deadline of the whole call: input (uploads) + queue + download. */
  deadlineMs: number;
  pollIntervalMs: number;
  /** The content type when neither the download nor fal names an image type: the requested format. */
  fallbackType: string;
}

/**
 * One image from a Flux model through the queue, downloaded at once (fal CDN URLs expire). The
 * input is built inside the deadline, so uploads count against it; failures map as previews.
 */
export async function generateFalImage(
  call: FalImageCall,
  model: string,
  buildInput: () => Promise<Record<string, unknown>>,
): Promise<Media> {
  const { client, download, provider, pollIntervalMs } = call;
  const deadline = AbortSignal.timeout(call.deadlineMs);
  const outer = attemptSignal();
  const signal = anySignal(deadline, outer);
  try {
    const input = await buildInput();
    const data = await runFalQueue(client, model, input, { pollIntervalMs, signal });
    const file = resultFile(data, "images");
    if (!file) throw new ProviderError({ provider, code: "PREVIEW_FAILED", message: `${model} returned no image`, retryable: true });
    const media = await download(file.url, signal);
    return { data: media.data, contentType: media.contentType.startsWith("image/") ? media.contentType : (file.contentType ?? call.fallbackType) };
  } catch (err) {
    throw falError(err, { provider, kind: "preview", deadline, callerSignals: [outer] });
  }
}
