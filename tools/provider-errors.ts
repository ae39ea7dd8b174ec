/**
 * Typed provider errors (spec §6.3) and their classification, shared by every adapter and by the
 * resilience layer. Split out of resilience.ts so adapters that only need the error types do not
 * pull in opossum and bottleneck; resilience.ts re-exports everything here, so old imports work.
 */

/** Which service a provider plays; picks the error codes and user actions of its failures. */
export type ServiceKind = "analysis" | "script" | "preview" | "production";

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

/**
 * The provider finished a render request and reports that the render itself failed (a model
 * error, a refused input). Unlike a failed download or a lost connection, fetching again will not
 * help: this is the only error that moves a scene to the next engine of its fallback chain.
 */
export class RenderFailedError extends ProviderError {
  override readonly name: string = "RenderFailedError";
  constructor(init: Omit<ProviderErrorInit, "code" | "retryable">) {
    super({ ...init, code: "PRODUCTION_FAILED", retryable: false, fallbackAvailable: true });
  }
}

/**
 * A paid submit that may have reached the provider although no answer came back (a timeout, a
 * connection broken after the request left): it may be queued and billed, so it is never sent
 * again. A runner that can learn the request id later (a webhook) may wait for it instead of
 * moving to the next engine.
 */
export class SubmissionUncertainError extends ProviderError {
  override readonly name: string = "SubmissionUncertainError";
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
  out = maskCredentials(out);
  return out.length > 500 ? `${out.slice(0, 500)}…` : out;
}

/** Masks anything that looks like a credential, keeping the rest of the text whole (log lines). */
export function maskCredentials(text: string): string {
  let out = text;
  for (const [re, replacement] of SECRET_PATTERNS) out = out.replace(re, replacement);
  return out;
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
// Conversion to ProviderError

const FAILURE_CODE: Record<ServiceKind, ProviderErrorCode> = {
  analysis: "ANALYSIS_FAILED",
  script: "SCRIPT_FAILED",
  preview: "PREVIEW_FAILED",
  production: "PRODUCTION_FAILED",
};

/** `Name: message` of anything thrown, for logs (callers redact). */
export function errorText(err: unknown): string {
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
