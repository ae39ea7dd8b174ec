/**
 * store/identityLinks.ts and the link resolution in users.ensure, on PGlite (and Postgres when
 * TEST_DATABASE_URL is set): codes are one-time, expire, cross platforms, and never chain.
 */
import { describe, expect, it } from "vitest";
import { dbTargets } from "./helpers/db.js";
import { createIdentityLinks, formatCode, normaliseCode } from "../store/identityLinks.js";
import { createUsers } from "../store/users.js";

const slack = (userId: string) => ({ platform: "slack" as const, teamId: "T1", userId });
const discord = (userId: string) => ({ platform: "discord" as const, teamId: "G1", userId });

describe.each(dbTargets)("identity links on $name", (target) => {
  it("a code made on Slack and typed on Discord makes the Discord identity act as the Slack one", async () => {
    const db = await target.open();
    try {
      const links = createIdentityLinks(db);
      const users = createUsers(db);
      const ann = await users.ensure(slack("U1"));
      const annOnDiscord = await users.ensure(discord("111111111111111111"));
      expect(annOnDiscord.id).not.toBe(ann.id);

      const { code, expiresAt } = await links.issue(slack("U1"));
      expect(code).toMatch(/^[2-9A-HJKMNP-TV-Z]{8}$/);
      expect(expiresAt.getTime() - Date.now()).toBeGreaterThan(9 * 60_000);
      // Only the hash is stored.
      const stored = await db.query<{ code_hash: string }>("SELECT code_hash FROM link_codes");
      expect(stored.rows.map((r) => r.code_hash)).not.toContain(code);

      const result = await links.redeem(` ${formatCode(code).toLowerCase()} `, discord("111111111111111111"));
      expect(result).toMatchObject({ ok: true, canonical: { id: ann.id }, movedJobs: 0 });
      expect((await users.ensure(discord("111111111111111111"))).id).toBe(ann.id);
      expect((await users.ensureOwn(discord("111111111111111111"))).id).toBe(annOnDiscord.id);
      expect((await users.ensure(slack("U1"))).id).toBe(ann.id);

      // Once only.
      expect(await links.redeem(code, discord("222222222222222222"))).toEqual({ ok: false, reason: "unknown" });
    } finally {
      await db.end();
    }
  });

  it("refuses a code typed on its own platform, an expired one, a second link and a chain", async () => {
    const db = await target.open();
    try {
      let clock = Date.now();
      const links = createIdentityLinks(db, () => clock);
      const own = await links.issue(slack("U1"));
      expect(await links.redeem(own.code, slack("U2"))).toEqual({ ok: false, reason: "same_platform" });

      const late = await links.issue(slack("U1"));
      clock += 11 * 60_000;
      expect(await links.redeem(late.code, discord("333333333333333333"))).toEqual({ ok: false, reason: "expired" });
      clock = Date.now();

      // A newer code replaces the older one.
      const first = await links.issue(slack("U1"));
      const second = await links.issue(slack("U1"));
      expect(await links.redeem(first.code, discord("333333333333333333"))).toEqual({ ok: false, reason: "unknown" });
      expect((await links.redeem(second.code, discord("333333333333333333"))).ok).toBe(true);

      // The Discord identity is linked once; a code from another Slack user cannot take it over.
      const bob = await links.issue(slack("U2"));
      expect(await links.redeem(bob.code, discord("333333333333333333"))).toEqual({ ok: false, reason: "already_linked" });
      // U1 already has a link, so U1 cannot become someone else's secondary identity (no chains).
      const fromDiscord = await links.issue(discord("444444444444444444"));
      expect(await links.redeem(fromDiscord.code, slack("U1"))).toEqual({ ok: false, reason: "has_links" });
      // And the database refuses a chain even if code were to try.
      const users = createUsers(db);
      const u1 = await users.ensureOwn(slack("U1"));
      const u2 = await users.ensureOwn(slack("U2"));
      await expect(db.query("INSERT INTO identity_links (user_id, canonical_user_id) VALUES ($1, $2)", [u1.id, u2.id])).rejects.toThrow(/chained/);
      expect(normaliseCode("ab cd-ef gh")).toBe("ABCDEFGH");
    } finally {
      await db.end();
    }
  });
});
