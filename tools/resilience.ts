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
import { AsyncLocalStorage, AsyncResource } from "node:async_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import Bottleneck from "bottleneck";
import CircuitBreaker from "opossum";
import pRetry, { AbortError } from "p-retry";
import { PRODUCTION_ENGINES, type ProductionEngine, type Tools, type VideoEngine } from "./ports.js";
import { CircuitOpenError, DeadlineError, ProviderError, classifyError, errorText, redactSecrets, toProviderError, type ServiceKind } from "./provider-errors.js";

// The typed errors moved to provider-errors.ts; re-exported so every existing import keeps working.
export {
  CircuitOpenError,
  ClientError,
  DeadlineError,
  ProviderError,
  RenderFailedError,
  SubmissionUncertainError,
  classifyError,
  redactSecrets,
  retryAfterOf,
  toProviderError,
  type Classification,
  type ProviderErrorCode,
  type ProviderErrorInit,
  type ServiceKind,
  type UserAction,
} from "./provider-errors.js";

// ---------------------------------------------------------------------------------------------
// Policies (spec §6.2, §6.4)

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
  /**
   * Deadline of one attempt (spec "Timeout"). For engines: fetching a finished clip; the render
   * itself has no deadline while the provider reports it queued or running.
   */
  timeoutMs: number;
  /**
   * Engines only: outer deadline of one `submit` attempt. The fal adapter gives its uploads (60 s)
   * and its POST (30 s) a deadline each, so this one only catches an adapter that hangs; it is
   * never retried (the POST may have left).
   */
  submitTimeoutMs?: number;
  /** Engines only: deadline of one status or cancel call. Default 30 s. */
  pollTimeoutMs?: number;
  /** A Retry-After longer than this is not waited for: the error surfaces (fallback engine). */
  maxRetryAfterMs?: number;
  breaker: BreakerPolicy;
  limiter: LimiterPolicy;
}

export const SPEC_BREAKER: BreakerPolicy = { failureThreshold: 5, windowMs: 120_000, resetMs: 60_000 };

/** The providers the spec names; keys of SPEC_POLICIES and the default `providerOf`. */
export type SpecProvider = "GEMINI" | "GEMINI_EMBED" | "DEEPSEEK" | "FLUX" | ProductionEngine;

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
  GEMINI_EMBED: { kind: "analysis", retries: 3, backoff: "exponential", baseMs: 2_000, maxDelayMs: 30_000, timeoutMs: 30_000, breaker: SPEC_BREAKER, limiter: { maxConcurrent: 4, minTimeMs: 0 } },
  FLUX: { kind: "preview", retries: 3, backoff: "exponential", baseMs: 1_000, maxDelayMs: 30_000, timeoutMs: 20_000, breaker: SPEC_BREAKER, limiter: { maxConcurrent: 4, minTimeMs: 0 } },
  KLING: { kind: "production", retries: 2, backoff: "fixed", baseMs: 30_000, timeoutMs: 300_000, submitTimeoutMs: 100_000, breaker: SPEC_BREAKER, limiter: { maxConcurrent: 2, minTimeMs: 1_000 } },
  LUMA: { kind: "production", retries: 2, backoff: "fixed", baseMs: 30_000, timeoutMs: 300_000, submitTimeoutMs: 100_000, breaker: SPEC_BREAKER, limiter: { maxConcurrent: 2, minTimeMs: 1_000 } },
  GEMINI_PRO: { kind: "production", retries: 2, backoff: "fixed", baseMs: 30_000, timeoutMs: 360_000, submitTimeoutMs: 100_000, breaker: SPEC_BREAKER, limiter: { maxConcurrent: 2, minTimeMs: 1_000 } },
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

/** The account-wide limits could not be asked (their store failed): the call was never made. */
class LimitsUnavailableError extends Error {
  constructor(override readonly cause: unknown) {
    super(`provider limits unavailable: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
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
  /**
   * Limits shared by every process of the deployment (store/providerLimits.ts): each attempt waits
   * for one of the provider's account-wide slots and holds it while it runs.
   */
  accountLimits?: { acquire(provider: string, signal?: AbortSignal): Promise<() => Promise<void>> };
  /** Told once per call (all its attempts together): how it ended ("ok" or the error code) and how long it took. */
  onCall?: (call: { provider: string; operation: string; outcome: string; seconds: number }) => void;
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

/** What wrapTools wraps: the brand ports always, the song ports when present (analyst → its provider, illustrator → its). */
export type WrappablePorts = Pick<Tools, "analyst" | "director" | "illustrator" | "engines"> &
  Partial<Pick<Tools, "songAnalyst" | "embedder" | "songIllustrator">>;

/** analyst → GEMINI, director → DEEPSEEK, illustrator → FLUX, each engine → its own name. */
export const defaultProviderOf: ProviderOf = (port) =>
  port === "analyst" ? "GEMINI" : port === "director" ? "DEEPSEEK" : port === "illustrator" ? "FLUX" : port;

export interface Resilience {
  wrap<A extends unknown[], R>(provider: string, fn: (...args: A) => Promise<R>, options?: WrapOptions): (...args: A) => Promise<R>;
  getCircuitState(provider: string): CircuitState;
  /** Wraps analyst, director, illustrator and engines; every other port is returned as it is. */
  wrapTools<T extends WrappablePorts>(tools: T, providerOf?: ProviderOf): T;
  policyOf(provider: string): ResiliencePolicy;
  /** Stops breaker timers and limiters (tests, graceful shutdown). */
  shutdown(): Promise<void>;
}

type Thunk = () => Promise<unknown>;

export function createResilience(options: ResilienceOptions): Resilience {
  const { policies, logger, onStateChange, onCall, accountLimits } = options;
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
      const attempt = () =>
        opts.breaker === false
          ? withDeadline(run, timeoutMs, outer)
          : (breakerOf(provider).fire(() => withDeadline(run, timeoutMs, outer)) as Promise<R>);
      const guarded = async () => {
        if (!accountLimits || opts.limiter === false) return attempt();
        const release = await accountLimits.acquire(provider, outer).catch((err: unknown) => {
          throw new LimitsUnavailableError(err);
        });
        try {
          return await attempt();
        } finally {
          await release();
        }
      };
      // Bound to the caller's async context: bottleneck runs queued work in whichever context freed the slot,
      // which would hand one job's log scope and paid-call record to another.
      return opts.limiter === false ? guarded() : limiterOf(provider).schedule(AsyncResource.bind(guarded));
    };

    try {
      return await pRetry(
        async () => {
          try {
            return await once();
          } catch (err) {
            // p-retry rethrows the original error of an AbortError without retrying.
            if (err instanceof LimitsUnavailableError) throw new AbortError(err);
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
      // Our own shared limits could not be read (the database is away): not the provider's fault.
      if (err instanceof LimitsUnavailableError) throw err.cause;
      const pe = toProviderError(err, provider, policy.kind);
      logger?.warn({ provider, error: pe.toJSON() }, "call failed");
      throw pe;
    }
  }

  function wrap<A extends unknown[], R>(provider: string, fn: (...args: A) => Promise<R>, opts: WrapOptions = {}) {
    policyOf(provider); // fail at wiring time, not on the first call
    const operation = fn.name.replace(/^bound /, "") || "call";
    return (...args: A) => measured(provider, operation, () => call(provider, () => fn(...args), opts));
  }

  async function measured<R>(provider: string, operation: string, run: () => Promise<R>): Promise<R> {
    if (!onCall) return run();
    const started = performance.now();
    let outcome = "ok";
    try {
      return await run();
    } catch (err) {
      outcome = err instanceof ProviderError ? err.code.toLowerCase() : "aborted";
      throw err;
    } finally {
      onCall({ provider, operation, outcome, seconds: (performance.now() - started) / 1000 });
    }
  }

  function wrapEngine(provider: string, engine: VideoEngine): VideoEngine {
    const policy = policyOf(provider);
    // Re-submitting is paid, asking is free: submit gets retries + breaker; status, result and
    // cancel only a deadline (no breaker either, so an open breaker never strands a clip we already
    // paid for; their callers retry them as tasks). A submit that timed out may already be queued
    // at the provider, so only answered failures (5xx, 429, connection refused) are retried; the
    // timeout surfaces as PRODUCTION_TIMEOUT.
    const submit = wrap(provider, engine.submit.bind(engine), {
      timeoutMs: policy.submitTimeoutMs ?? policy.timeoutMs,
      retryOnDeadline: false,
    });
    const ask = { retries: false, breaker: false, limiter: false, timeoutMs: policy.pollTimeoutMs ?? 30_000 } as const;
    return {
      engine: engine.engine,
      model: engine.model,
      ...(engine.clipLengthsS && { clipLengthsS: engine.clipLengthsS }),
      submit,
      status: (requestId, signal) => measured(provider, "status", () => call(provider, (s) => engine.status(requestId, s), ask, signal)),
      result: (requestId, signal) => measured(provider, "result", () => call(provider, (s) => engine.result(requestId, s), { ...ask, timeoutMs: policy.timeoutMs }, signal)),
      cancel: (requestId) => measured(provider, "cancel", () => call(provider, () => engine.cancel(requestId), ask)),
    };
  }

  function wrapTools<T extends WrappablePorts>(tools: T, providerOf: ProviderOf = defaultProviderOf): T {
    const { analyst, director, illustrator } = tools;
    const a = providerOf("analyst");
    const d = providerOf("director");
    const i = providerOf("illustrator");
    const engines = Object.fromEntries(
      PRODUCTION_ENGINES.map((e) => [e, wrapEngine(providerOf(e), tools.engines[e])]),
    ) as Record<ProductionEngine, VideoEngine>;
    const { songAnalyst: sa, embedder: em, songIllustrator: si } = tools;
    return {
      // Ports not listed here (editor, blobs, the song editor) pass through as they are.
      ...tools,
      // A song's analysis and LoRA images take longer than the spec's brand-route deadlines.
      ...(sa && {
        songAnalyst: {
          model: sa.model,
          analyzeSong: wrap(a, sa.analyzeSong.bind(sa), { timeoutMs: 200_000 }), auditShot: wrap(a, sa.auditShot.bind(sa)),
          reviseShot: wrap(a, sa.reviseShot.bind(sa)),
          analyzeFailure: wrap(a, sa.analyzeFailure.bind(sa)), maskFor: wrap(a, sa.maskFor.bind(sa)),
        },
      }),
      // Embeddings get a breaker of their own: their failures say nothing about the analyst's model.
      ...(em && { embedder: { model: em.model, dimensions: em.dimensions, embed: wrap(`${a}_EMBED`, em.embed.bind(em)) } }),
      ...(si && {
        songIllustrator: {
          shotImage: wrap(i, si.shotImage.bind(si), { timeoutMs: 100_000 }), inpaint: wrap(i, si.inpaint.bind(si), { timeoutMs: 100_000 }),
        },
      }),
      analyst: { analyzeBrand: wrap(a, analyst.analyzeBrand.bind(analyst)), editScene: wrap(a, analyst.editScene.bind(analyst)) },
      director: { directScenes: wrap(d, director.directScenes.bind(director)), rerollScene: wrap(d, director.rerollScene.bind(director)) },
      illustrator: { styleReference: wrap(i, illustrator.styleReference.bind(illustrator)), preview: wrap(i, illustrator.preview.bind(illustrator)) },
      engines,
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
