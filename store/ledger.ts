import type { Db } from "./db.js";
import { inPaidCall, type PaidCall } from "../core/paidCall.js";
import { isTransient, SubmissionInFlightError } from "./transient.js";

export { SubmissionInFlightError } from "./transient.js";

export interface CallMeta {
  /** Unique per paid call: job, scene, operation and the decision that caused it. */
  key: string;
  jobId: string;
  sceneId?: string | null;
  operation: string;
  provider: string;
  cost?: number;
}

export interface LedgerRow<T> {
  status: "submitted" | "completed" | "failed";
  requestId: string | null;
  result: T | null;
  jobId: string;
  sceneId: string | null;
  provider: string;
  errorMessage: string | null;
  /** When the current attempt was sent to the provider. */
  submittedAt: string | null;
}

/** A provider request sent for a job and not finished: what cancelling the job must cancel. */
export interface PendingRequest {
  key: string;
  provider: string;
  requestId: string;
  sceneId: string | null;
}

/**
 * The ledger of paid provider calls (table provider_calls). `once` runs a call at most once per
 * key and hands back the stored result afterwards: a resumed graph replays its steps through
 * here, so a replay never pays twice. Queue-style calls (video) store the request id before
 * waiting, so a restart collects the same request.
 */
export function createLedger(db: Db) {
  async function get<T>(key: string): Promise<LedgerRow<T> | null> {
    const r = await db.query<Record<string, any>>(
      `SELECT status, request_id, result, job_id, scene_id, provider, error_message, submitted_at
       FROM provider_calls WHERE idempotency_key = $1`,
      [key],
    );
    const row = r.rows[0];
    return row
      ? {
          status: row.status, requestId: row.request_id, result: row.result, jobId: row.job_id, sceneId: row.scene_id,
          provider: row.provider, errorMessage: row.error_message,
          submittedAt: row.submitted_at ? new Date(row.submitted_at).toISOString() : null,
        }
      : null;
  }

  async function begin(meta: Omit<CallMeta, "cost">, requestId: string | null = null): Promise<void> {
    // A failed call may be tried again under the same key; a completed one never.
    await db.query(
      `INSERT INTO provider_calls (idempotency_key, job_id, scene_id, operation, provider, request_id, status, attempts, submitted_at)
       VALUES ($1, $2, $3, $4, $5, $6, 'submitted', 1, NOW())
       ON CONFLICT (idempotency_key) DO UPDATE
         SET status = 'submitted', request_id = EXCLUDED.request_id, error_message = NULL, provider = EXCLUDED.provider,
             attempts = provider_calls.attempts + 1, submitted_at = NOW()
       WHERE provider_calls.status <> 'completed'`,
      [meta.key, meta.jobId, meta.sceneId ?? null, meta.operation, meta.provider, requestId],
    );
  }

  /**
   * Records the result of a call still in flight. Completed is final and a failed call is never
   * completed by a late answer (a cancelled render that finished anyway, a second poller): those
   * return false and change nothing.
   * @param cost omitted: keep the cost booked at submission (queue-style calls).
   */
  async function complete<T>(key: string, result: T, cost?: number): Promise<boolean> {
    const r = await db.query(
      `UPDATE provider_calls SET status = 'completed', result = $2, cost = COALESCE($3, cost), completed_at = NOW(),
         provider_status = NULL, provider_position = NULL
       WHERE idempotency_key = $1 AND status = 'submitted'`,
      [key, JSON.stringify(result), cost ?? null],
    );
    return r.rowCount > 0;
  }

  /** Marks a call in flight as failed; a completed or already failed call is left as it is. */
  async function fail(key: string, message: string): Promise<boolean> {
    const r = await db.query(
      `UPDATE provider_calls SET status = 'failed', error_message = $2, provider_status = NULL, provider_position = NULL
       WHERE idempotency_key = $1 AND status = 'submitted'`,
      [key, message.slice(0, 1000)],
    );
    return r.rowCount > 0;
  }

  /** What the provider said about a render it has not finished; true when that changed. */
  async function noteProgress(key: string, state: "queued" | "running" | "unknown", position: number | null): Promise<boolean> {
    const r = await db.query(
      `UPDATE provider_calls SET provider_status = $2, provider_position = $3, checked_at = NOW()
       WHERE idempotency_key = $1 AND status = 'submitted'
         AND (provider_status IS DISTINCT FROM $2 OR provider_position IS DISTINCT FROM $3)`,
      [key, state, position],
    );
    return r.rowCount > 0;
  }

  /** The provider requests of a job that were sent and are not finished. */
  async function pendingRequests(jobId: string): Promise<PendingRequest[]> {
    const r = await db.query<{ idempotency_key: string; provider: string; request_id: string; scene_id: string | null }>(
      `SELECT idempotency_key, provider, request_id, scene_id FROM provider_calls
       WHERE job_id = $1 AND status = 'submitted' AND request_id IS NOT NULL`,
      [jobId],
    );
    return r.rows.map((row) => ({ key: row.idempotency_key, provider: row.provider, requestId: row.request_id, sceneId: row.scene_id }));
  }

  /**
   * A webhook names a request we never recorded (the process died between the provider's answer
   * and our write) but carries our call key: the request is adopted instead of paid again.
   */
  async function adopt(key: string, requestId: string): Promise<boolean> {
    const r = await db.query(
      "UPDATE provider_calls SET request_id = $2 WHERE idempotency_key = $1 AND status = 'submitted' AND request_id IS NULL",
      [key, requestId],
    );
    return r.rowCount > 0;
  }

  /**
   * Runs fn once per key; later calls with the same key return the stored result. `cost` may be a
   * function of the result, for calls billed by what they turn out to be (a song's length).
   */
  async function once<T>(meta: Omit<CallMeta, "cost"> & { cost?: number | ((result: T) => number) }, fn: () => Promise<T>): Promise<T> {
    const existing = await get<T>(meta.key);
    if (existing?.status === "completed") return existing.result as T;
    // A call that already has its provider request (sent before a restart, or before a deadline
    // cut the wait) waits for that request instead of paying for a new one: see core/paidCall.ts.
    const call: PaidCall = {
      key: meta.key,
      requestId: existing?.status === "submitted" ? existing.requestId : null,
      async submitted(requestId) {
        call.requestId = requestId;
        await db.query("UPDATE provider_calls SET request_id = $2 WHERE idempotency_key = $1 AND status = 'submitted'", [meta.key, requestId]);
      },
    };
    if (!call.requestId) await begin(meta);
    try {
      const result = await inPaidCall(call, fn);
      await complete(meta.key, result, typeof meta.cost === "function" ? meta.cost(result) : meta.cost ?? 0);
      return result;
    } catch (err) {
      // The database went away or the pass was stopped: the call stays in flight for the next try.
      if (!isTransient(err) && !isAbort(err)) await fail(meta.key, err instanceof Error ? err.message : String(err));
      throw err;
    }
  }

  /**
   * Submits a queue-style call once per key and remembers its request id before anyone waits on
   * it. The answer is stable across replays: a stored request id, or the stored failure.
   *
   * A submission that was sent but whose answer was never stored (the process died in between)
   * is not sent again within `adoptGraceMs`: its webhook, which carries our key, may still bring
   * its request id (see adopt). Until then this throws SubmissionInFlightError and the pass is
   * retried later; after it, the call is sent again and its attempt count shows it.
   */
  async function submitOnce(
    meta: CallMeta,
    submit: () => Promise<string>,
    /** Runs once, when the submission fails the first time (never on a replay). */
    onFailure?: (error: string) => Promise<void>,
    adoptGraceMs = 0,
  ): Promise<{ ok: true; requestId: string } | { ok: false; error: string }> {
    const row = await get(meta.key);
    if (row?.requestId) return { ok: true, requestId: row.requestId };
    if (row?.status === "failed") return { ok: false, error: row.errorMessage ?? "submission failed" };
    if (row?.status === "submitted" && row.submittedAt && Date.now() - Date.parse(row.submittedAt) < adoptGraceMs) {
      throw new SubmissionInFlightError(meta.key);
    }
    await begin(meta);
    try {
      const requestId = await submit();
      await db.query("UPDATE provider_calls SET request_id = $2, cost = $3 WHERE idempotency_key = $1", [
        meta.key, requestId, meta.cost ?? 0,
      ]);
      return { ok: true, requestId };
    } catch (err) {
      // It may have reached the provider: sent again it could be paid twice, so it is left in
      // flight, to be adopted (webhook) or, after the grace period, sent again and counted.
      if (isUncertain(err)) throw new SubmissionInFlightError(meta.key);
      const error = err instanceof Error ? err.message : String(err);
      await fail(meta.key, error);
      await onFailure?.(error);
      return { ok: false, error };
    }
  }

  /** The call a provider request id belongs to (webhooks name requests, not our keys). */
  async function byRequestId(requestId: string): Promise<{ key: string; jobId: string; status: LedgerRow<unknown>["status"] } | null> {
    const r = await db.query<{ idempotency_key: string; job_id: string; status: LedgerRow<unknown>["status"] }>(
      "SELECT idempotency_key, job_id, status FROM provider_calls WHERE request_id = $1 LIMIT 1",
      [requestId],
    );
    const row = r.rows[0];
    return row ? { key: row.idempotency_key, jobId: row.job_id, status: row.status } : null;
  }

  async function totalCost(jobId: string): Promise<number> {
    const r = await db.query<{ total: string | null }>(
      "SELECT SUM(cost) AS total FROM provider_calls WHERE job_id = $1 AND status <> 'failed'",
      [jobId],
    );
    return Number(r.rows[0]?.total ?? 0);
  }

  return { get, begin, complete, fail, once, submitOnce, byRequestId, totalCost, noteProgress, pendingRequests, adopt };
}

export type Ledger = ReturnType<typeof createLedger>;

/** The provider may have taken the submission although no answer came back (see SubmissionUncertainError). */
function isUncertain(err: unknown): boolean {
  return (err as { name?: unknown } | null)?.name === "SubmissionUncertainError";
}

function isAbort(err: unknown): boolean {
  const name = (err as { name?: unknown } | null)?.name;
  return name === "AbortError";
}
