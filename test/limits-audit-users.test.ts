import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "../store/db.js";
import { createAuditLog } from "../store/audit.js";
import { createRateLimiter } from "../store/limits.js";
import { createUsers } from "../store/users.js";
import { dbTargets } from "./helpers/db.js";
import { failure } from "./helpers/errors.js";

/** A clock the test moves by hand; starts at a whole second so window maths stay readable. */
function manualClock(start = Date.UTC(2026, 0, 1, 12)) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms), set: (ms: number) => void (t = ms), start };
}

describe.each(dbTargets)("on $name", (target) => {
  let db: Db;
  beforeAll(async () => {
    db = await target.open();
  });
  afterAll(async () => {
    await db?.end();
  });

  describe("rate limiter", () => {
    it("lets 10 generate requests through and refuses the 11th (spec §7 test 7)", async () => {
      const limiter = createRateLimiter(db);
      const userId = `test-user-${randomUUID()}`;
      for (let i = 0; i < 10; i++) {
        const result = await limiter.enforce(userId, "generate");
        expect(result.remaining).toBe(9 - i);
      }
      await expect(limiter.enforce(userId, "generate")).rejects.toThrow("TOO_MANY_REQUESTS");
      const err = await failure(limiter.enforce(userId, "generate"));
      expect(err.retryAfterS).toBeGreaterThan(0);
      expect(err.userMessage).toMatch(/try again in \d+ s/);
      // Other endpoints and other users have their own buckets.
      await expect(limiter.enforce(userId, "upload")).resolves.toMatchObject({ allowed: true });
      await expect(limiter.enforce(`${userId}-other`, "generate")).resolves.toMatchObject({ allowed: true });
    });

    it("slides: after one window the limit frees gradually, after two fully", async () => {
      const clock = manualClock();
      const limiter = createRateLimiter(db, {}, clock.now);
      const user = `slide-${randomUUID()}`;
      for (let i = 0; i < 10; i++) expect((await limiter.consume(user, "generate")).allowed).toBe(true);
      expect(await limiter.consume(user, "generate")).toEqual({ allowed: false, remaining: 0, retryAfterS: 66 }); // 60 s, then 6 s of sliding

      // Next window starts: the 10 previous requests still weigh fully.
      clock.advance(60_000);
      const refused = await limiter.consume(user, "generate");
      expect(refused).toMatchObject({ allowed: false, retryAfterS: 6 }); // 10 × (1 − 6/60) + 1 = 10
      clock.advance(5_999);
      expect((await limiter.consume(user, "generate")).allowed).toBe(false);
      clock.advance(1);
      expect(await limiter.consume(user, "generate")).toEqual({ allowed: true, remaining: 0, retryAfterS: 0 });
      expect((await limiter.consume(user, "generate")).allowed).toBe(false);
      // Half way through the window, half of the previous count has slid out: 5 + 1 counted.
      clock.set(clock.start + 90_000);
      expect(await limiter.consume(user, "generate")).toEqual({ allowed: true, remaining: 3, retryAfterS: 0 });

      // Two full windows after the burst, nothing of it is left.
      const other = `slide-${randomUUID()}`;
      clock.set(clock.start);
      for (let i = 0; i < 10; i++) await limiter.consume(other, "generate");
      clock.set(clock.start + 120_000);
      for (let i = 0; i < 10; i++) expect((await limiter.consume(other, "generate")).allowed).toBe(true);
      expect((await limiter.consume(other, "generate")).allowed).toBe(false);
    });

    it("retryAfterS is exact: waiting that long is enough", async () => {
      const clock = manualClock();
      const limiter = createRateLimiter(db, { production: { limit: 5, windowS: 60 } }, clock.now);
      const user = `retry-${randomUUID()}`;
      for (let step = 0; step < 40; step++) {
        const result = await limiter.consume(user, "production");
        if (!result.allowed) {
          clock.advance(result.retryAfterS * 1000 - 1000);
          if (result.retryAfterS > 1) expect((await limiter.consume(user, "production")).allowed).toBe(false);
          clock.advance(1000);
          expect((await limiter.consume(user, "production")).allowed).toBe(true);
        }
        clock.advance(7_000);
      }
    });

    it("allows exactly the limit among concurrent callers", async () => {
      const limiter = createRateLimiter(db);
      const user = `burst-${randomUUID()}`;
      const results = await Promise.all(Array.from({ length: 20 }, () => limiter.consume(user, "generate")));
      expect(results.filter((r) => r.allowed)).toHaveLength(10);
      // Each refusal reads the bucket after the burst, so its hint is the full wait (≈ 66 s).
      expect(results.filter((r) => !r.allowed).every((r) => r.retryAfterS >= 60)).toBe(true);
      expect((await limiter.consume(user, "generate")).allowed).toBe(false);
    });

    it("does not count refused requests", async () => {
      const clock = manualClock();
      const limiter = createRateLimiter(db, { upload: { limit: 3, windowS: 30 } }, clock.now);
      const user = `refused-${randomUUID()}`;
      for (let i = 0; i < 3; i++) await limiter.consume(user, "upload");
      for (let i = 0; i < 50; i++) {
        clock.advance(100);
        expect((await limiter.consume(user, "upload")).allowed).toBe(false);
      }
      const { rows } = await db.query<{ request_count: number }>(
        "SELECT request_count FROM rate_limit_buckets WHERE identifier = $1 AND endpoint = 'upload'",
        [user],
      );
      expect(rows[0]?.request_count).toBe(3);
      // Had the 50 refusals counted, nothing would pass for another window.
      clock.set(clock.start + 30_000 + 10_000); // 3 × (1 − 10/30) + 1 = 3
      expect((await limiter.consume(user, "upload")).allowed).toBe(true);
    });

    it("prunes only buckets that no longer matter", async () => {
      const clock = manualClock(Date.UTC(2030, 0, 1));
      const limiter = createRateLimiter(db, {}, clock.now);
      const user = `prune-${randomUUID()}`;
      await limiter.consume(user, "general");
      clock.advance(60_000 + 59_000);
      await limiter.prune();
      expect((await db.query("SELECT 1 FROM rate_limit_buckets WHERE identifier = $1", [user])).rowCount).toBe(1);
      clock.advance(2_000);
      expect(await limiter.prune()).toBeGreaterThanOrEqual(1);
      expect((await db.query("SELECT 1 FROM rate_limit_buckets WHERE identifier = $1", [user])).rowCount).toBe(0);
    });
  });

  describe("audit log", () => {
    it("records entries and strips secret-looking keys at any depth", async () => {
      const audit = createAuditLog(db);
      const user = await createUsers(db).ensure({ platform: "slack", teamId: "T1", userId: `U-${randomUUID()}` });
      const entityId = randomUUID();
      await audit.record({
        userId: user.id,
        action: "upload.accepted",
        entityType: "vision_job",
        entityId,
        details: {
          filename: "logo.png",
          prompt_tokens: 12,
          token: "xoxb-1",
          FAL_API_KEY: "k",
          nested: { password: "p", keep: 1, list: [{ Authorization: "x", clientSecret: "s", ok: true }] },
          header: "Bearer abc.def",
          when: new Date("2026-01-01T00:00:00Z"),
        },
        ipAddress: "203.0.113.9",
        userAgent: "u".repeat(2000),
      });
      await audit.record({ action: "upload.refused", entityType: "vision_job", entityId });

      const rows = await audit.list({ entityType: "vision_job", entityId });
      expect(rows.map((r) => r.action)).toEqual(["upload.accepted", "upload.refused"]);
      expect(rows[0]!.user_id).toBe(user.id);
      expect(rows[0]!.details).toEqual({
        filename: "logo.png",
        prompt_tokens: 12,
        nested: { keep: 1, list: [{ ok: true }] },
        header: "[redacted]",
        when: "2026-01-01T00:00:00.000Z",
      });
      expect(rows[0]!.user_agent).toHaveLength(512);
      expect(await audit.list({ userId: user.id })).toHaveLength(1);
      expect(await audit.list({ entityId, action: "upload.refused" })).toHaveLength(1);
    });

    it("writes inside the caller's transaction", async () => {
      const audit = createAuditLog(db);
      const entityId = randomUUID();
      await expect(
        db.transaction(async (tx) => {
          await audit.record({ action: "scene.approved", entityType: "scene", entityId }, tx);
          throw new Error("rolled back");
        }),
      ).rejects.toThrow("rolled back");
      expect(await audit.list({ entityId })).toHaveLength(0);
      await db.transaction((tx) => audit.record({ action: "scene.approved", entityType: "scene", entityId }, tx));
      expect(await audit.list({ entityId })).toHaveLength(1);
    });

    it("is append-only in the database", async () => {
      const audit = createAuditLog(db);
      const row = await audit.record({ action: "job.cancelled", entityType: "vision_job", entityId: randomUUID() });
      await expect(db.query("UPDATE audit_logs SET action = 'x' WHERE id = $1", [row.id])).rejects.toThrow(/append-only/);
      await expect(db.query("DELETE FROM audit_logs WHERE id = $1", [row.id])).rejects.toThrow(/append-only/);
      expect(await audit.list({ entityId: row.entity_id! })).toHaveLength(1);
    });
  });

  describe("users", () => {
    it("ensure is idempotent under concurrency and keeps the name unless a new one is given", async () => {
      const users = createUsers(db);
      const identity = { platform: "discord" as const, teamId: "G1", userId: `D-${randomUUID()}`.slice(0, 40) };
      const rows = await Promise.all(Array.from({ length: 10 }, (_, i) => users.ensure({ ...identity, name: i === 0 ? "Ada" : undefined })));
      expect(new Set(rows.map((r) => r.id)).size).toBe(1);
      const count = await db.query("SELECT 1 FROM users WHERE platform_user_id = $1", [identity.userId]);
      expect(count.rowCount).toBe(1);

      const user = await users.ensure(identity);
      expect(user).toMatchObject({ name: "Ada", plan: "free", credits_remaining: 10, platform_team_id: "G1" });
      expect((await users.ensure({ ...identity, name: "Ada\u0000 Lovelace\n" })).name).toBe("Ada Lovelace");
      expect((await users.get(user.id))?.name).toBe("Ada Lovelace");
      // The same user id in another workspace is another person.
      expect((await users.ensure({ ...identity, teamId: "G2" })).id).not.toBe(user.id);
    });

    it("get returns null for unknown, malformed and deleted ids; ensure refuses deleted users", async () => {
      const users = createUsers(db);
      const identity = { platform: "slack" as const, teamId: "T9", userId: `U-${randomUUID()}`.slice(0, 40) };
      const user = await users.ensure(identity);
      expect(await users.get(randomUUID())).toBeNull();
      expect(await users.get("not-a-uuid")).toBeNull();

      await db.query("UPDATE users SET deleted_at = NOW() WHERE id = $1", [user.id]);
      expect(await users.get(user.id)).toBeNull();
      const err = await failure(users.ensure(identity));
      expect(err.code).toBe("FORBIDDEN");
      expect(err.userMessage).toMatch(/deleted/);
    });

    it("ensure works inside the caller's transaction", async () => {
      const users = createUsers(db);
      const identity = { platform: "cli" as const, userId: `cli-${randomUUID()}`.slice(0, 40) };
      await db.transaction(async (tx) => {
        const user = await users.ensure(identity, tx);
        expect((await users.get(user.id, tx))?.platform_team_id).toBe("");
      });
      expect((await users.ensure(identity)).platform).toBe("cli");
    });
  });
});
