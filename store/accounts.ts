import type { Db } from "./db.js";
import { createAuditLog } from "./audit.js";
import { UserFacingError } from "../core/errors.js";

/*
 * A person's credits as chat shows them (/credits, the local page) and grants by an admin.
 * Reservations and refunds are written by store/credits.ts when scenes are approved; this module
 * reads that history and adds grants. A grant writes its credit_ledger row, the new balance and
 * its audit_logs row in one transaction (credits.grant() cannot take part in a caller's
 * transaction), so there is never a grant the audit trail does not show.
 */

/** Largest single grant: a typo (an extra zero or three) should not mint a fortune. */
export const MAX_GRANT = 10_000;

export interface LedgerEntry {
  /** Negative when credits were spent (a reservation), positive for refunds and grants. */
  amount: number;
  reason: "reserve" | "refund" | "grant";
  at: Date;
  jobId: string | null;
  /** The job's file name, for "spent on brand.png". */
  filename: string | null;
  /** 0-based scene (or shot) index of a reservation or refund. */
  sceneIndex: number | null;
}

export interface AccountSummary {
  balance: number;
  /** Credits spent in the last 30 days: reservations net of their refunds. */
  spent30d: number;
  /** Most recent entries first. */
  recent: LedgerEntry[];
}

export interface GrantRequest {
  /** The admin granting (a users row id). */
  byUserId: string;
  /** Who receives the credits (a users row id; a linked identity's canonical row). */
  toUserId: string;
  amount: number;
  reason?: string;
  /**
   * Unique per request (e.g. the Slack trigger id or Discord interaction id): a request delivered
   * twice grants once.
   */
  key: string;
}

export interface GrantResult {
  /** False when this key was already granted (a repeated delivery): nothing changed. */
  granted: boolean;
  /** The receiver's balance afterwards. */
  balance: number;
}

export interface KnownUser {
  id: string;
  platform: string;
  name: string;
  credits: number;
}

export function createAccounts(db: Db) {
  const audit = createAuditLog(db);

  async function summary(userId: string, limit = 8): Promise<AccountSummary> {
    const [balance, spent, recent] = await Promise.all([
      db.query<{ credits_remaining: number }>("SELECT credits_remaining FROM users WHERE id = $1", [userId]),
      db.query<{ spent: string | null }>(
        `SELECT -SUM(amount) AS spent FROM credit_ledger
         WHERE user_id = $1 AND reason IN ('reserve', 'refund') AND created_at > NOW() - INTERVAL '30 days'`,
        [userId],
      ),
      db.query<{ amount: number; reason: LedgerEntry["reason"]; created_at: Date; job_id: string | null; original_filename: string | null; sequence_index: number | null }>(
        `SELECT l.amount, l.reason, l.created_at, l.job_id, j.original_filename, s.sequence_index
         FROM credit_ledger l
         LEFT JOIN vision_jobs j ON j.id = l.job_id
         LEFT JOIN scenes s ON s.id = l.scene_id
         WHERE l.user_id = $1 ORDER BY l.created_at DESC, l.id DESC LIMIT $2`,
        [userId, limit],
      ),
    ]);
    return {
      balance: Number(balance.rows[0]?.credits_remaining ?? 0),
      spent30d: Math.max(0, Number(spent.rows[0]?.spent ?? 0)),
      recent: recent.rows.map((r) => ({
        amount: Number(r.amount),
        reason: r.reason,
        at: new Date(r.created_at),
        jobId: r.job_id,
        filename: r.original_filename,
        sceneIndex: r.sequence_index === null ? null : Number(r.sequence_index),
      })),
    };
  }

  async function grant(request: GrantRequest): Promise<GrantResult> {
    const { amount } = request;
    if (!Number.isInteger(amount) || amount < 1 || amount > MAX_GRANT) {
      throw new UserFacingError("VALIDATION_ERROR", `Grant a whole number of credits from 1 to ${MAX_GRANT.toLocaleString("en")}.`);
    }
    const reason = request.reason?.replace(/[\x00-\x1F\x7F-\x9F]/g, " ").trim().slice(0, 200) || null;
    return db.transaction(async (tx) => {
      const target = await tx.query<{ id: string }>("SELECT id FROM users WHERE id = $1 AND deleted_at IS NULL", [request.toUserId]);
      if (target.rowCount === 0) throw new UserFacingError("NOT_FOUND", "I can't find that person; they may have been removed.");
      const entry = await tx.query(
        `INSERT INTO credit_ledger (user_id, entry_key, amount, reason) VALUES ($1, $2, $3, 'grant')
         ON CONFLICT (entry_key) DO NOTHING RETURNING id`,
        [request.toUserId, `grant:${request.key}`, amount],
      );
      if (entry.rowCount === 0) {
        const now = await tx.query<{ credits_remaining: number }>("SELECT credits_remaining FROM users WHERE id = $1", [request.toUserId]);
        return { granted: false, balance: Number(now.rows[0]?.credits_remaining ?? 0) };
      }
      const updated = await tx.query<{ credits_remaining: number }>(
        "UPDATE users SET credits_remaining = credits_remaining + $2, updated_at = NOW() WHERE id = $1 RETURNING credits_remaining",
        [request.toUserId, amount],
      );
      const balance = Number(updated.rows[0].credits_remaining);
      await audit.record({
        userId: request.byUserId, action: "credits.grant", entityType: "user", entityId: request.toUserId,
        details: { amount, reason, balanceAfter: balance },
      }, tx);
      return { granted: true, balance };
    });
  }

  /** People who used the bot, most recently active first (the local page's grant form). */
  async function known(limit = 50): Promise<KnownUser[]> {
    const r = await db.query<{ id: string; platform: string; name: string | null; platform_user_id: string; credits_remaining: number }>(
      `SELECT u.id, u.platform, u.name, u.platform_user_id, u.credits_remaining FROM users u
       WHERE u.deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM identity_links l WHERE l.user_id = u.id)
       ORDER BY u.updated_at DESC, u.created_at DESC LIMIT $1`,
      [limit],
    );
    return r.rows.map((u) => ({ id: u.id, platform: u.platform, name: u.name ?? u.platform_user_id, credits: Number(u.credits_remaining) }));
  }

  return { summary, grant, known };
}

export type Accounts = ReturnType<typeof createAccounts>;
