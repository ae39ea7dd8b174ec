/**
 * The resilience layer on its own, around plain functions (no network): retries, Retry-After,
 * deadlines, the breaker's state machine, client errors, the limiter, and wrapTools.
 */
import { afterEach, describe, expect, it } from "vitest";
import pino from "pino";
import type { ClipRequest, Media, Tools, VideoEngine } from "../tools/ports.js";
import {
  CircuitOpenError,
  ClientError,
  ProviderError,
  SPEC_POLICIES,
  attemptSignal,
  createResilience,
  redactSecrets,
  toProviderError,
  type CircuitState,
  type Resilience,
  type ResiliencePolicy,
  type WrappablePorts,
} from "../tools/resilience.js";

function policy(over: Partial<ResiliencePolicy> = {}): ResiliencePolicy {
  return {
    kind: "preview",
    retries: 3,
    backoff: "exponential",
    baseMs: 1_000,
    timeoutMs: 1_000,
    breaker: { failureThreshold: 5, windowMs: 120_000, resetMs: 60_000 },
    limiter: { maxConcurrent: 4, minTimeMs: 0 },
    ...over,
  };
}

const open: Resilience[] = [];
function layer(policies: Record<string, ResiliencePolicy>, extra: { delayScale?: number; onStateChange?: (p: string, s: CircuitState) => void } = {}) {
  const r = createResilience({ policies, delayScale: extra.delayScale ?? 0.01, onStateChange: extra.onStateChange, logger: pino({ level: "silent" }) });
  open.push(r);
  return r;
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.shutdown()));
});

/** Fails with `error` for the first `failures` calls, then resolves `value`. */
function flaky<T>(failures: number, value: T, error: () => unknown = () => Object.assign(new Error("upstream 503"), { status: 503 })) {
  const fn = async (..._args: unknown[]): Promise<T> => {
    fn.calls++;
    if (fn.calls <= failures) throw error();
    return value;
  };
  fn.calls = 0;
  return fn;
}

describe("retries", () => {
  it("spec §7 2b: a call failing twice then succeeding returns the result after 3 calls", async () => {
    const r = layer({ FLUX: policy() });
    const preview = flaky(2, "image-bytes");
    const wrapped = r.wrap("FLUX", preview);
    await expect(wrapped("scene 1")).resolves.toBe("image-bytes");
    expect(preview.calls).toBe(3);
  });

  it("gives up after policy.retries and surfaces a ProviderError with the service's code", async () => {
    const r = layer({ FLUX: policy({ retries: 2 }) });
    const fn = flaky(10, "never");
    const err = await r.wrap("FLUX", fn)().catch((e: unknown) => e);
    expect(fn.calls).toBe(3);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ provider: "FLUX", code: "PREVIEW_FAILED", userAction: "RETRY", status: 503 });
    expect((err as ProviderError).userMessage).toBe("Preview generation failed. Please try again.");
  });

  it("uses exponential backoff from baseMs, scaled by delayScale", async () => {
    const r = layer({ FLUX: policy({ baseMs: 100, retries: 3 }) }, { delayScale: 1 });
    const fn = flaky(3, "ok");
    const started = Date.now();
    await r.wrap("FLUX", fn)();
    // 100 + 200 + 400 ms of waiting
    expect(Date.now() - started).toBeGreaterThanOrEqual(690);
    expect(fn.calls).toBe(4);
  });

  it("fixed backoff waits baseMs every time", async () => {
    const r = layer({ KLING: policy({ kind: "production", backoff: "fixed", baseMs: 100, retries: 2 }) }, { delayScale: 1 });
    const fn = flaky(2, "ok");
    const started = Date.now();
    await r.wrap("KLING", fn)();
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(290); // not 100 + 200
  });

  it("4xx client errors are not retried and not counted by the breaker", async () => {
    const r = layer({ FLUX: policy() });
    const validation = flaky(100, "never", () => Object.assign(new Error("422 Unprocessable"), { status: 422 }));
    const explicit = flaky(100, "never", () => new ClientError({ provider: "FLUX", code: "INVALID_REQUEST", message: "bad image_url" }));
    for (let i = 0; i < 6; i++) {
      await expect(r.wrap("FLUX", validation)()).rejects.toBeInstanceOf(ClientError);
      await expect(r.wrap("FLUX", explicit)()).rejects.toMatchObject({ code: "INVALID_REQUEST", retryable: false });
    }
    expect(validation.calls).toBe(6);
    expect(explicit.calls).toBe(6);
    expect(r.getCircuitState("FLUX")).toBe("CLOSED");
  });

  it("a non-retryable ProviderError is not retried (but is a provider failure)", async () => {
    const r = layer({ DEEPSEEK: policy({ kind: "script" }) });
    const fn = flaky(100, "never", () => new ProviderError({ provider: "DEEPSEEK", code: "QUOTA_EXHAUSTED", status: 402 }));
    await expect(r.wrap("DEEPSEEK", fn)()).rejects.toMatchObject({ code: "QUOTA_EXHAUSTED", userAction: "CONTACT_SUPPORT" });
    expect(fn.calls).toBe(1);
  });

  it("a 429 with retryAfterMs waits that long instead of the backoff", async () => {
    // Backoff would be 5 s; the provider asks for 300 ms.
    const r = layer({ GEMINI: policy({ kind: "analysis", baseMs: 5_000 }) }, { delayScale: 1 });
    const fn = flaky(1, "analysis", () => new ProviderError({ provider: "GEMINI", code: "EXTERNAL_RATE_LIMIT", retryable: true, retryAfterMs: 300, status: 429 }));
    const started = Date.now();
    await expect(r.wrap("GEMINI", fn)()).resolves.toBe("analysis");
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(295);
    expect(elapsed).toBeLessThan(2_000);
    expect(fn.calls).toBe(2);
  });

  it("a raw 429 with a Retry-After header waits that long", async () => {
    const r = layer({ DEEPSEEK: policy({ kind: "script", baseMs: 5_000 }) }, { delayScale: 1 });
    const fn = flaky(1, "script", () => Object.assign(new Error("Too Many Requests"), { status: 429, headers: new Headers({ "retry-after": "0.25" }) }));
    const started = Date.now();
    await expect(r.wrap("DEEPSEEK", fn)()).resolves.toBe("script");
    expect(Date.now() - started).toBeGreaterThanOrEqual(245);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("a Retry-After beyond maxRetryAfterMs is not waited for: EXTERNAL_RATE_LIMIT surfaces", async () => {
    const r = layer({ LUMA: policy({ kind: "production", maxRetryAfterMs: 1_000 }) });
    const fn = flaky(5, "clip", () => Object.assign(new Error("busy"), { status: 429, retryAfterMs: 3_600_000 }));
    const err = await r.wrap("LUMA", fn)().catch((e: unknown) => e);
    expect(fn.calls).toBe(1);
    expect(err).toMatchObject({ code: "EXTERNAL_RATE_LIMIT", userAction: "CHANGE_ENGINE", fallbackAvailable: true });
    expect((err as ProviderError).userMessage).toBe("Production service is busy. Trying alternate engine.");
  });
});

describe("deadlines", () => {
  it("a hanging call hits its deadline on every attempt and the attempt's signal aborts", async () => {
    const r = layer({ FLUX: policy({ timeoutMs: 100, retries: 1 }) });
    const signals: AbortSignal[] = [];
    const hang = async () => {
      signals.push(attemptSignal()!);
      return new Promise<string>(() => {});
    };
    const started = Date.now();
    const err = await r.wrap("FLUX", hang)().catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    expect(err).toMatchObject({ code: "TIMEOUT", retryable: true });
    expect(elapsed).toBeGreaterThanOrEqual(195);
    expect(elapsed).toBeLessThan(1_500);
    expect(signals).toHaveLength(2);
    expect(signals.every((s) => s.aborted)).toBe(true);
  });

  it("a production timeout is PRODUCTION_TIMEOUT with the spec's message", async () => {
    const r = layer({ KLING: policy({ kind: "production", timeoutMs: 50, retries: 0 }) });
    const err = await r.wrap("KLING", () => new Promise<never>(() => {}))().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "PRODUCTION_TIMEOUT", userAction: "RETRY", retryable: true, userMessage: "Video generation is taking longer than expected" });
  });
});

describe("circuit breaker", () => {
  it("spec §7 6b: 5 failures open it; after resetMs it half-opens and one success closes it", async () => {
    const states: string[] = [];
    const r = layer(
      { KLING: policy({ kind: "production", retries: 0, breaker: { failureThreshold: 5, windowMs: 120_000, resetMs: 200 } }) },
      { onStateChange: (p, s) => states.push(`${p}:${s}`) },
    );
    let healthy = false;
    let calls = 0;
    const render = r.wrap("KLING", async (scene: string) => {
      calls++;
      if (!healthy) throw Object.assign(new Error("500 from Kling"), { status: 500 });
      return `clip of ${scene}`;
    });

    for (let i = 0; i < 4; i++) await render("s").catch(() => {});
    expect(r.getCircuitState("KLING")).toBe("CLOSED");
    await render("s").catch(() => {});
    expect(r.getCircuitState("KLING")).toBe("OPEN");
    expect(calls).toBe(5);

    // Open: rejected without calling the provider.
    const rejected = await render("s").catch((e: unknown) => e);
    expect(rejected).toBeInstanceOf(CircuitOpenError);
    expect(rejected).toMatchObject({ code: "SERVICE_UNAVAILABLE", userAction: "CHANGE_ENGINE" });
    expect(calls).toBe(5);

    await new Promise((resolve) => setTimeout(resolve, 260));
    expect(r.getCircuitState("KLING")).toBe("HALF_OPEN");
    healthy = true;
    await expect(render("s")).resolves.toBe("clip of s");
    expect(r.getCircuitState("KLING")).toBe("CLOSED");
    expect(states).toEqual(["KLING:OPEN", "KLING:HALF_OPEN", "KLING:CLOSED"]);
  });

  it("counts attempts: a call whose retries all fail counts each attempt, and an open breaker stops the retries", async () => {
    const r = layer({ LUMA: policy({ kind: "production", retries: 2, backoff: "fixed", baseMs: 10 }) });
    const fn = flaky(100, "never", () => Object.assign(new Error("502"), { status: 502 }));
    const wrapped = r.wrap("LUMA", fn);
    await expect(wrapped()).rejects.toMatchObject({ code: "PRODUCTION_FAILED" }); // 3 failures
    await expect(wrapped()).rejects.toBeInstanceOf(CircuitOpenError); // 2 more, then open
    expect(fn.calls).toBe(5);
    expect(r.getCircuitState("LUMA")).toBe("OPEN");
  });

  it("a failed trial in HALF_OPEN opens it again", async () => {
    const r = layer({ FLUX: policy({ retries: 0, breaker: { failureThreshold: 5, windowMs: 120_000, resetMs: 100 } }) });
    const fn = flaky(100, "never");
    const wrapped = r.wrap("FLUX", fn);
    for (let i = 0; i < 5; i++) await wrapped().catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(r.getCircuitState("FLUX")).toBe("HALF_OPEN");
    await wrapped().catch(() => {});
    expect(r.getCircuitState("FLUX")).toBe("OPEN");
    expect(fn.calls).toBe(6);
  });

  it("keeps one breaker per provider", async () => {
    const r = layer({ KLING: policy({ kind: "production", retries: 0 }), LUMA: policy({ kind: "production", retries: 0 }) });
    const failing = r.wrap("KLING", flaky(100, "x"));
    for (let i = 0; i < 5; i++) await failing().catch(() => {});
    expect(r.getCircuitState("KLING")).toBe("OPEN");
    expect(r.getCircuitState("LUMA")).toBe("CLOSED");
    await expect(r.wrap("LUMA", async () => "luma clip")()).resolves.toBe("luma clip");
  });
});

describe("limiter", () => {
  it("caps concurrent calls per provider", async () => {
    const r = layer({ FLUX: policy({ limiter: { maxConcurrent: 2, minTimeMs: 0 } }) });
    let running = 0;
    let peak = 0;
    const fn = r.wrap("FLUX", async (i: number) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, 30));
      running--;
      return i;
    });
    await expect(Promise.all([1, 2, 3, 4, 5, 6].map((i) => fn(i)))).resolves.toEqual([1, 2, 3, 4, 5, 6]);
    expect(peak).toBe(2);
  });
});

describe("wrapTools", () => {
  const media: Media = { data: new Uint8Array([1, 2, 3]), contentType: "video/mp4" };
  const request: ClipRequest = { startFrame: { data: new Uint8Array([1]), contentType: "image/png" }, prompt: "p", durationS: 5 };

  function fakeEngine(engine: "KLING" | "LUMA" | "GEMINI_PRO") {
    const counts = { submit: 0, collect: 0 };
    let submitFailures = 0;
    let collectFailures = 0;
    const port: VideoEngine = {
      engine,
      model: `model-${engine}`,
      async submit() {
        counts.submit++;
        if (submitFailures-- > 0) throw Object.assign(new Error("500"), { status: 500 });
        return { requestId: `req-${counts.submit}` };
      },
      async status() {
        return { state: "completed" as const };
      },
      async cancel() {},
      async result(_id: string, signal?: AbortSignal) {
        counts.collect++;
        if (collectFailures-- > 0) throw Object.assign(new Error("500"), { status: 500 });
        if (engine === "GEMINI_PRO") {
          await new Promise((resolve, reject) => signal?.addEventListener("abort", () => reject(signal.reason)));
        }
        return media;
      },
    };
    return { port, counts, failSubmits: (n: number) => (submitFailures = n), failCollects: (n: number) => (collectFailures = n) };
  }

  function stubTools(engines: Tools["engines"]): WrappablePorts & Pick<Tools, "editor" | "blobs"> {
    return {
      analyst: { analyzeBrand: async () => ({}) as never, editScene: async () => ({}) as never },
      director: { directScenes: async () => [], rerollScene: async () => ({}) as never },
      illustrator: { styleReference: async () => media, preview: async () => media },
      engines,
      editor: {} as Tools["editor"],
      blobs: {} as Tools["blobs"],
    };
  }

  it("retries submit, gives result a deadline but no retries, and leaves blobs and editor alone", async () => {
    const policies = {
      ...SPEC_POLICIES,
      KLING: policy({ kind: "production", backoff: "fixed", retries: 2, baseMs: 10, submitTimeoutMs: 500, timeoutMs: 1_000 }),
      GEMINI_PRO: policy({ kind: "production", backoff: "fixed", retries: 2, baseMs: 10, timeoutMs: 80 }),
    };
    const r = layer(policies);
    const kling = fakeEngine("KLING");
    const luma = fakeEngine("LUMA");
    const veo = fakeEngine("GEMINI_PRO");
    const blobs = {} as Tools["blobs"];
    const editor = {} as Tools["editor"];
    const tools = {
      analyst: { analyzeBrand: async () => ({}) as never, editScene: async () => ({}) as never },
      director: { directScenes: async () => [], rerollScene: async () => ({}) as never },
      illustrator: { styleReference: async () => media, preview: async () => media },
      engines: { KLING: kling.port, LUMA: luma.port, GEMINI_PRO: veo.port },
      editor,
      blobs,
    } satisfies WrappablePorts & Pick<Tools, "editor" | "blobs">;
    const wrapped = r.wrapTools(tools);
    expect(wrapped.blobs).toBe(blobs);
    expect(wrapped.editor).toBe(editor);
    expect(wrapped.engines.KLING.engine).toBe("KLING");
    expect(wrapped.engines.KLING.model).toBe("model-KLING");

    kling.failSubmits(2);
    await expect(wrapped.engines.KLING.submit(request, "k1")).resolves.toEqual({ requestId: "req-3" });
    expect(kling.counts.submit).toBe(3);

    kling.failCollects(1);
    await expect(wrapped.engines.KLING.result("req-3")).rejects.toMatchObject({ provider: "KLING", code: "PRODUCTION_FAILED" });
    expect(kling.counts.collect).toBe(1);
    await expect(wrapped.engines.KLING.result("req-3")).resolves.toBe(media);

    // Fetching Veo's result hangs: the policy's deadline ends it, and the engine saw the abort.
    await expect(wrapped.engines.GEMINI_PRO.result("req-1")).rejects.toMatchObject({ code: "PRODUCTION_TIMEOUT" });
    expect(veo.counts.collect).toBe(1);

    // Fetching is not gated by the breaker: an already-paid clip can always be fetched.
    kling.failSubmits(100);
    await wrapped.engines.KLING.submit(request, "k2").catch(() => {});
    await wrapped.engines.KLING.submit(request, "k3").catch(() => {});
    expect(r.getCircuitState("KLING")).toBe("OPEN");
    await expect(wrapped.engines.KLING.result("req-3")).resolves.toBe(media);
    await expect(wrapped.engines.KLING.status("req-3")).resolves.toEqual({ state: "completed" });
  });

  it("a caller's abort of result comes back as the caller's reason", async () => {
    const r = layer(SPEC_POLICIES);
    const veo = fakeEngine("GEMINI_PRO");
    const wrappedEngine = r.wrapTools(stubTools({ KLING: fakeEngine("KLING").port, LUMA: fakeEngine("LUMA").port, GEMINI_PRO: veo.port })).engines.GEMINI_PRO;
    const controller = new AbortController();
    const pending = wrappedEngine.result("req-1", controller.signal);
    controller.abort(new Error("job cancelled"));
    await expect(pending).rejects.toThrow("job cancelled");
  });

  it("refuses a provider without a policy at wiring time", () => {
    const r = layer({ FLUX: policy() });
    expect(() => r.wrap("NOPE", async () => 1)).toThrow(/no resilience policy/);
  });
});

describe("policies and errors", () => {
  it("SPEC_POLICIES mirrors the spec §6.2 table and §6.4 breaker", () => {
    expect(SPEC_POLICIES.GEMINI).toMatchObject({ retries: 3, backoff: "exponential", baseMs: 2_000, timeoutMs: 60_000 });
    expect(SPEC_POLICIES.DEEPSEEK).toMatchObject({ retries: 3, backoff: "exponential", baseMs: 2_000, timeoutMs: 30_000 });
    expect(SPEC_POLICIES.FLUX).toMatchObject({ retries: 3, backoff: "exponential", baseMs: 1_000, timeoutMs: 20_000 });
    expect(SPEC_POLICIES.KLING).toMatchObject({ retries: 2, backoff: "fixed", baseMs: 30_000, timeoutMs: 300_000 });
    expect(SPEC_POLICIES.LUMA).toMatchObject({ retries: 2, backoff: "fixed", baseMs: 30_000, timeoutMs: 300_000 });
    expect(SPEC_POLICIES.GEMINI_PRO).toMatchObject({ retries: 2, backoff: "fixed", kind: "production" });
    for (const p of Object.values(SPEC_POLICIES)) expect(p.breaker).toEqual({ failureThreshold: 5, windowMs: 120_000, resetMs: 60_000 });
  });

  it("never lets a credential into an error message", () => {
    const raw = Object.assign(new Error("401 from https://x/?key=AIzaSyA1234567890abcdefghijkl with Authorization: Bearer sk-abcdef1234567890"), { status: 401 });
    const pe = toProviderError(raw, "DEEPSEEK", "script");
    expect(pe.code).toBe("AUTH_FAILED");
    expect(pe.message).not.toContain("sk-abcdef1234567890");
    expect(pe.message).not.toContain("AIzaSyA1234567890abcdefghijkl");
    expect(JSON.stringify(pe)).not.toContain("sk-abcdef");
    expect(redactSecrets("token my-literal-secret here", ["my-literal-secret"])).toBe("token [redacted] here");
  });
});
