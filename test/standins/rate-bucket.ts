/**
 * A token bucket, the shape both platforms describe for their limits: `capacity` requests at once,
 * refilled at `perSecond`. `take()` answers whether a request fits now and, when it does not, how
 * many seconds until it would (what Slack's Retry-After and Discord's retry_after carry).
 */
export interface RateBucket {
  take(now?: number): { ok: true } | { ok: false; retryAfterS: number };
}

export function createRateBucket(capacity: number, perSecond: number): RateBucket {
  let tokens = capacity;
  let at = Date.now();
  return {
    take(now = Date.now()) {
      tokens = Math.min(capacity, tokens + ((now - at) / 1000) * perSecond);
      at = now;
      if (tokens >= 1) {
        tokens -= 1;
        return { ok: true };
      }
      return { ok: false, retryAfterS: (1 - tokens) / perSecond };
    },
  };
}

/** One bucket per key (a channel, a route), created on first use. */
export function createRateBuckets(capacity: number, perSecond: number) {
  const buckets = new Map<string, RateBucket>();
  return (key: string) => {
    let bucket = buckets.get(key);
    if (!bucket) buckets.set(key, (bucket = createRateBucket(capacity, perSecond)));
    return bucket;
  };
}
