import type { Db } from "./db.js";
import { UserFacingError } from "../core/errors.js";

/*
 * Per-user rate limits (spec §5.3), shared by every bot instance through rate_limit_buckets.
 *
 * Sliding window counter: a bucket holds the count of the current fixed window and of the one
 * before it; the estimate weighs the previous count by how much of it still overlaps the sliding
 * window: previous × (1 − elapsed/window) + current. A request is allowed when estimate + 1 ≤ limit.
 *
 * The decision and the increment are ONE statement (INSERT … ON CONFLICT DO UPDATE … WHERE allowed),
 * so the row lock serialises callers on any number of instances: two of them cannot both take the
 * last slot, and a refused request writes nothing (a read after it only computes retryAfterS). No advisory locks, no named statements, no
 * session state: it works through Supabase's transaction pooler. The time comes from the caller
 * (injectable clock) rather than SQL now(), and all arithmetic is in integer milliseconds so
 * boundaries are exact.
 */

export interface RateLimitRule {
  limit: number;
  windowS: number;
}

export const DEFAULT_RATE_LIMITS = {
  upload: { limit: 20, windowS: 60 },
  generate: { limit: 10, windowS: 60 }, // DeepSeek / Flux
  refine: { limit: 30, windowS: 60 },
  production: { limit: 5, windowS: 60 }, // Kling / Luma
  general: { limit: 100, windowS: 60 },
} as const satisfies Record<string, RateLimitRule>;

export type RateLimitEndpoint = keyof typeof DEFAULT_RATE_LIMITS;

export interface RateLimitResult {
  allowed: boolean;
  /** Requests still allowed right now (0 when refused). */
  remaining: number;
  /** Seconds until a request can succeed; 0 when allowed. */
  retryAfterS: number;
}

export interface RateLimiter {
  /** Counts one request if it fits. `identifier` is the user id (or an IP for anonymous calls). */
  consume(identifier: string, endpoint: RateLimitEndpoint | string): Promise<RateLimitResult>;
  /** consume() that throws TOO_MANY_REQUESTS when refused. */
  enforce(identifier: string, endpoint: RateLimitEndpoint): Promise<RateLimitResult>;
  /** Deletes buckets idle long enough to be equivalent to no bucket. @returns rows deleted. */
  prune(): Promise<number>;
}

/** A bucket as stored, times in epoch ms. */
interface Bucket {
  previous: number;
  current: number;
  start: number;
  end: number;
}

const ENDPOINT_LABELS: Record<RateLimitEndpoint, string> = {
  upload: "uploads",
  generate: "storyboard and preview requests",
  refine: "edits",
  production: "video renders",
  general: "requests",
};

export function createRateLimiter(
  db: Db,
  /** Overrides of the defaults, and further endpoints (a provider's requests per minute). */
  rules: Partial<Record<RateLimitEndpoint, RateLimitRule>> & Record<string, RateLimitRule> = {},
  now: () => number = Date.now,
): RateLimiter {
  const table: Record<string, RateLimitRule> = { ...DEFAULT_RATE_LIMITS, ...rules };
  for (const [endpoint, rule] of Object.entries(table)) {
    if (!Number.isInteger(rule.limit) || rule.limit < 1 || !(rule.windowS > 0)) {
      throw new Error(`rate limit for ${endpoint} needs an integer limit ≥ 1 and a positive window`);
    }
  }

  const consume = async (identifier: string, endpoint: RateLimitEndpoint | string): Promise<RateLimitResult> => {
    const rule = table[endpoint];
    if (!rule) throw new Error(`unknown rate-limited endpoint: ${String(endpoint)}`);
    if (identifier.length === 0 || identifier.length > 255) throw new Error("rate-limit identifier must be 1–255 chars");
    const at = Math.floor(now());
    const windowMs = Math.round(rule.windowS * 1000);
    const counted = await db.query<BucketRow>(CONSUME_SQL, [identifier, endpoint, at, windowMs, rule.limit]);
    if (counted.rows[0]) {
      return { allowed: true, remaining: remainingAt(toBucket(counted.rows[0]), at, windowMs, rule.limit), retryAfterS: 0 };
    }
    const stored = (await db.query<BucketRow>(READ_SQL, [identifier, endpoint])).rows[0];
    const retryAt = stored ? nextAllowedAt(roll(toBucket(stored), at, windowMs), windowMs, rule.limit) : at;
    return { allowed: false, remaining: 0, retryAfterS: Math.max(1, Math.ceil((retryAt - at) / 1000)) };
  };

  return {
    consume,
    async enforce(identifier, endpoint) {
      const result = await consume(identifier, endpoint);
      if (!result.allowed) {
        const { limit, windowS } = table[endpoint];
        throw new UserFacingError(
          "TOO_MANY_REQUESTS",
          `Slow down a little: ${ENDPOINT_LABELS[endpoint] ?? "requests"} are limited to ${limit} per ${windowS} s. ` +
            `Please try again in ${result.retryAfterS} s.`,
          { retryAfterS: result.retryAfterS },
        );
      }
      return result;
    },
    async prune() {
      // A bucket whose window ended more than a window ago rolls to zero/zero: same as no row.
      // A consume racing this DELETE moves window_end forward, and the DELETE re-checks it.
      const longestMs = Math.max(...Object.values(table).map((r) => r.windowS * 1000));
      const result = await db.query(
        `DELETE FROM rate_limit_buckets WHERE window_end < to_timestamp(0) + $1::bigint * interval '1 millisecond'`,
        [Math.floor(now()) - longestMs],
      );
      return result.rowCount;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// SQL
// ---------------------------------------------------------------------------------------------

interface BucketRow {
  previous_count: number;
  request_count: number;
  // bigint: pg returns a string, PGlite a number or bigint.
  start_ms: string | number | bigint;
  end_ms: string | number | bigint;
}

const NOW = "$3::bigint";
const WIN = "$4::bigint";
const LIMIT = "$5::bigint";
const ms = (ts: string) => `(extract(epoch from ${ts}) * 1000)::bigint`;
const ts = (millis: string) => `(to_timestamp(0) + (${millis}) * interval '1 millisecond')`;
const START = ms("b.window_start");
const END = ms("b.window_end");

// The stored bucket rolled forward to NOW, computed from the locked row (b.*), as in roll() below:
// still in the window; exactly one window later (current becomes previous); or later (both forgotten).
const ROLLED_START = `CASE WHEN ${NOW} < ${END} THEN ${START} WHEN ${NOW} < ${END} + ${WIN} THEN ${END} ELSE ${NOW} END`;
const ROLLED_END = `CASE WHEN ${NOW} < ${END} THEN ${END} WHEN ${NOW} < ${END} + ${WIN} THEN ${END} + ${WIN} ELSE ${NOW} + ${WIN} END`;
const ROLLED_PREVIOUS = `CASE WHEN ${NOW} < ${END} THEN b.previous_count WHEN ${NOW} < ${END} + ${WIN} THEN b.request_count ELSE 0 END`;
const ROLLED_CURRENT = `CASE WHEN ${NOW} < ${END} THEN b.request_count ELSE 0 END`;
// Clamped: a caller whose clock lags another instance's counts the previous window in full.
const ELAPSED = `LEAST(GREATEST(${NOW} - (${ROLLED_START}), 0), ${WIN})`;
// previous × (1 − elapsed/W) + current + 1 ≤ limit, multiplied by W to stay in integers.
const ALLOWED = `(${ROLLED_PREVIOUS})::bigint * (${WIN} - ${ELAPSED}) + ((${ROLLED_CURRENT})::bigint + 1) * ${WIN} <= ${LIMIT} * ${WIN}`;

// Allowed: the counted bucket comes back. Refused: no row, and nothing was written.
const CONSUME_SQL = `
INSERT INTO rate_limit_buckets AS b (identifier, endpoint, request_count, previous_count, window_start, window_end)
VALUES ($1, $2, 1, 0, ${ts(NOW)}, ${ts(`${NOW} + ${WIN}`)})
ON CONFLICT (identifier, endpoint) DO UPDATE SET
  previous_count = ${ROLLED_PREVIOUS},
  request_count = ${ROLLED_CURRENT} + 1,
  window_start = ${ts(ROLLED_START)},
  window_end = ${ts(ROLLED_END)}
WHERE ${ALLOWED}
RETURNING b.previous_count, b.request_count, ${ms("b.window_start")} AS start_ms, ${ms("b.window_end")} AS end_ms`;

// Only for the retry hint of a refusal. A separate statement rather than a branch of the upsert,
// because a new statement sees the callers that committed while the upsert waited on the row lock;
// the upsert's own snapshot does not, and would under-state the wait.
const READ_SQL = `
SELECT previous_count, request_count, ${ms("window_start")} AS start_ms, ${ms("window_end")} AS end_ms
  FROM rate_limit_buckets WHERE identifier = $1 AND endpoint = $2`;

// ---------------------------------------------------------------------------------------------
// The same window arithmetic in TypeScript, for `remaining` and `retryAfterS`
// ---------------------------------------------------------------------------------------------

function toBucket(row: BucketRow): Bucket {
  return {
    previous: Number(row.previous_count),
    current: Number(row.request_count),
    start: Number(row.start_ms),
    end: Number(row.end_ms),
  };
}

function roll(b: Bucket, at: number, windowMs: number): Bucket {
  if (at < b.end) return b;
  if (at < b.end + windowMs) return { previous: b.current, current: 0, start: b.end, end: b.end + windowMs };
  return { previous: 0, current: 0, start: at, end: at + windowMs };
}

/** How many more requests fit at `at`: largest k with previous·(W−e) + (current+k)·W ≤ limit·W. */
function remainingAt(b: Bucket, at: number, windowMs: number, limit: number): number {
  const elapsed = Math.min(Math.max(at - b.start, 0), windowMs);
  const k = Math.floor((limit * windowMs - b.previous * (windowMs - elapsed)) / windowMs) - b.current;
  return Math.max(0, k);
}

/** Earliest time a request fits, given a bucket already rolled to the present. */
function nextAllowedAt(b: Bucket, windowMs: number, limit: number): number {
  // Still in this window: wait until enough of the previous window has slid out.
  if (b.current + 1 <= limit && b.previous > 0) {
    const at = b.start + windowMs - Math.floor(((limit - b.current - 1) * windowMs) / b.previous);
    if (at < b.end) return at;
  }
  // Next window: this window's count becomes the previous one and starts sliding out.
  if (b.current === 0) return b.end;
  return b.end + Math.max(0, windowMs - Math.floor(((limit - 1) * windowMs) / b.current));
}
