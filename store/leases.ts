import type { Db } from "./db.js";

/**
 * Lease rows (table leases): a named lock with an expiry, taken with one INSERT … ON CONFLICT
 * statement. Unlike advisory locks it works through Supabase's transaction pooler, and a holder
 * that dies simply lets its lease expire.
 */
export function createLeases(db: Db) {
  /** Takes the lease when free or expired (or already ours); true when we hold it now. */
  async function acquire(name: string, holder: string, ttlMs: number): Promise<boolean> {
    const r = await db.query(
      `INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, NOW() + make_interval(secs => $3))
       ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
       WHERE leases.expires_at < NOW() OR leases.holder = EXCLUDED.holder
       RETURNING holder`,
      [name, holder, ttlMs / 1000],
    );
    return r.rowCount > 0;
  }

  /** Extends a lease we still hold; false when it was lost (expired and taken by another). */
  async function renew(name: string, holder: string, ttlMs: number): Promise<boolean> {
    const r = await db.query(
      `UPDATE leases SET expires_at = NOW() + make_interval(secs => $3) WHERE name = $1 AND holder = $2`,
      [name, holder, ttlMs / 1000],
    );
    return r.rowCount > 0;
  }

  async function release(name: string, holder: string): Promise<void> {
    await db.query("DELETE FROM leases WHERE name = $1 AND holder = $2", [name, holder]);
  }

  return { acquire, renew, release };
}

export type Leases = ReturnType<typeof createLeases>;
