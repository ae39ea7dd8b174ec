/**
 * What fal's SDK must not do on its own: repeat a queue submit whose POST may already have reached
 * fal. fal documents no idempotency key for submits (providers.md, "Provider behaviour"), so a
 * second POST is a second paid render. @fal-ai/client retries every submit up to 3 times on
 * transport errors, including a connection reset after the body was written (fal-js retry.ts,
 * RETRYABLE_NETWORK_ERROR_CODES), and that retry cannot be configured away (queue.ts passes its
 * own QUEUE_RETRY_CONFIG). This fetch wrapper decides instead: a failure before any connection
 * existed passes through (retrying it is safe), anything later becomes SubmitOutcomeUnknownError,
 * which the SDK does not retry.
 */

/** Transport failures that happen before a connection exists: the POST cannot have left. */
const NOT_SENT_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "UND_ERR_CONNECT_TIMEOUT"]);

/** Hosts of fal's queue (fal-js buildUrl, and the backup domain of fal-js main). */
const QUEUE_HOSTS = new Set(["queue.fal.run", "queue.falrun.com"]);

/**
 * A submit POST that may have reached fal and been queued (and billed) although no answer came
 * back. It carries no `cause` with a transport code on purpose: fal-js walks the cause chain to
 * decide on a retry. The original error is kept in `transportError`.
 */
export class SubmitOutcomeUnknownError extends Error {
  override readonly name = "SubmitOutcomeUnknownError";
  constructor(readonly transportError: unknown) {
    super(`the submit may have reached fal, but no answer came back (${describe(transportError)})`);
  }
}

function describe(err: unknown): string {
  const codes: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current && typeof current === "object" && depth < 5; depth++) {
    const { code, message } = current as { code?: unknown; message?: unknown };
    codes.push(typeof code === "string" ? code : typeof message === "string" ? message : "error");
    current = (current as { cause?: unknown }).cause;
  }
  return codes.join(" ← ") || String(err);
}

/** True when the failure happened before any connection existed (no byte of the request was sent). */
export function provablyNotSent(err: unknown): boolean {
  let current: unknown = err;
  for (let depth = 0; current && typeof current === "object" && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && NOT_SENT_CODES.has(code)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

function isQueueSubmit(input: Parameters<typeof fetch>[0], init: Parameters<typeof fetch>[1]): boolean {
  const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
  const method = (init?.method ?? (input instanceof Request ? input.method : "GET")).toUpperCase();
  return method === "POST" && QUEUE_HOSTS.has(url.host) && !url.pathname.includes("/requests/");
}

/**
 * Wraps the fetch fal's SDK uses. Submits read their whole body inside the guard, so a connection
 * that breaks while the answer arrives is caught here too (fal-js reads the body after fetch
 * returns, where its own retry would see the transport error).
 */
export function guardSubmits(inner: typeof fetch): typeof fetch {
  return async (input, init) => {
    if (!isQueueSubmit(input, init)) return inner(input, init);
    try {
      const response = await inner(input, init);
      const body = await response.arrayBuffer();
      return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
    } catch (err) {
      const name = (err as { name?: unknown } | null)?.name;
      // Our own deadline or caller: the adapter decides what an abort means. A refused connection: safe.
      if (name === "AbortError" || name === "TimeoutError" || provablyNotSent(err)) throw err;
      throw new SubmitOutcomeUnknownError(err);
    }
  };
}
