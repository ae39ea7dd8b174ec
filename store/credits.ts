import type { Db } from "./db.js";
import { UserFacingError } from "../core/errors.js";

export interface Reservation {
  userId: string;
  jobId: string;
  sceneId: string;
  /** Unique per approval, e.g. reserve:<interrupt id>. */
  key: string;
  amount: number;
}

/** Every credit movement is audited in the transaction that makes it (spec §3 audit_logs). */
async function audit(tx: Pick<Db, "query">, entry: { userId: string; action: string; jobId?: string | null; details: Record<string, unknown> }): Promise<void> {
  await tx.query(
    "INSERT INTO audit_logs (user_id, action, entity_type, entity_id, details) VALUES ($1, $2, 'credits', $3, $4)",
    [entry.userId, entry.action, entry.jobId ?? null, JSON.stringify(entry.details)],
  );
}

/** Keeps the spec's vision_job_video_prompts.credits_used in step with the ledger. */
async function chargeJob(tx: Pick<Db, "query">, jobId: string, amount: number): Promise<void> {
  await tx.query(
    "UPDATE vision_job_video_prompts SET credits_used = credits_used + $2, updated_at = NOW() WHERE job_id = $1",
    [jobId, amount],
  );
}

/**
 * Credits (users.credits_remaining, spec §3) with their history in credit_ledger. A reservation
 * and its balance change happen in one transaction, and the balance can never go below zero, so
 * two approvals racing for the last credit cannot both win.
 */
export function createCredits(db: Db) {
  /** @returns true when this call reserved, false when the key was already reserved. */
  async function reserve(r: Reservation): Promise<boolean> {
    if (r.amount <= 0) return false;
    return db.transaction(async (tx) => {
      const entry = await tx.query(
        `INSERT INTO credit_ledger (user_id, job_id, scene_id, entry_key, amount, reason)
         VALUES ($1, $2, $3, $4, $5, 'reserve') ON CONFLICT (entry_key) DO NOTHING RETURNING id`,
        [r.userId, r.jobId, r.sceneId, r.key, -r.amount],
      );
      if (entry.rowCount === 0) return false;
      const charged = await tx.query<{ credits_remaining: number }>(
        `UPDATE users SET credits_remaining = credits_remaining - $2, updated_at = NOW()
         WHERE id = $1 AND credits_remaining >= $2 RETURNING credits_remaining`,
        [r.userId, r.amount],
      );
      if (charged.rowCount > 0) {
        await chargeJob(tx, r.jobId, r.amount);
        await audit(tx, { userId: r.userId, action: "credits.reserved", jobId: r.jobId, details: { amount: r.amount, sceneId: r.sceneId, key: r.key } });
      }
      if (charged.rowCount === 0) {
        const left = await balance(r.userId, tx);
        throw new UserFacingError(
          "INSUFFICIENT_CREDITS",
          `Rendering this scene costs ${r.amount} credit${r.amount === 1 ? "" : "s"} and you have ${left} left. Nothing was charged; ask an admin for credits.`,
        );
      }
      return true;
    });
  }

  /** Gives a reservation back once; later calls (replays) change nothing. */
  async function refund(reserveKey: string): Promise<boolean> {
    return db.transaction(async (tx) => {
      const reserved = await tx.query<{ user_id: string; job_id: string; scene_id: string; amount: number }>(
        "SELECT user_id, job_id, scene_id, amount FROM credit_ledger WHERE entry_key = $1 AND reason = 'reserve'",
        [reserveKey],
      );
      const row = reserved.rows[0];
      if (!row) return false;
      const entry = await tx.query(
        `INSERT INTO credit_ledger (user_id, job_id, scene_id, entry_key, amount, reason)
         VALUES ($1, $2, $3, $4, $5, 'refund') ON CONFLICT (entry_key) DO NOTHING RETURNING id`,
        [row.user_id, row.job_id, row.scene_id, `refund:${reserveKey}`, -row.amount],
      );
      if (entry.rowCount === 0) return false;
      await tx.query("UPDATE users SET credits_remaining = credits_remaining + $2, updated_at = NOW() WHERE id = $1", [
        row.user_id, -row.amount,
      ]);
      await chargeJob(tx, row.job_id, row.amount);
      await audit(tx, { userId: row.user_id, action: "credits.refunded", jobId: row.job_id, details: { amount: -row.amount, sceneId: row.scene_id, key: reserveKey } });
      return true;
    });
  }

  /**
   * Gives back every reservation of a job that did not become a clip (a cancelled or failed job):
   * scenes that were rendered keep their charge. @returns the refunded reservations' keys.
   */
  async function refundUnused(jobId: string): Promise<string[]> {
    const r = await db.query<{ entry_key: string }>(
      `SELECT r.entry_key FROM credit_ledger r
       WHERE r.job_id = $1 AND r.reason = 'reserve'
         AND NOT EXISTS (SELECT 1 FROM credit_ledger f WHERE f.entry_key = 'refund:' || r.entry_key)
         AND NOT EXISTS (SELECT 1 FROM scene_versions v WHERE v.scene_id = r.scene_id AND v.kind = 'clip' AND v.created_at >= r.created_at)`,
      [jobId],
    );
    const refunded: string[] = [];
    for (const { entry_key } of r.rows) if (await refund(entry_key)) refunded.push(entry_key);
    return refunded;
  }

  async function grant(userId: string, amount: number, key: string): Promise<void> {
    await db.transaction(async (tx) => {
      const entry = await tx.query(
        `INSERT INTO credit_ledger (user_id, entry_key, amount, reason) VALUES ($1, $2, $3, 'grant')
         ON CONFLICT (entry_key) DO NOTHING RETURNING id`,
        [userId, key, amount],
      );
      if (entry.rowCount > 0) {
        await tx.query("UPDATE users SET credits_remaining = credits_remaining + $2 WHERE id = $1", [userId, amount]);
        await audit(tx, { userId, action: "credits.granted", details: { amount, key } });
      }
    });
  }

  /** Credits charged for a job: reservations net of refunds. */
  async function spentOn(jobId: string): Promise<number> {
    const r = await db.query<{ spent: string | null }>(
      "SELECT -SUM(amount) AS spent FROM credit_ledger WHERE job_id = $1 AND reason IN ('reserve', 'refund')",
      [jobId],
    );
    return Number(r.rows[0]?.spent ?? 0);
  }

  async function balance(userId: string, client: Pick<Db, "query"> = db): Promise<number> {
    const r = await client.query<{ credits_remaining: number }>("SELECT credits_remaining FROM users WHERE id = $1", [userId]);
    return Number(r.rows[0]?.credits_remaining ?? 0);
  }

  return { reserve, refund, refundUnused, grant, balance, spentOn };
}

export type Credits = ReturnType<typeof createCredits>;
