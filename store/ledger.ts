import type { Db } from "./db.js";

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
}

/**
 * The ledger of paid provider calls (table provider_calls). `once` runs a call at most once per
 * key and hands back the stored result afterwards: a resumed graph replays its steps through
 * here, so a replay never pays twice. Queue-style calls (video) store the request id before
 * waiting, so a restart collects the same request.
 */
export function createLedger(db: Db) {
  async function get<T>(key: string): Promise<LedgerRow<T> | null> {
    const r = await db.query<{ status: LedgerRow<T>["status"]; request_id: string | null; result: T | null }>(
      "SELECT status, request_id, result FROM provider_calls WHERE idempotency_key = $1",
      [key],
    );
    const row = r.rows[0];
    return row ? { status: row.status, requestId: row.request_id, result: row.result } : null;
  }

  async function begin(meta: CallMeta, requestId: string | null = null): Promise<void> {
    // A failed call may be tried again under the same key; a completed one never.
    await db.query(
      `INSERT INTO provider_calls (idempotency_key, job_id, scene_id, operation, provider, request_id, status)
       VALUES ($1, $2, $3, $4, $5, $6, 'submitted')
       ON CONFLICT (idempotency_key) DO UPDATE
         SET status = 'submitted', request_id = EXCLUDED.request_id, error_message = NULL, provider = EXCLUDED.provider
       WHERE provider_calls.status <> 'completed'`,
      [meta.key, meta.jobId, meta.sceneId ?? null, meta.operation, meta.provider, requestId],
    );
  }

  async function complete<T>(key: string, result: T, cost = 0): Promise<void> {
    await db.query(
      `UPDATE provider_calls SET status = 'completed', result = $2, cost = $3, completed_at = NOW()
       WHERE idempotency_key = $1`,
      [key, JSON.stringify(result), cost],
    );
  }

  async function fail(key: string, message: string): Promise<void> {
    await db.query(
      `UPDATE provider_calls SET status = 'failed', error_message = $2 WHERE idempotency_key = $1 AND status <> 'completed'`,
      [key, message.slice(0, 1000)],
    );
  }

  /** Runs fn once per key; later calls with the same key return the stored result. */
  async function once<T>(meta: CallMeta, fn: () => Promise<T>): Promise<T> {
    const existing = await get<T>(meta.key);
    if (existing?.status === "completed") return existing.result as T;
    await begin(meta);
    try {
      const result = await fn();
      await complete(meta.key, result, meta.cost ?? 0);
      return result;
    } catch (err) {
      await fail(meta.key, err instanceof Error ? err.message : String(err));
      throw err;
    }
  }

  /**
   * Submits a queue-style call once per key and remembers its request id before anyone waits on
   * it. The answer is stable across replays: a stored request id, or the stored failure.
   */
  async function submitOnce(
    meta: CallMeta,
    submit: () => Promise<string>,
    /** Runs once, when the submission fails the first time (never on a replay). */
    onFailure?: (error: string) => Promise<void>,
  ): Promise<{ ok: true; requestId: string } | { ok: false; error: string }> {
    const r = await db.query<{ status: string; request_id: string | null; error_message: string | null }>(
      "SELECT status, request_id, error_message FROM provider_calls WHERE idempotency_key = $1",
      [meta.key],
    );
    const row = r.rows[0];
    if (row?.request_id) return { ok: true, requestId: row.request_id };
    if (row?.status === "failed") return { ok: false, error: row.error_message ?? "submission failed" };
    await begin(meta);
    try {
      const requestId = await submit();
      await db.query("UPDATE provider_calls SET request_id = $2, cost = $3 WHERE idempotency_key = $1", [
        meta.key, requestId, meta.cost ?? 0,
      ]);
      return { ok: true, requestId };
    } catch (err) {
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

  return { get, begin, complete, fail, once, submitOnce, byRequestId, totalCost };
}

export type Ledger = ReturnType<typeof createLedger>;
