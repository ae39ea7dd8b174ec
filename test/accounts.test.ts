import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { dbTargets } from "./helpers/db.js";
import { createUsers } from "../store/users.js";
import { createAccounts } from "../store/accounts.js";
import { createCredits } from "../store/credits.js";
import { createJobs } from "../store/jobs.js";
import { createScenes } from "../store/scenes.js";
import { createAuditLog } from "../store/audit.js";
import { createIdentityLinks } from "../store/identityLinks.js";
import { loadConfig } from "../bot/config.js";
import { accountLines, parseCreditsText } from "../bot/surfaces/common/accountText.js";

/** Credits a team can run on: the allowance is configuration, balances and spend are readable, grants are audited. */
describe.each(dbTargets)("accounts on $name", (target) => {
  it("gives a new person the configured allowance (NEW_USER_CREDITS), the column default without one", async () => {
    const db = await target.open();
    try {
      const configured = createUsers(db, { newUserCredits: 25 });
      const first = await configured.ensure({ platform: "slack", teamId: "T1", userId: "U-NEW" });
      expect(first.credits_remaining).toBe(25);
      // A second contact keeps the balance; the allowance is given once.
      await db.query("UPDATE users SET credits_remaining = 3 WHERE id = $1", [first.id]);
      expect((await configured.ensure({ platform: "slack", teamId: "T1", userId: "U-NEW", name: "ann" })).credits_remaining).toBe(3);
      expect((await createUsers(db).ensure({ platform: "slack", teamId: "T1", userId: "U-OLD" })).credits_remaining).toBe(10);
      expect((await createUsers(db, { newUserCredits: 0 }).ensure({ platform: "discord", userId: "D-ZERO" })).credits_remaining).toBe(0);
      // Someone first seen through /link gets the same allowance (the links use the app's users).
      const links = createIdentityLinks(db, Date.now, configured);
      expect((await links.issue({ platform: "discord", teamId: "G1", userId: "D-LINK" })).user.credits_remaining).toBe(25);
      expect(loadConfig({ NEW_USER_CREDITS: "40" }).env.NEW_USER_CREDITS).toBe(40);
      expect(loadConfig({}).env.NEW_USER_CREDITS).toBe(10);
      expect(() => loadConfig({ NEW_USER_CREDITS: "-1" })).toThrow(/NEW_USER_CREDITS/);
      expect(() => loadConfig({ ADMIN_IDS: "U123" })).toThrow(/ADMIN_IDS/);
      expect(loadConfig({ ADMIN_IDS: "slack:U123, discord:456" }).env.ADMIN_IDS).toEqual(["slack:U123", "discord:456"]);
    } finally {
      await db.end();
    }
  });

  it("grants once per request key, audited with who, how much and why; refuses silly amounts", async () => {
    const db = await target.open();
    try {
      const users = createUsers(db);
      const accounts = createAccounts(db);
      const admin = await users.ensure({ platform: "slack", teamId: "T1", userId: "U-ADMIN" });
      const ann = await users.ensure({ platform: "slack", teamId: "T1", userId: "U-ANN", name: "ann" });
      const granted = await accounts.grant({ byUserId: admin.id, toUserId: ann.id, amount: 20, reason: "launch week", key: "slack:trigger-1" });
      expect(granted).toEqual({ granted: true, balance: 30 });
      // The same request again (a redelivery) grants nothing more.
      expect(await accounts.grant({ byUserId: admin.id, toUserId: ann.id, amount: 20, key: "slack:trigger-1" })).toEqual({ granted: false, balance: 30 });
      await expect(accounts.grant({ byUserId: admin.id, toUserId: ann.id, amount: 0, key: "k0" })).rejects.toThrow(/from 1 to 10,000/);
      await expect(accounts.grant({ byUserId: admin.id, toUserId: ann.id, amount: 50_000, key: "k1" })).rejects.toThrow(/from 1 to 10,000/);
      await expect(accounts.grant({ byUserId: admin.id, toUserId: randomUUID(), amount: 5, key: "k2" })).rejects.toThrow(/can't find that person/);
      const trail = await createAuditLog(db).list({ action: "credits.grant" });
      expect(trail).toHaveLength(1);
      expect(trail[0]).toMatchObject({ user_id: admin.id, entity_type: "user", entity_id: ann.id, details: { amount: 20, reason: "launch week", balanceAfter: 30 } });
      expect((await accounts.known()).map((u) => u.name)).toContain("ann");
    } finally {
      await db.end();
    }
  });

  it("summarises the balance, the last 30 days' spend and the latest entries with their job and scene", async () => {
    const db = await target.open();
    try {
      const users = createUsers(db);
      const credits = createCredits(db);
      const accounts = createAccounts(db);
      const ann = await users.ensure({ platform: "local", userId: "browser-ann-0000000000000" });
      const jobId = await createJobs(db).insert({
        userId: ann.id, kind: "image", inputKey: "k".repeat(64), filename: "brand.png", mimeType: "image/png", fileSize: 10, fileHash: "h", origin: {},
      });
      const sceneIds = [randomUUID(), randomUUID()];
      await createScenes(db).create(jobId, sceneIds);
      await db.query("INSERT INTO vision_job_video_prompts (job_id, production_engine, status) VALUES ($1, 'LUMA', 'review')", [jobId]);
      await credits.reserve({ userId: ann.id, jobId, sceneId: sceneIds[0], key: "reserve:a", amount: 2 });
      await credits.reserve({ userId: ann.id, jobId, sceneId: sceneIds[1], key: "reserve:b", amount: 3 });
      await credits.refund("reserve:b");
      const summary = await accounts.summary(ann.id);
      expect(summary.balance).toBe(8);
      expect(summary.spent30d).toBe(2);
      expect(summary.recent.map((e) => [e.reason, e.amount, e.sceneIndex, e.filename])).toEqual([
        ["refund", 3, 1, "brand.png"], ["reserve", -3, 1, "brand.png"], ["reserve", -2, 0, "brand.png"],
      ]);
      const lines = accountLines(summary, "You");
      expect(lines[0]).toBe("You have 8 credits. Spent in the last 30 days: 2 credits.");
      expect(lines).toContain(`• +3 · refund for scene 2 of brand.png · ${summary.recent[0].at.toISOString().slice(0, 16).replace("T", " ")} UTC`);
      expect(lines.some((l) => l.startsWith("• −2 · approved scene 1 of brand.png"))).toBe(true);
    } finally {
      await db.end();
    }
  });
});

describe("/credits text on Slack", () => {
  it("reads show, show someone, and grant with an escaped mention", () => {
    expect(parseCreditsText("")).toEqual({ kind: "show" });
    expect(parseCreditsText("<@U0ANN|ann>")).toEqual({ kind: "show_other", userId: "U0ANN" });
    expect(parseCreditsText("grant <@U0ANN|ann> 20 launch week")).toEqual({ kind: "grant", userId: "U0ANN", amount: 20, reason: "launch week" });
    expect(parseCreditsText("grant <@U0ANN> +5")).toEqual({ kind: "grant", userId: "U0ANN", amount: 5 });
    expect(parseCreditsText("grant @ann 5")).toEqual({ kind: "usage" });
    expect(parseCreditsText("lots please")).toEqual({ kind: "usage" });
  });
});
