/**
 * Gemini's answers and failures → typed results and typed errors, shared by the Strategist
 * (gemini.ts) and the song analyst (gemini-song.ts): a 429 carries Gemini's RetryInfo delay as
 * retryAfterMs, a blocked answer is a ClientError, an answer that breaks its schema is a retryable
 * INVALID_RESPONSE.
 */
import type { z } from "zod";
import { ClientError, ProviderError, attemptSignal, classifyError, redactSecrets } from "./resilience.js";

export const PROVIDER = "GEMINI";

const BLOCK_REASONS = new Set(["SAFETY", "RECITATION", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "IMAGE_SAFETY", "OTHER"]);

/** "7s" / "1.5s" (google.protobuf.Duration in JSON) → ms. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value !== "string") return undefined;
  const m = /^(\d+(?:\.\d+)?)s$/.exec(value.trim());
  return m ? Math.round(Number(m[1]) * 1000) : undefined;
}

interface GoogleErrorDetail {
  "@type"?: string;
  retryDelay?: unknown;
  reason?: unknown;
}

/** What differs between the calls that map their failures. */
export interface GeminiCall {
  apiKey: string;
  /** The call's own deadline: when it has fired, the failure is a TIMEOUT. */
  deadline: AbortSignal;
  /** What the user may try instead when Gemini blocks the content ("image or wording", "song"). */
  tryInstead: string;
  /** userMessage of any other failure (ANALYSIS_FAILED); the catalogue's when absent. */
  failureMessage?: string;
}

export function geminiError(err: unknown, call: GeminiCall): unknown {
  if (err instanceof ProviderError) return err;
  const e = err as { name?: string; message?: string; status?: number; errorDetails?: GoogleErrorDetail[]; blockReason?: string; finishReason?: string };
  const message = redactSecrets(`${e?.name ?? "Error"}: ${e?.message ?? String(err)}`, [call.apiKey]);
  if (call.deadline.aborted) return new ProviderError({ provider: PROVIDER, code: "TIMEOUT", message, cause: err });
  // Cancelled by our caller (the resilience layer's own deadline): pass through untouched.
  if (attemptSignal()?.aborted) return err;
  if (e?.name === "EmptyContentError") {
    const reason = e.blockReason ?? e.finishReason ?? "unknown";
    if (e.blockReason || BLOCK_REASONS.has(String(e.finishReason))) {
      return new ClientError({
        provider: PROVIDER,
        code: "CONTENT_BLOCKED",
        message: `answer blocked (${reason})`,
        userMessage: `Gemini declined this content (${reason.toLowerCase().replace(/_/g, " ")} filter). Try a different ${call.tryInstead}.`,
        cause: err,
      });
    }
    return new ProviderError({ provider: PROVIDER, code: "INVALID_RESPONSE", message: `empty answer (${reason})`, retryable: true, cause: err });
  }
  if (e?.name === "OutputParserException") {
    return new ProviderError({ provider: PROVIDER, code: "INVALID_RESPONSE", message, retryable: true, cause: err });
  }
  const status = typeof e?.status === "number" ? e.status : undefined;
  const details = Array.isArray(e?.errorDetails) ? e.errorDetails : [];
  if (status === 429) {
    const retryInfo = details.find((d) => d["@type"]?.endsWith("google.rpc.RetryInfo"));
    return new ProviderError({
      provider: PROVIDER,
      code: "EXTERNAL_RATE_LIMIT",
      message,
      status,
      retryable: true,
      retryAfterMs: parseDuration(retryInfo?.retryDelay),
      userAction: "RETRY",
      fallbackAvailable: false,
      userMessage: "Gemini is busy right now. Please try again in a minute.",
      cause: err,
    });
  }
  if (status === 401 || status === 403 || details.some((d) => d.reason === "API_KEY_INVALID")) {
    return new ProviderError({ provider: PROVIDER, code: "AUTH_FAILED", message, status, cause: err });
  }
  // Google answers a model it does not serve (shut down, or misspelt) with 404 NOT_FOUND.
  if (status === 404) {
    return new ClientError({
      provider: PROVIDER, code: "INVALID_REQUEST", message, status, cause: err,
      userMessage: "The Gemini model this bot is set to use is not available (it may have been shut down). The bot's operator has to choose a current one.",
    });
  }
  if (status !== undefined && status >= 400 && status < 500) {
    return new ClientError({ provider: PROVIDER, code: "INVALID_REQUEST", message, status, cause: err });
  }
  // 5xx and connection errors may work next time; a bug in our code (a plain TypeError) won't.
  const retryable = status !== undefined || /fetch failed|network|ECONN|socket/i.test(message) || classifyError(err).retryable;
  return new ProviderError({ provider: PROVIDER, code: "ANALYSIS_FAILED", message, status, retryable, userMessage: call.failureMessage, cause: err });
}

/** An answer Gemini gave but we cannot use (the next attempt may answer better). */
export function invalidAnswer(message: string): ProviderError {
  return new ProviderError({ provider: PROVIDER, code: "INVALID_RESPONSE", message, retryable: true });
}

/**
 * Parses the model's answer against its schema. The SDK parsed it once already, but only as
 * strictly as the wire schema; the port's type must hold whatever the model sent.
 */
export function validateAnswer<T>(schema: z.ZodType<T>, raw: unknown): T {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  throw invalidAnswer(result.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; "));
}
