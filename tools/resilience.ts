/**
 * Resilience around any port (spec §6): per-attempt deadlines, retries (p-retry), one circuit
 * breaker (opossum) and one limiter (bottleneck) per provider, and typed errors that chat can
 * show. Adapters stay plain; this layer is the only place that retries, so every SDK runs with
 * its own retries off (see providers.md "Do not stack it on top of SDK retries").
 *
 * Order of one call:  retry loop → limiter slot → breaker → deadline → fn.
 * The breaker sits inside the retry loop, so it counts attempts (a call with 3 failed attempts is
 * 3 failures) and an open breaker stops the retries at once instead of hammering a dead provider.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import Bottleneck from "bottleneck";
import CircuitBreaker from "opossum";
import pRetry, { AbortError } from "p-retry";
import { PRODUCTION_ENGINES, type ProductionEngine, type Tools, type VideoEngine } from "./ports.js";

// ---------------------------------------------------------------------------------------------
// Errors (spec §6.3)

export type UserAction = "RETRY" | "CONTACT_SUPPORT" | "CHANGE_ENGINE";

export type ProviderErrorCode =
  | "PRODUCTION_TIMEOUT" // spec KLING_TIMEOUT
  | "PRODUCTION_FAILED"
  | "EXTERNAL_RATE_LIMIT" // spec LUMA_RATE_LIMIT
  | "PREVIEW_FAILED" // spec FLUX_GENERATION_FAILED
  | "ANALYSIS_FAILED"
  | "SCRIPT_FAILED"
  | "INVALID_RESPONSE"
  | "CONTENT_BLOCKED"
  | "INVALID_REQUEST"
  | "AUTH_FAILED"
  | "QUOTA_EXHAUSTED"
  | "TIMEOUT"
  | "SERVICE_UNAVAILABLE";

interface CatalogueEntry {
  userMessage: string;
  retryable: boolean;
  userAction: UserAction;
  fallbackAvailable: boolean;
}

/** Defaults per code; the spec's three handlers verbatim, the rest in the same voice. */
const CATALOGUE: Record<ProviderErrorCode, CatalogueEntry> = {
  PRODUCTION_TIMEOUT: { userMessage: "Video generation is taking longer than expected", retryable: true, userAction: "RETRY", fallbackAvailable: true },
  PRODUCTION_FAILED: { userMessage: "The video engine could not render this scene. Trying an alternate engine.", retryable: true, userAction: "CHANGE_ENGINE", fallbackAvailable: true },
  EXTERNAL_RATE_LIMIT: { userMessage: "Production service is busy. Trying alternate engine.", retryable: false, userAction: "CHANGE_ENGINE", fallbackAvailable: true },
  PREVIEW_FAILED: { userMessage: "Preview generation failed. Please try again.", retryable: true, userAction: "RETRY", fallbackAvailable: false },
  ANALYSIS_FAILED: { userMessage: "Brand analysis failed. Please try again.", retryable: true, userAction: "RETRY", fallbackAvailable: false },
  SCRIPT_FAILED: { userMessage: "Writing the storyboard failed. Please try again.", retryable: true, userAction: "RETRY", fallbackAvailable: false },
  INVALID_RESPONSE: { userMessage: "The AI service returned an unreadable answer. Please try again.", retryable: false, userAction: "RETRY", fallbackAvailable: false },
  CONTENT_BLOCKED: { userMessage: "The AI service declined this content. Try a different image or wording.", retryable: false, userAction: "RETRY", fallbackAvailable: false },
  INVALID_REQUEST: { userMessage: "The AI service rejected the request. Our team has been notified.", retryable: false, userAction: "CONTACT_SUPPORT", fallbackAvailable: false },
  AUTH_FAILED: { userMessage: "The AI service refused our credentials. Our team has been notified.", retryable: false, userAction: "CONTACT_SUPPORT", fallbackAvailable: false },
  QUOTA_EXHAUSTED: { userMessage: "The AI service quota is used up. Our team has been notified.", retryable: false, userAction: "CONTACT_SUPPORT", fallbackAvailable: false },
  TIMEOUT: { userMessage: "The AI service did not answer in time. Please try again.", retryable: true, userAction: "RETRY", fallbackAvailable: false },
  SERVICE_UNAVAILABLE: { userMessage: "The AI service is temporarily unavailable. Please try again in a minute.", retryable: false, userAction: "RETRY", fallbackAvailable: false },
};

export interface ProviderErrorInit {
  provider: string;
  code: ProviderErrorCode;
  /** Technical detail for logs. Never put a credential here (see redactSecrets). */
  message?: string;
  retryable?: boolean;
  userMessage?: string;
  userAction?: UserAction;
  fallbackAvailable?: boolean;
  /** HTTP status of the provider answer, when there was one. */
  status?: number;
  /** How long the provider asked us to wait (429 Retry-After, Gemini RetryInfo). */
  retryAfterMs?: number;
  cause?: unknown;
}

/** A provider failure that chat can show as is: `userMessage` + `userAction`. */
export class ProviderError extends Error {
  override readonly name: string = "ProviderError";
  readonly provider: string;
  readonly code: ProviderErrorCode;
  readonly retryable: boolean;
  readonly userMessage: string;
  readonly userAction: UserAction;
  readonly fallbackAvailable: boolean;
  readonly status?: number;
  readonly retryAfterMs?: number;

  constructor(init: ProviderErrorInit) {
    const base = CATALOGUE[init.code];
    super(redactSecrets(`${init.provider} ${init.code}${init.message ? `: ${init.message}` : ""}`), { cause: init.cause });
    this.provider = init.provider;
    this.code = init.code;
    this.retryable = init.retryable ?? base.retryable;
    this.userMessage = init.userMessage ?? base.userMessage;
    this.userAction = init.userAction ?? base.userAction;
    this.fallbackAvailable = init.fallbackAvailable ?? base.fallbackAvailable;
    if (init.status !== undefined) this.status = init.status;
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
  }

  /** Safe to log or store: no cause chain (a raw SDK error may echo request headers). */
  toJSON() {
    return {
      name: this.name,
      provider: this.provider,
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      userMessage: this.userMessage,
      userAction: this.userAction,
      fallbackAvailable: this.fallbackAvailable,
      status: this.status,
      retryAfterMs: this.retryAfterMs,
    };
  }
}

/**
 * The request itself is wrong (4xx validation, blocked content): retrying cannot help and the
 * provider is healthy, so it is never retried and the breaker does not count it.
 */
export class ClientError extends ProviderError {
  override readonly name: string = "ClientError";
  constructor(init: Omit<ProviderErrorInit, "retryable">) {
    super({ ...init, retryable: false });
  }
}

/** The provider's breaker is open: we did not call it at all. */
export class CircuitOpenError extends ProviderError {
  override readonly name: string = "CircuitOpenError";
  constructor(provider: string, kind: ServiceKind) {
    super({
      provider,
      code: "SERVICE_UNAVAILABLE",
      message: "circuit open, call not attempted",
      retryable: false,
      userAction: kind === "production" ? "CHANGE_ENGINE" : "RETRY",
      fallbackAvailable: kind === "production",
      userMessage:
        kind === "production"
          ? "This video engine is temporarily unavailable. Trying an alternate engine."
          : "The AI service is temporarily unavailable. Please try again in a minute.",
    });
  }
}

/** An attempt ran past its deadline. */
export class DeadlineError extends Error {
  override readonly name = "DeadlineError";
  constructor(readonly timeoutMs: number) {
    super(`deadline of ${timeoutMs} ms exceeded`);
  }
}

/** Credential shapes masked in every message we build; the replacement keeps the label. */
const SECRET_PATTERNS: Array<[RegExp, string]> = [
  [/\b(Bearer|Key)\s+[A-Za-z0-9._:\-]{8,}/gi, "$1 [redacted]"],
  [/\bsk-[A-Za-z0-9_\-]{8,}/g, "[redacted]"],
  [/\bAIza[0-9A-Za-z_\-]{20,}/g, "[redacted]"], // Google API keys
  [/([?&](?:key|api_key|apikey|token)=)[^&\s]+/gi, "$1[redacted]"],
];

/** Masks anything that looks like a credential, plus the given literal secrets; caps the length. */
export function redactSecrets(text: string, secrets: readonly (string | undefined)[] = []): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join("[redacted]");
  for (const [re, replacement] of SECRET_PATTERNS) out = out.replace(re, replacement);
  return out.length > 500 ? `${out.slice(0, 500)}…` : out;
}

// ---------------------------------------------------------------------------------------------
// Error classification

function statusOf(err: unknown): number | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const e = err as { status?: unknown; statusCode?: unknown; response?: { status?: unknown } };
  for (const v of [e.status, e.statusCode, e.response?.status]) if (typeof v === "number") return v;
  return undefined;
}

function headerOf(err: unknown, name: string): string | undefined {
  const h = (err as { headers?: unknown } | null)?.headers;
  if (!h) return undefined;
  if (typeof (h as Headers).get === "function") return (h as Headers).get(name) ?? undefined;
  const rec = h as Record<string, string | undefined>;
  return rec[name] ?? rec[name.toLowerCase()];
}

/** `retryAfterMs` on the error, else the `retry-after-ms` / `Retry-After` headers. */
export function retryAfterOf(err: unknown): number | undefined {
  const direct = (err as { retryAfterMs?: unknown } | null)?.retryAfterMs;
  if (typeof direct === "number" && direct >= 0) return direct;
  const ms = Number(headerOf(err, "retry-after-ms"));
  if (Number.isFinite(ms) && ms >= 0 && headerOf(err, "retry-after-ms") !== undefined) return ms;
  const ra = headerOf(err, "retry-after");
  if (ra === undefined) return undefined;
  const s = Number(ra);
  if (Number.isFinite(s) && s >= 0) return s * 1000;
  const at = Date.parse(ra);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

const NETWORK_CODES = new Set(["ECONNRESET", "ECONNREFUSED", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EAI_AGAIN", "UND_ERR_SOCKET", "UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);

function isNetworkFailure(err: unknown): boolean {
  let e: unknown = err;
  for (let i = 0; i < 3 && e; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && NETWORK_CODES.has(code)) return true;
    if (e instanceof TypeError && /fetch failed|network|socket/i.test(e.message)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

export interface Classification {
  /** Worth another attempt now. */
  retryable: boolean;
  /** The caller's fault (or a cancellation): not a provider failure, the breaker ignores it. */
  client: boolean;
  retryAfterMs?: number;
}

export function classifyError(err: unknown): Classification {
  if (err instanceof CircuitOpenError) return { retryable: false, client: true };
  if (err instanceof ClientError) return { retryable: false, client: true };
  if (err instanceof ProviderError) return { retryable: err.retryable, client: false, retryAfterMs: err.retryAfterMs };
  if (err instanceof DeadlineError) return { retryable: true, client: false };
  if ((err as { code?: unknown } | null)?.code === "EOPENBREAKER") return { retryable: false, client: true };
  const name = (err as { name?: unknown } | null)?.name;
  if (name === "TimeoutError") return { retryable: true, client: false };
  // A cancellation by our caller is neither retryable nor the provider's fault.
  if (name === "AbortError") return { retryable: false, client: true };
  const status = statusOf(err);
  if (status === 429) return { retryable: true, client: false, retryAfterMs: retryAfterOf(err) };
  if (status === 408 || (status !== undefined && status >= 500)) return { retryable: true, client: false };
  if (status !== undefined && status >= 400) return { retryable: false, client: true };
  if (isNetworkFailure(err)) return { retryable: true, client: false };
  // Programming errors are not the provider's fault and will fail the same way again.
  if (err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError || err instanceof SyntaxError) {
    return { retryable: false, client: true };
  }
  return { retryable: true, client: false };
}

// ---------------------------------------------------------------------------------------------
// Policies (spec §6.2, §6.4)

export type ServiceKind = "analysis" | "script" | "preview" | "production";

export interface BreakerPolicy {
  failureThreshold: number;
  windowMs: number;
  resetMs: number;
}

export interface LimiterPolicy {
  maxConcurrent: number | null;
  minTimeMs: number;
}

export interface ResiliencePolicy {
  /** Picks the error codes and user actions of the provider. */
  kind: ServiceKind;
  retries: number;
  backoff: "exponential" | "fixed";
  baseMs: number;
  /** Cap of one exponential wait. */
  maxDelayMs?: number;
  /** Deadline of one attempt (spec "Timeout"). For engines: the render, i.e. `collect`. */
  timeoutMs: number;
  /** Engines only: deadline of one `submit` attempt (an upload plus a POST, never minutes). */
  submitTimeoutMs?: number;
  /** A Retry-After longer than this is not waited for: the error surfaces (fallback engine). */
  maxRetryAfterMs?: number;
  breaker: BreakerPolicy;
  limiter: LimiterPolicy;
}

export const SPEC_BREAKER: BreakerPolicy = { failureThreshold: 5, windowMs: 120_000, resetMs: 60_000 };

/** The providers the spec names; keys of SPEC_POLICIES and the default `providerOf`. */
export type SpecProvider = "GEMINI" | "DEEPSEEK" | "FLUX" | ProductionEngine;

/**
 * Spec §6.2 table. Limiter numbers are ours: a few parallel calls per provider, and video
 * submits spaced by a second so a burst of GREEN approvals does not spike spend.
 * GEMINI_PRO (Veo 3.1 through fal) is not in the spec's table: it gets the Kling/Luma shape
 * (2 fixed 30 s retries of the submit; fal does not bill 5xx) and a 360 s render deadline, as
 * 8 s Veo clips take 1–3 min plus queue time.
 */
export const SPEC_POLICIES: Record<SpecProvider, ResiliencePolicy> = {
  GEMINI: { kind: "analysis", retries: 3, backoff: "exponential", baseMs: 2_000, maxDelayMs: 30_000, timeoutMs: 60_000, breaker: SPEC_BREAKER, limiter: { maxConcurrent: 4, minTimeMs: 100 } },
  DEEPSEEK: { kind: "script", retries: 3, backoff: "exponential", baseMs: 2_000, maxDelayMs: 30_000, timeoutMs: 30_000, breaker: SPEC_BREAKER, limiter: { maxConcurrent: 4, minTimeMs: 0 } },
  FLUX: { kind: "preview", retries: 3, backoff: "exponential", baseMs: 1_000, maxDelayMs: 30_000, timeoutMs: 20_000, breaker: SPEC_BREAKER, limiter: { maxConcurrent: 4, minTimeMs: 0 } },
  KLING: { kind: "production", retries: 2, backoff: "fixed", baseMs: 30_000, timeoutMs: 300_000, submitTimeoutMs: 30_000, breaker: SPEC_BREAKER, limiter: { maxConcurrent: 2, minTimeMs: 1_000 } },
  LUMA: { kind: "production", retries: 2, backoff: "fixed", baseMs: 30_000, timeoutMs: 300_000, submitTimeoutMs: 30_000, breaker: SPEC_BREAKER, limiter: { maxConcurrent: 2, minTimeMs: 1_000 } },
  GEMINI_PRO: { kind: "production", retries: 2, backoff: "fixed", baseMs: 30_000, timeoutMs: 360_000, submitTimeoutMs: 30_000, breaker: SPEC_BREAKER, limiter: { maxConcurrent: 2, minTimeMs: 1_000 } },
};

/** Wait before retry number `retryIndex` (1-based), before delayScale. */
export function backoffDelay(policy: ResiliencePolicy, retryIndex: number): number {
  if (policy.backoff === "fixed") return policy.baseMs;
  return Math.min(policy.baseMs * 2 ** (retryIndex - 1), policy.maxDelayMs ?? Number.POSITIVE_INFINITY);
}

// ---------------------------------------------------------------------------------------------
// Deadlines

const attemptContext = new AsyncLocalStorage<AbortSignal>();

/**
 * The signal of the attempt the caller is running in, if any. Adapters combine it with their
 * own deadline so a request that the resilience layer gave up on is also cancelled on the wire.
 */
export function attemptSignal(): AbortSignal | undefined {
  return attemptContext.getStore();
}

/** Combines signals, skipping missing ones. */
export function anySignal(...signals: (AbortSignal | undefined)[]): AbortSignal {
  const present = signals.filter((s): s is AbortSignal => s !== undefined);
  return present.length === 1 ? present[0] : AbortSignal.any(present);
}

/**
 * Runs `run` with a signal that aborts after `timeoutMs` (DeadlineError) or when `outer` aborts
 * (its reason), and rejects at that moment even if `run` ignores the signal: nothing hangs.
 */
export async function withDeadline<T>(run: (signal: AbortSignal) => Promise<T>, timeoutMs: number, outer?: AbortSignal): Promise<T> {
  outer?.throwIfAborted();
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DeadlineError(timeoutMs)), timeoutMs);
  const onOuterAbort = () => controller.abort(outer?.reason);
  outer?.addEventListener("abort", onOuterAbort, { once: true });
  const aborted = new Promise<never>((_, reject) => {
    controller.signal.addEventListener("abort", () => reject(controller.signal.reason), { once: true });
  });
  try {
    return await Promise.race([attemptContext.run(controller.signal, () => run(controller.signal)), aborted]);
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener("abort", onOuterAbort);
  }
}

// ---------------------------------------------------------------------------------------------
// Conversion to ProviderError

const FAILURE_CODE: Record<ServiceKind, ProviderErrorCode> = {
  analysis: "ANALYSIS_FAILED",
  script: "SCRIPT_FAILED",
  preview: "PREVIEW_FAILED",
  production: "PRODUCTION_FAILED",
};

function errorText(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}

/** Every error leaving the layer is a ProviderError, so chat always has a readable message. */
export function toProviderError(err: unknown, provider: string, kind: ServiceKind): ProviderError {
  if (err instanceof ProviderError) return err;
  if ((err as { code?: unknown } | null)?.code === "EOPENBREAKER") return new CircuitOpenError(provider, kind);
  const c = classifyError(err);
  const status = statusOf(err);
  const message = errorText(err);
  const production = kind === "production";
  if (err instanceof DeadlineError || (err as { name?: unknown } | null)?.name === "TimeoutError") {
    return new ProviderError({ provider, code: production ? "PRODUCTION_TIMEOUT" : "TIMEOUT", message, cause: err, fallbackAvailable: production });
  }
  if (status === 429) {
    return new ProviderError({
      provider, code: "EXTERNAL_RATE_LIMIT", message, status, retryAfterMs: c.retryAfterMs, cause: err,
      ...(production ? {} : { userAction: "RETRY" as const, fallbackAvailable: false, userMessage: "The AI service is busy. Please try again in a minute." }),
    });
  }
  if (status === 401 || status === 403) return new ProviderError({ provider, code: "AUTH_FAILED", message, status, cause: err });
  if (status === 402) return new ProviderError({ provider, code: "QUOTA_EXHAUSTED", message, status, cause: err });
  if (c.client && status !== undefined) return new ClientError({ provider, code: "INVALID_REQUEST", message, status, cause: err });
  return new ProviderError({ provider, code: FAILURE_CODE[kind], message, status, retryable: c.retryable, cause: err });
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

// ---------------------------------------------------------------------------------------------
// The layer

export type CircuitState = "CLOSED" | "OPEN" | "HALF_OPEN";

export interface ResilienceLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface ResilienceOptions {
  policies: Record<string, ResiliencePolicy>;
  logger?: ResilienceLogger;
  /**
   * Multiplies every wait between attempts, backoff and Retry-After alike (not deadlines and not
   * the breaker's resetMs: override those in the policy). 1 in production; tests use ~0.01.
   */
  delayScale?: number;
  onStateChange?: (provider: string, state: CircuitState) => void;
}

export interface WrapOptions {
  /** false: a single attempt (video `collect`). */
  retries?: boolean;
  /** Per-attempt deadline; defaults to the policy's timeoutMs. */
  timeoutMs?: number;
  /** false: neither gated nor counted by the breaker. */
  breaker?: boolean;
  /** false: no limiter slot. */
  limiter?: boolean;
  /**
   * false: an attempt that ran past its deadline is not retried. For paid submits: the request may
   * have been queued before we gave up, and a retry could pay for the same clip twice.
   */
  retryOnDeadline?: boolean;
}

export type PortName = "analyst" | "director" | "illustrator" | ProductionEngine;

export type ProviderOf = (port: PortName) => string;

/** analyst → GEMINI, director → DEEPSEEK, illustrator → FLUX, each engine → its own name. */
export const defaultProviderOf: ProviderOf = (port) =>
  port === "analyst" ? "GEMINI" : port === "director" ? "DEEPSEEK" : port === "illustrator" ? "FLUX" : port;

export interface Resilience {
  wrap<A extends unknown[], R>(provider: string, fn: (...args: A) => Promise<R>, options?: WrapOptions): (...args: A) => Promise<R>;
  getCircuitState(provider: string): CircuitState;
  /** Wraps analyst, director, illustrator and engines; editor and blobs are returned as they are. */
  wrapTools(tools: Tools, providerOf?: ProviderOf): Tools;
  policyOf(provider: string): ResiliencePolicy;
  /** Stops breaker timers and limiters (tests, graceful shutdown). */
  shutdown(): Promise<void>;
}

type Thunk = () => Promise<unknown>;

export function createResilience(options: ResilienceOptions): Resilience {
  const { policies, logger, onStateChange } = options;
  const delayScale = options.delayScale ?? 1;
  const breakers = new Map<string, CircuitBreaker<[Thunk], unknown>>();
  const limiters = new Map<string, Bottleneck>();

  function policyOf(provider: string): ResiliencePolicy {
    const policy = policies[provider];
    if (!policy) throw new Error(`no resilience policy for provider "${provider}"`);
    return policy;
  }

  function stateChanged(provider: string, state: CircuitState) {
    const log = { provider, state };
    if (state === "OPEN") logger?.error(log, "circuit opened");
    else logger?.info(log, state === "HALF_OPEN" ? "circuit half-open, next call is a trial" : "circuit closed");
    onStateChange?.(provider, state);
  }

  function breakerOf(provider: string) {
    let breaker = breakers.get(provider);
    if (breaker) return breaker;
    const { breaker: b } = policyOf(provider);
    breaker = new CircuitBreaker(async (thunk: Thunk) => thunk(), {
      name: provider,
      // Deadlines come from the policy (withDeadline); opossum's own 10 s default would cut renders.
      timeout: false,
      resetTimeout: b.resetMs,
      rollingCountTimeout: b.windowMs,
      rollingCountBuckets: 10,
      // opossum opens when, inside the window, fires >= volumeThreshold and the failure rate is
      // strictly above errorThresholdPercentage. With volumeThreshold = 5 and 50 %, a provider that
      // fails every call opens on exactly the 5th failure within 120 s (5/5 = 100 %), while a busy
      // provider with a few sporadic failures among many successes stays closed. Client errors are
      // filtered out and count as successes (the provider answered), per opossum's errorFilter; so a
      // client error during HALF_OPEN closes the breaker, which is right: the provider is up.
      volumeThreshold: b.failureThreshold,
      errorThresholdPercentage: 50,
      errorFilter: (err: unknown) => classifyError(err).client,
    });
    breaker.on("open", () => stateChanged(provider, "OPEN"));
    breaker.on("halfOpen", () => stateChanged(provider, "HALF_OPEN"));
    breaker.on("close", () => stateChanged(provider, "CLOSED"));
    breakers.set(provider, breaker);
    return breaker;
  }

  function limiterOf(provider: string) {
    let limiter = limiters.get(provider);
    if (limiter) return limiter;
    const { limiter: l } = policyOf(provider);
    limiter = new Bottleneck({ id: `resilience-${provider}`, maxConcurrent: l.maxConcurrent, minTime: l.minTimeMs });
    limiter.on("error", (err: unknown) => logger?.error({ provider, err: errorText(err) }, "limiter error"));
    limiters.set(provider, limiter);
    return limiter;
  }

  async function call<R>(provider: string, run: (signal: AbortSignal) => Promise<R>, opts: WrapOptions, outer?: AbortSignal): Promise<R> {
    const policy = policyOf(provider);
    const timeoutMs = opts.timeoutMs ?? policy.timeoutMs;
    const maxRetryAfterMs = policy.maxRetryAfterMs ?? 60_000;

    const once = (): Promise<R> => {
      // Fail fast while open instead of first waiting for a limiter slot (video minTime is 1 s).
      if (opts.breaker !== false && breakerOf(provider).opened) return Promise.reject(new CircuitOpenError(provider, policy.kind));
      const guarded = () =>
        opts.breaker === false
          ? withDeadline(run, timeoutMs, outer)
          : (breakerOf(provider).fire(() => withDeadline(run, timeoutMs, outer)) as Promise<R>);
      return opts.limiter === false ? guarded() : limiterOf(provider).schedule(guarded);
    };

    try {
      return await pRetry(
        async () => {
          try {
            return await once();
          } catch (err) {
            // p-retry rethrows the original error of an AbortError without retrying.
            const noRetry = !classifyError(err).retryable || outer?.aborted || (opts.retryOnDeadline === false && err instanceof DeadlineError);
            if (noRetry) throw new AbortError(asError(err));
            throw asError(err);
          }
        },
        {
          retries: opts.retries === false ? 0 : policy.retries,
          // p-retry's own wait is zeroed: shouldRetry waits, because only it knows about Retry-After.
          minTimeout: 0,
          factor: 1,
          shouldRetry: async ({ error, attemptNumber, retriesLeft }) => {
            const c = classifyError(error);
            if (c.retryAfterMs !== undefined && c.retryAfterMs > maxRetryAfterMs) {
              logger?.warn({ provider, attempt: attemptNumber, retryAfterMs: c.retryAfterMs }, "retry-after too long, giving up");
              return false;
            }
            const waitMs = Math.round((c.retryAfterMs ?? backoffDelay(policy, attemptNumber)) * delayScale);
            logger?.warn({ provider, attempt: attemptNumber, retriesLeft, waitMs, err: redactSecrets(errorText(error)) }, "attempt failed, retrying");
            if (waitMs > 0) await sleep(waitMs, undefined, outer ? { signal: outer } : undefined);
            return true;
          },
        },
      );
    } catch (err) {
      // Our caller cancelled: hand back its reason, not a provider error.
      if (outer?.aborted) throw outer.reason;
      const pe = toProviderError(err, provider, policy.kind);
      logger?.warn({ provider, error: pe.toJSON() }, "call failed");
      throw pe;
    }
  }

  function wrap<A extends unknown[], R>(provider: string, fn: (...args: A) => Promise<R>, opts: WrapOptions = {}) {
    policyOf(provider); // fail at wiring time, not on the first call
    return (...args: A) => call(provider, () => fn(...args), opts);
  }

  function wrapEngine(provider: string, engine: VideoEngine): VideoEngine {
    const policy = policyOf(provider);
    // Re-submitting is paid, re-collecting is free: submit gets retries + breaker, collect only a
    // deadline (no breaker either, so an open breaker never strands a clip we already paid for).
    // A submit that timed out may already be queued at the provider, so only answered failures
    // (5xx, 429, connection refused) are retried; the timeout surfaces as PRODUCTION_TIMEOUT.
    const submit = wrap(provider, engine.submit.bind(engine), {
      timeoutMs: policy.submitTimeoutMs ?? policy.timeoutMs,
      retryOnDeadline: false,
    });
    return {
      engine: engine.engine,
      model: engine.model,
      submit,
      collect: (requestId, signal) =>
        call(provider, (s) => engine.collect(requestId, s), { retries: false, breaker: false, limiter: false, timeoutMs: policy.timeoutMs }, signal),
    };
  }

  function wrapTools(tools: Tools, providerOf: ProviderOf = defaultProviderOf): Tools {
    const { analyst, director, illustrator } = tools;
    const a = providerOf("analyst");
    const d = providerOf("director");
    const i = providerOf("illustrator");
    const engines = Object.fromEntries(
      PRODUCTION_ENGINES.map((e) => [e, wrapEngine(providerOf(e), tools.engines[e])]),
    ) as Record<ProductionEngine, VideoEngine>;
    return {
      analyst: { analyzeBrand: wrap(a, analyst.analyzeBrand.bind(analyst)), editScene: wrap(a, analyst.editScene.bind(analyst)) },
      director: { directScenes: wrap(d, director.directScenes.bind(director)), rerollScene: wrap(d, director.rerollScene.bind(director)) },
      illustrator: { styleReference: wrap(i, illustrator.styleReference.bind(illustrator)), preview: wrap(i, illustrator.preview.bind(illustrator)) },
      engines,
      editor: tools.editor,
      blobs: tools.blobs,
    };
  }

  function getCircuitState(provider: string): CircuitState {
    const breaker = breakers.get(provider);
    if (!breaker) return "CLOSED";
    if (breaker.opened) return "OPEN";
    if (breaker.halfOpen) return "HALF_OPEN";
    return "CLOSED";
  }

  async function shutdown() {
    for (const b of breakers.values()) b.shutdown();
    await Promise.all([...limiters.values()].map((l) => l.disconnect(false)));
  }

  return { wrap, getCircuitState, wrapTools, policyOf, shutdown };
}
