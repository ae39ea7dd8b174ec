/** A submission whose answer was lost may still be adopted: try the pass again later. */
export class SubmissionInFlightError extends Error {
  override readonly name = "SubmissionInFlightError";
  constructor(readonly key: string) {
    super(`submission ${key} was sent before a restart and may still be answered; waiting before sending it again`);
  }
}

/**
 * Errors that say nothing about the job itself, only that something it needs is away for now:
 * the database dropped or refused a connection, a transaction lost a race, a submission waits to
 * be adopted. A pass that meets one is retried later by the job engine; any other error fails
 * the job with a sentence for its owner.
 */
export function isTransient(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof SubmissionInFlightError) return true;
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (typeof code === "string" && (TRANSIENT_SQLSTATES.has(code) || code.startsWith("08") || NETWORK_CODES.has(code))) return true;
    if (typeof message === "string" && CONNECTION_MESSAGES.some((m) => message.includes(m))) return true;
  }
  return false;
}

/** SQLSTATE (postgresql.org/docs/current/errcodes-appendix.html): shutdowns, no slots, races. */
const TRANSIENT_SQLSTATES = new Set(["57P01", "57P02", "57P03", "53300", "40001", "40P01", "55P03"]);
const NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN"]);
/** node-postgres reports a lost connection with these messages and no code. */
const CONNECTION_MESSAGES = [
  "Connection terminated",
  "connection terminated",
  "Client has encountered a connection error",
  "timeout exceeded when trying to connect",
  "Cannot use a pool after calling end",
];
