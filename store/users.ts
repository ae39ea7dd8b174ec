import type { Db, DbClient } from "./db.js";
import { UserFacingError } from "../core/errors.js";

/*
 * Chat identities. A user is (platform, team, platform user id); the row is created the first
 * time someone talks to the bot and reused afterwards. Soft-deleted users (deleted_at set) are
 * never returned and cannot come back by talking to the bot.
 */

export type Platform = "slack" | "discord" | "local" | "cli";

export interface ChatIdentity {
  platform: Platform;
  /** Slack workspace / Discord guild; empty for platforms without one. */
  teamId?: string;
  userId: string;
  /** Display name; when omitted the stored one is kept. */
  name?: string;
}

export interface UserRow {
  id: string;
  platform: Platform;
  platform_team_id: string;
  platform_user_id: string;
  email: string | null;
  name: string | null;
  avatar_url: string | null;
  plan: string;
  credits_remaining: number;
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
}

export interface Users {
  /**
   * The user acting: created on first contact, name refreshed otherwise; throws FORBIDDEN if
   * deleted. An identity linked to another (/link, store/identityLinks.ts) yields that one's row,
   * so jobs, decisions and credits are one person's on every platform.
   */
  ensure(identity: ChatIdentity, client?: DbClient): Promise<UserRow>;
  /** The identity's own row, ignoring links (what /link connects). */
  ensureOwn(identity: ChatIdentity, client?: DbClient): Promise<UserRow>;
  /** The user, or null when unknown or deleted. */
  get(id: string, client?: DbClient): Promise<UserRow | null>;
}

const PLATFORMS: readonly Platform[] = ["slack", "discord", "local", "cli"];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface UsersOptions {
  /**
   * Credits a new user starts with (NEW_USER_CREDITS). Unset: the column's default, the spec's 10.
   * Set where the row is created, in the same statement, so no user ever exists without them.
   */
  newUserCredits?: number;
}

export function createUsers(db: Db, options: UsersOptions = {}): Users {
  const allowance = options.newUserCredits;
  if (allowance !== undefined && (!Number.isInteger(allowance) || allowance < 0)) throw new Error(`newUserCredits must be a whole number ≥ 0, got ${allowance}`);
  const users: Users = {
    async ensure(identity, client) {
      const own = await upsert(identity, client);
      if (!own.linked_to) return strip(own);
      // A canonical row soft-deleted since the link: the identity's own row acts alone again.
      return (await users.get(own.linked_to, client)) ?? strip(own);
    },

    async ensureOwn(identity, client) {
      return strip(await upsert(identity, client));
    },

    async get(id, client) {
      if (!UUID.test(id)) return null; // Postgres would raise on a malformed uuid
      const { rows } = await (client ?? db).query<UserRow>(
        `SELECT * FROM users WHERE id = $1 AND deleted_at IS NULL`,
        [id],
      );
      return rows[0] ?? null;
    },
  };
  return users;

  /** The identity's own row, and the row it is linked to, if any (one statement). */
  async function upsert(identity: ChatIdentity, client?: DbClient): Promise<UserRow & { linked_to: string | null }> {
    const { platform, teamId = "", userId } = identity;
    // Ids come from the platform SDK, so a bad one is a bug in the caller, not user input.
    if (!PLATFORMS.includes(platform)) throw new Error(`unknown platform: ${platform}`);
    if (userId.length === 0 || userId.length > 64 || teamId.length > 64) {
      throw new Error("platform user id must be 1–64 chars and team id at most 64");
    }
    // Display names are user-controlled: no control characters, and at most the column's size.
    const name = identity.name?.replace(/[\x00-\x1F\x7F-\x9F]/g, "").trim().slice(0, 255) || null;
    // One statement, so concurrent first messages from the same person create one row. The
    // no-op update on conflict makes RETURNING yield the existing row; a deleted row is not
    // updated, so it yields nothing.
    const { rows } = await (client ?? db).query<UserRow & { linked_to: string | null }>(
      `WITH me AS (
         INSERT INTO users (platform, platform_team_id, platform_user_id, name${allowance === undefined ? "" : ", credits_remaining"})
         VALUES ($1, $2, $3, $4${allowance === undefined ? "" : ", $5"})
         ON CONFLICT (platform, platform_team_id, platform_user_id) DO UPDATE
           SET name = COALESCE(EXCLUDED.name, users.name),
               updated_at = CASE WHEN EXCLUDED.name IS DISTINCT FROM users.name AND EXCLUDED.name IS NOT NULL
                                 THEN NOW() ELSE users.updated_at END
           WHERE users.deleted_at IS NULL
         RETURNING *)
       SELECT me.*, l.canonical_user_id AS linked_to FROM me LEFT JOIN identity_links l ON l.user_id = me.id`,
      allowance === undefined ? [platform, teamId, userId, name] : [platform, teamId, userId, name, allowance],
    );
    const row = rows[0];
    if (!row) {
      throw new UserFacingError(
        "FORBIDDEN",
        "This account has been deleted, so I can't make videos for it. Ask your workspace admin if that's a mistake.",
      );
    }
    return row;
  }
}

function strip(row: UserRow & { linked_to?: string | null }): UserRow {
  const { linked_to: _linked, ...own } = row;
  return own;
}
