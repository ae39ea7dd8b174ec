import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { Db } from "./db.js";
import { createRateLimiter } from "./limits.js";

/** One provider's account-wide limits: calls at once, and calls per minute. */
export interface ProviderLimit {
  concurrency?: number;
  perMinute?: number;
}

export interface ProviderLimits {
  /**
   * Waits for a slot of the provider's account-wide limits (every worker process together) and
   * holds it until `release`. Providers without limits return at once.
   */
  acquire(provider: string, signal?: AbortSignal): Promise<() => Promise<void>>;
}

/** A slot is renewed while its call runs; a dead worker's slot frees itself after this long. */
const SLOT_TTL_MS = 60_000;
/** How often a waiting call asks again for a free slot (with jitter, so waiters do not march). */
const RETRY_MS = 150;

/**
 * Account-wide provider limits in the shared database, so they hold whatever the number of
 * worker processes: a provider's concurrency is a set of N slot rows leased with one statement,
 * its requests per minute are the sliding-window buckets of store/limits.ts keyed by provider.
 * The in-process bottleneck limiter stays as the first, local layer (tools/resilience.ts).
 */
export function createProviderLimits(db: Db, limits: Record<string, ProviderLimit>): ProviderLimits {
  const perMinute = Object.fromEntries(
    Object.entries(limits).flatMap(([p, l]) => (l.perMinute ? [[`provider:${p}`, { limit: l.perMinute, windowS: 60 }]] : [])),
  );
  const rate = createRateLimiter(db, perMinute);
  const holder = `${process.pid}:${randomUUID().slice(0, 8)}`;

  async function takeSlot(provider: string, concurrency: number, key: string): Promise<number | null> {
    const r = await db.query<{ slot: number }>(
      `INSERT INTO provider_slots (provider, slot, holder, expires_at)
       SELECT $1::varchar, s, $2::text, NOW() + make_interval(secs => $4::float8)
       FROM generate_series(0, $3::int - 1) AS s
       WHERE NOT EXISTS (SELECT 1 FROM provider_slots p WHERE p.provider = $1::varchar AND p.slot = s AND p.expires_at > NOW())
       ORDER BY s LIMIT 1
       ON CONFLICT (provider, slot) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
         WHERE provider_slots.expires_at <= NOW()
       RETURNING slot`,
      [provider, key, concurrency, SLOT_TTL_MS / 1000],
    );
    return r.rows[0]?.slot ?? null;
  }

  return {
    async acquire(provider, signal) {
      const limit = limits[provider];
      if (!limit?.concurrency && !limit?.perMinute) return async () => undefined;
      const key = `${holder}:${randomUUID().slice(0, 8)}`;
      const free = () => db.query("DELETE FROM provider_slots WHERE provider = $1 AND holder = $2", [provider, key]).then(() => undefined, () => undefined);
      let slot: number | null = null;
      try {
        for (;;) {
          signal?.throwIfAborted();
          if (limit.concurrency && slot === null) slot = await takeSlot(provider, limit.concurrency, key);
          if (!limit.concurrency || slot !== null) {
            if (!limit.perMinute) break;
            const allowed = await rate.consume(`provider:${provider}`, `provider:${provider}`);
            if (allowed.allowed) break;
            await sleep(Math.min(allowed.retryAfterS * 1000, 5_000), undefined, signal ? { signal } : undefined);
            continue;
          }
          await sleep(RETRY_MS + Math.random() * RETRY_MS, undefined, signal ? { signal } : undefined);
        }
      } catch (err) {
        if (slot !== null) await free();
        throw err;
      }
      if (slot === null) return async () => undefined;
      const renew = setInterval(() => {
        db.query(
          "UPDATE provider_slots SET expires_at = NOW() + make_interval(secs => $3) WHERE provider = $1 AND holder = $2",
          [provider, key, SLOT_TTL_MS / 1000],
        ).catch(() => undefined);
      }, SLOT_TTL_MS / 3);
      renew.unref();
      return async () => {
        clearInterval(renew);
        await free();
      };
    },
  };
}
