/**
 * fal webhooks (providers.md §1.4): signature verification and an HTTP handler.
 *
 * fal signs `${requestId}\n${userId}\n${timestamp}\n${sha256hex(rawBody)}` with Ed25519 and
 * publishes its public keys as a JWKS. The signature covers the raw bytes, so the body must be
 * verified before it is parsed. Keys are cached (24 h at most) and refetched once, rate-limited,
 * when no cached key verifies a signature: that is how a key rotation is picked up without letting
 * forged deliveries hammer the JWKS endpoint.
 *
 * A webhook only speeds up a render: the runner's `collect` still polls fal, so a delivery that is
 * lost, early or unknown costs latency, never a clip.
 */
import { createHash, createPublicKey, verify as verifySignature, type KeyObject } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

/** Current host of fal's key set; older docs use https://rest.alpha.fal.ai/.well-known/jwks.json. */
export const FAL_JWKS_URL = "https://rest.fal.ai/.well-known/jwks.json";

const DAY_MS = 24 * 60 * 60 * 1000;

export type FalWebhookRejection = "missing_headers" | "stale" | "bad_signature" | "bad_body" | "replay";

/** A delivery whose signature verified. `payload` is fal's output (or error detail) as sent. */
export interface VerifiedFalWebhook {
  ok: true;
  requestId: string;
  /** Changes when fal retries internally; never dedupe on it. */
  gatewayRequestId?: string;
  status: "OK" | "ERROR";
  payload: unknown;
  /** fal's error text when status is ERROR, e.g. "Invalid status code: 422". */
  error?: string;
  /** Set when the model's output was not JSON (payload is then null). */
  payloadError?: string;
  /** Opaque id of this exact delivery, for `release` (the replay memory). */
  deliveryId: string;
  /** The fal account the request belongs to (signed). */
  userId: string;
}

/** Where a verified delivery was addressed: our call key, when the submission put one in its URL. */
export interface FalWebhookContext {
  callKey?: string;
}

export type FalWebhookVerdict = VerifiedFalWebhook | { ok: false; reason: FalWebhookRejection };

/** The key set could not be fetched and none is cached: nothing can be verified right now. */
export class FalJwksUnavailableError extends Error {
  override readonly name = "FalJwksUnavailableError";
}

export interface FalWebhookVerifierOptions {
  jwksUrl: string;
  fetch?: typeof fetch;
  /** How long a fetched key set is trusted. Capped at 24 h (fal's guidance). */
  cacheTtlMs?: number;
  /** Deliveries whose timestamp is further than this from now are stale. */
  maxSkewS?: number;
  /** Milliseconds since the epoch; tests move time with it. */
  now?: () => number;
  /** At most one refetch per this interval is triggered by a signature miss. Default 60 s. */
  refetchMinIntervalMs?: number;
  /** Deadline of one JWKS fetch. Default 5 s. */
  jwksTimeoutMs?: number;
  /** Deliveries remembered for replay detection. Default 10 000. */
  replayMemory?: number;
}

export interface FalWebhookVerifier {
  verify(rawBody: Buffer, headers: Record<string, string | string[] | undefined>): Promise<FalWebhookVerdict>;
  /**
   * Forgets a delivery so an identical one is no longer a replay. The handler calls it when it
   * could not process a delivery, so fal's retry of those same bytes is not refused.
   */
  release(deliveryId: string): void;
}

interface KeySet {
  keys: KeyObject[];
  fetchedAt: number;
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name] ?? headers[name.toLowerCase()];
  const s = Array.isArray(v) ? v[0] : v;
  return s?.trim() || undefined;
}

/** Only Ed25519 signing keys; a malformed entry is skipped rather than failing the whole set. */
function parseKeySet(json: unknown): KeyObject[] {
  const entries = (json as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(entries)) throw new Error("JWKS without a keys array");
  const keys: KeyObject[] = [];
  for (const k of entries as Array<Record<string, unknown>>) {
    if (k?.kty !== "OKP" || k.crv !== "Ed25519" || typeof k.x !== "string") continue;
    if (k.use !== undefined && k.use !== "sig") continue;
    try {
      keys.push(createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: k.x }, format: "jwk" }));
    } catch {
      // not a valid Ed25519 point
    }
  }
  return keys;
}

export function createFalWebhookVerifier(options: FalWebhookVerifierOptions): FalWebhookVerifier {
  const doFetch = options.fetch ?? globalThis.fetch;
  const cacheTtlMs = Math.min(options.cacheTtlMs ?? DAY_MS, DAY_MS);
  const maxSkewS = options.maxSkewS ?? 300;
  const now = options.now ?? Date.now;
  const refetchMinIntervalMs = options.refetchMinIntervalMs ?? 60_000;
  const jwksTimeoutMs = options.jwksTimeoutMs ?? 5_000;
  const replayMemory = options.replayMemory ?? 10_000;

  let keySet: KeySet | undefined;
  let inflight: Promise<KeySet> | undefined;
  let lastFetchAttempt = Number.NEGATIVE_INFINITY;
  /** deliveryId → when it stops mattering (its timestamp can no longer pass the skew check). */
  const seen = new Map<string, number>();

  function fetchKeys(): Promise<KeySet> {
    // Single flight: a burst of deliveries after a restart triggers one fetch, not one each.
    inflight ??= (async () => {
      lastFetchAttempt = now();
      try {
        const res = await doFetch(options.jwksUrl, { signal: AbortSignal.timeout(jwksTimeoutMs), headers: { accept: "application/json" } });
        if (!res.ok) throw new Error(`JWKS fetch failed: HTTP ${res.status}`);
        const keys = parseKeySet(await res.json());
        if (keys.length === 0) throw new Error("JWKS has no Ed25519 key");
        keySet = { keys, fetchedAt: now() };
        return keySet;
      } finally {
        inflight = undefined;
      }
    })();
    return inflight;
  }

  async function currentKeys(): Promise<{ set: KeySet; fresh: boolean }> {
    if (keySet && now() - keySet.fetchedAt < cacheTtlMs) return { set: keySet, fresh: false };
    try {
      return { set: await fetchKeys(), fresh: true };
    } catch (err) {
      // An expired set beats no set while fal's key endpoint is down; keys rotate rarely.
      if (keySet) return { set: keySet, fresh: false };
      throw new FalJwksUnavailableError(err instanceof Error ? err.message : String(err));
    }
  }

  function remember(deliveryId: string, timestampS: number) {
    const t = now();
    for (const [id, expires] of seen) {
      if (expires > t && seen.size < replayMemory) break; // oldest first: the rest is younger
      seen.delete(id);
    }
    seen.set(deliveryId, (timestampS + maxSkewS) * 1000);
  }

  async function verify(rawBody: Buffer, headers: Record<string, string | string[] | undefined>): Promise<FalWebhookVerdict> {
    const requestId = header(headers, "x-fal-webhook-request-id");
    const userId = header(headers, "x-fal-webhook-user-id");
    const timestamp = header(headers, "x-fal-webhook-timestamp");
    const signatureHex = header(headers, "x-fal-webhook-signature");
    if (!requestId || !userId || !timestamp || !signatureHex) return { ok: false, reason: "missing_headers" };
    if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: "missing_headers" };
    const timestampS = Number(timestamp);
    if (Math.abs(now() / 1000 - timestampS) > maxSkewS) return { ok: false, reason: "stale" };
    // Ed25519 signatures are 64 bytes; anything else cannot verify and is not worth a refetch.
    if (!/^[0-9a-f]{128}$/i.test(signatureHex)) return { ok: false, reason: "bad_signature" };

    const signature = Buffer.from(signatureHex, "hex");
    const message = Buffer.from(`${requestId}\n${userId}\n${timestamp}\n${createHash("sha256").update(rawBody).digest("hex")}`);
    const matches = (set: KeySet) => set.keys.some((key) => verifySignature(null, message, key, signature));

    const { set, fresh } = await currentKeys();
    let valid = matches(set);
    if (!valid && !fresh && now() - lastFetchAttempt >= refetchMinIntervalMs) {
      // Maybe fal rotated its key since we cached the set: look once more.
      const refreshed = await fetchKeys().catch(() => undefined);
      valid = refreshed ? matches(refreshed) : false;
    }
    if (!valid) return { ok: false, reason: "bad_signature" };

    const deliveryId = `${requestId}\n${timestamp}\n${signatureHex.toLowerCase()}`;
    const expires = seen.get(deliveryId);
    if (expires !== undefined && expires > now()) return { ok: false, reason: "replay" };
    remember(deliveryId, timestampS);

    let body: Record<string, unknown>;
    try {
      body = JSON.parse(rawBody.toString("utf8")) as Record<string, unknown>;
    } catch {
      return { ok: false, reason: "bad_body" };
    }
    const status = body?.status;
    // The header is signed; the body's id must agree with it or the delivery is incoherent.
    if (typeof body !== "object" || body === null || (status !== "OK" && status !== "ERROR") || (body.request_id !== undefined && body.request_id !== requestId)) {
      return { ok: false, reason: "bad_body" };
    }
    return {
      ok: true,
      requestId,
      ...(typeof body.gateway_request_id === "string" ? { gatewayRequestId: body.gateway_request_id } : {}),
      status,
      payload: body.payload ?? null,
      ...(typeof body.error === "string" ? { error: body.error } : {}),
      ...(typeof body.payload_error === "string" ? { payloadError: body.payload_error } : {}),
      deliveryId,
      userId,
    };
  }

  return { verify, release: (deliveryId) => void seen.delete(deliveryId) };
}

// ---------------------------------------------------------------------------------------------
// HTTP handler

/** What the runner did with a result: all three end fal's retries (the answer is 200). */
export type FalWebhookOutcome = "accepted" | "duplicate" | "unknown";

export interface FalWebhookLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface FalWebhookHandlerOptions {
  verifier: FalWebhookVerifier;
  /**
   * Hands a verified result to the runner. Must be idempotent per request id (the ledger): fal
   * delivers at least once. Throwing answers 500, so fal delivers again later.
   */
  onResult: (requestId: string, result: VerifiedFalWebhook, context: FalWebhookContext) => Promise<FalWebhookOutcome>;
  /**
   * Our fal account's user id (X-Fal-Webhook-User-Id). When set, a delivery for another account is
   * refused, and only deliveries for ours may name a call key to adopt a submission whose answer
   * was lost. Unset: deliveries still nudge known requests, nothing is adopted.
   */
  expectedUserId?: string;
  logger?: FalWebhookLogger;
  /** Bodies above this are refused (413). Default 1 MB: fal posts URLs, never media. */
  maxBodyBytes?: number;
  /** Request ids already handled, answered 200 at once without calling onResult. Default 10 000. */
  handledMemory?: number;
}

class BodyTooLargeError extends Error {}

function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? "0");
    if (declared > maxBytes) return reject(new BodyTooLargeError());
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.removeAllListeners("data");
        req.resume(); // drain without buffering, so the 413 can still be written
        reject(new BodyTooLargeError());
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function reply(res: ServerResponse, status: number, body: object) {
  if (res.headersSent) return;
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(JSON.stringify(body));
}

/**
 * A plain node:http handler for fal's webhook. 401 for anything unauthenticated; 200 for every
 * authenticated delivery we will never want again (handled, duplicate, unknown, malformed), so
 * fal stops retrying; 500/503 when a retry later may succeed.
 */
export function createFalWebhookHandler(options: FalWebhookHandlerOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { verifier, onResult, logger } = options;
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const handledMemory = options.handledMemory ?? 10_000;
  /** requestId → the one onResult call for it (in flight or done); failures are forgotten. */
  const handled = new Map<string, Promise<FalWebhookOutcome>>();

  function handleOnce(verified: VerifiedFalWebhook, context: FalWebhookContext): Promise<FalWebhookOutcome> {
    const known = handled.get(verified.requestId);
    if (known) return known.then(() => "duplicate" as const);
    const pending = onResult(verified.requestId, verified, context);
    handled.set(verified.requestId, pending);
    if (handled.size > handledMemory) handled.delete(handled.keys().next().value as string);
    pending.then(
      (outcome) => {
        // An unknown id may become known (the submit's ledger write raced the webhook).
        if (outcome === "unknown" && handled.get(verified.requestId) === pending) handled.delete(verified.requestId);
      },
      () => {
        if (handled.get(verified.requestId) === pending) handled.delete(verified.requestId);
      },
    );
    return pending;
  }

  return async (req, res) => {
    if (req.method !== "POST") {
      res.setHeader("allow", "POST");
      return reply(res, 405, { error: "method not allowed" });
    }
    let raw: Buffer;
    try {
      raw = await readBody(req, maxBodyBytes);
    } catch (err) {
      if (err instanceof BodyTooLargeError) {
        logger?.warn({ maxBodyBytes }, "fal webhook body too large");
        res.setHeader("connection", "close");
        return reply(res, 413, { error: "body too large" });
      }
      logger?.warn({ err: (err as Error)?.message }, "fal webhook body could not be read");
      return reply(res, 400, { error: "unreadable body" });
    }

    let verdict: FalWebhookVerdict;
    try {
      verdict = await verifier.verify(raw, req.headers);
    } catch (err) {
      // No key to check against: a later delivery may succeed, so ask fal to retry.
      logger?.error({ err: err instanceof Error ? err.message : String(err) }, "fal webhook could not be verified");
      return reply(res, 503, { error: "verification unavailable" });
    }

    if (!verdict.ok) {
      const requestId = typeof req.headers["x-fal-webhook-request-id"] === "string" ? req.headers["x-fal-webhook-request-id"] : undefined;
      if (verdict.reason === "bad_body") {
        // Authentic but unusable: fal would resend the same bytes, so stop it.
        logger?.warn({ requestId, reason: verdict.reason }, "fal webhook body rejected");
        return reply(res, 200, { ok: false });
      }
      // The reason stays in our log; the sender only learns that it was refused.
      logger?.warn({ requestId, reason: verdict.reason }, "fal webhook rejected");
      return reply(res, 401, { error: "invalid webhook signature" });
    }

    if (options.expectedUserId && verdict.userId !== options.expectedUserId) {
      logger?.warn({ requestId: verdict.requestId }, "fal webhook for another fal account refused");
      return reply(res, 403, { error: "not this account's request" });
    }
    // The call key rides in our own webhook URL; it counts only when the account is known to be ours.
    const callKey = options.expectedUserId ? new URL(req.url ?? "/", "http://localhost").searchParams.get("call") ?? undefined : undefined;
    try {
      const outcome = await handleOnce(verdict, { callKey });
      logger?.info({ requestId: verdict.requestId, status: verdict.status, outcome }, "fal webhook handled");
      return reply(res, 200, { ok: true });
    } catch (err) {
      verifier.release(verdict.deliveryId);
      logger?.error({ requestId: verdict.requestId, err: err instanceof Error ? err.message : String(err) }, "fal webhook result not stored");
      return reply(res, 500, { error: "not stored, retry later" });
    }
  };
}
