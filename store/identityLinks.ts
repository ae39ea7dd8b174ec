import { createHash, randomInt } from "node:crypto";
import type { Db } from "./db.js";
import type { ChatIdentity, Platform, UserRow, Users } from "./users.js";
import { createUsers } from "./users.js";
import { createAuditLog } from "./audit.js";

/*
 * /link: one person on Slack and Discord. A code made on one platform and typed on the other
 * links the typing identity to the one that made the code (tables identity_links, link_codes).
 * From then on users.ensure() resolves the typing identity to the making one, so a job started on
 * either platform can be decided, and its credits spent, from the other.
 *
 * A code is 8 characters from a 31-letter alphabet without look-alikes (about 2^39 codes), valid
 * for ten minutes and once; only its SHA-256 is stored. Guessing one in ten minutes through a chat
 * command (itself rate-limited by the platforms) is out of reach, so attempts are not counted.
 */

/** Crockford-like: no 0/O, 1/I/L, U. */
const ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ";
const CODE_LENGTH = 8;
export const LINK_CODE_TTL_MS = 10 * 60_000;

export type LinkPlatform = Extract<Platform, "slack" | "discord">;

export type RedeemResult =
  | { ok: true; canonical: UserRow; movedJobs: number }
  | { ok: false; reason: "unknown" | "expired" | "same_platform" | "same_person" | "already_linked" | "has_links" };

const hash = (code: string) => createHash("sha256").update(code).digest("hex");

/** What a person typed, as a code: case, spaces and dashes do not matter. */
export function normaliseCode(typed: string): string {
  return typed.toUpperCase().replace(/[\s-]/g, "");
}

/** ABCD-EFGH: easier to read out and type. */
export function formatCode(code: string): string {
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}

/** `users`: the app's own (runner.users), so an identity first seen through /link gets the configured allowance. */
export function createIdentityLinks(db: Db, now: () => number = Date.now, users: Users = createUsers(db)) {
  const audit = createAuditLog(db);

  /** A new code for this identity (its canonical row); earlier unused codes of the same row stop working. */
  async function issue(identity: ChatIdentity & { platform: LinkPlatform }): Promise<{ code: string; expiresAt: Date; user: UserRow }> {
    const user = await users.ensure(identity);
    let code = "";
    for (let i = 0; i < CODE_LENGTH; i++) code += ALPHABET[randomInt(ALPHABET.length)];
    const expiresAt = new Date(now() + LINK_CODE_TTL_MS);
    await db.transaction(async (tx) => {
      await tx.query("DELETE FROM link_codes WHERE user_id = $1 OR expires_at < $2", [user.id, new Date(now())]);
      await tx.query("INSERT INTO link_codes (code_hash, user_id, platform, expires_at) VALUES ($1, $2, $3, $4)", [hash(code), user.id, identity.platform, expiresAt]);
    });
    return { code, expiresAt, user };
  }

  /**
   * Links the identity typing `typed` to the one that made the code. The code is used up by the
   * attempt, whatever its outcome. Jobs the typing identity started move to the canonical row
   * (so its owner can still decide on them); its own credits stay with its row, unused.
   */
  async function redeem(typed: string, identity: ChatIdentity & { platform: LinkPlatform }): Promise<RedeemResult> {
    const code = normaliseCode(typed);
    if (code.length !== CODE_LENGTH) return { ok: false, reason: "unknown" };
    const own = await users.ensureOwn(identity);
    return db.transaction(async (tx) => {
      const taken = await tx.query<{ user_id: string; platform: string; expires_at: Date }>(
        "DELETE FROM link_codes WHERE code_hash = $1 RETURNING user_id, platform, expires_at", [hash(code)]);
      const grant = taken.rows[0];
      if (!grant) return { ok: false, reason: "unknown" } as const;
      if (new Date(grant.expires_at).getTime() <= now()) return { ok: false, reason: "expired" } as const;
      if (grant.platform === identity.platform) return { ok: false, reason: "same_platform" } as const;
      if (grant.user_id === own.id) return { ok: false, reason: "same_person" } as const;
      const existing = await tx.query<{ canonical_user_id: string }>("SELECT canonical_user_id FROM identity_links WHERE user_id = $1", [own.id]);
      if (existing.rows[0]) {
        return existing.rows[0].canonical_user_id === grant.user_id
          ? { ok: false, reason: "same_person" } as const
          : { ok: false, reason: "already_linked" } as const;
      }
      const dependants = await tx.query("SELECT 1 FROM identity_links WHERE canonical_user_id = $1 LIMIT 1", [own.id]);
      if (dependants.rowCount > 0) return { ok: false, reason: "has_links" } as const;
      await tx.query("INSERT INTO identity_links (user_id, canonical_user_id) VALUES ($1, $2)", [own.id, grant.user_id]);
      const moved = await tx.query("UPDATE vision_jobs SET user_id = $2, updated_at = NOW() WHERE user_id = $1", [own.id, grant.user_id]);
      await audit.record({
        userId: grant.user_id, action: "identity.link", entityType: "user", entityId: own.id,
        details: { platform: identity.platform, madeOn: grant.platform, movedJobs: moved.rowCount },
      }, tx);
      const canonical = await users.get(grant.user_id, tx);
      return canonical ? { ok: true, canonical, movedJobs: moved.rowCount } as const : { ok: false, reason: "unknown" } as const;
    });
  }

  return { issue, redeem };
}

export type IdentityLinks = ReturnType<typeof createIdentityLinks>;
