import type { Db, DbClient } from "./db.js";

/*
 * The audit trail: who did what to which entity. audit_logs is append-only in the database
 * itself (a trigger refuses UPDATE and DELETE), so this module only inserts and reads.
 *
 * Never put secrets in `details`. As a backstop, record() drops every key that looks like one
 * (token, secret, password, authorization, api key, cookie, credential, private key — matched
 * case- and separator-insensitively, at any depth) and redacts string values that carry HTTP
 * credentials ("Bearer …", "Basic …"). The audit log outlives every rotation of a key, so a
 * leaked one there stays leaked; losing a harmless field such as `invariant_token` is the price.
 */

export interface AuditEntry {
  userId?: string | null;
  /** Verb, e.g. "upload.accepted", "scene.approved". */
  action: string;
  /** Noun, e.g. "vision_job", "scene". */
  entityType: string;
  entityId?: string | null;
  details?: Record<string, unknown> | null;
  ipAddress?: string | null;
  userAgent?: string | null;
}

export interface AuditLogRow {
  id: string;
  user_id: string | null;
  action: string;
  entity_type: string;
  entity_id: string | null;
  details: Record<string, unknown> | null;
  ip_address: string | null;
  user_agent: string | null;
  created_at: Date;
}

export interface AuditFilter {
  entityType?: string;
  entityId?: string;
  userId?: string;
  action?: string;
  /** Most recent rows returned; default 1000. */
  limit?: number;
}

export interface AuditLog {
  /** Appends one entry; pass `client` to write it inside the caller's transaction. */
  record(entry: AuditEntry, client?: DbClient): Promise<AuditLogRow>;
  /** Entries matching every given field, oldest first. For tests and operations. */
  list(filter?: AuditFilter): Promise<AuditLogRow[]>;
}

const SECRET_KEY = /token$|secret|passw(or)?d|authori[sz]ation|apikey|cookie|credential|privatekey/;
const CREDENTIAL_VALUE = /^\s*(bearer|basic)\s+\S/i;
const MAX_DEPTH = 20;

export function createAuditLog(db: Db): AuditLog {
  return {
    async record(entry, client) {
      const runner = client ?? db;
      const { rows } = await runner.query<AuditLogRow>(
        // clock_timestamp(), not the NOW() default: entries written in one transaction keep their order.
        `INSERT INTO audit_logs (user_id, action, entity_type, entity_id, details, ip_address, user_agent, created_at)
         VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, clock_timestamp())
         RETURNING *`,
        [
          entry.userId ?? null,
          entry.action,
          entry.entityType,
          entry.entityId ?? null,
          entry.details == null ? null : JSON.stringify(scrubSecrets(entry.details)),
          entry.ipAddress?.slice(0, 45) ?? null,
          // Client-supplied: capped so a hostile header cannot bloat the table.
          entry.userAgent?.slice(0, 512) ?? null,
        ],
      );
      return rows[0]!;
    },

    async list(filter = {}) {
      const columns: Array<[string, string | undefined]> = [
        ["entity_type", filter.entityType],
        ["entity_id", filter.entityId],
        ["user_id", filter.userId],
        ["action", filter.action],
      ];
      const params: unknown[] = [];
      const where = columns
        .filter(([, value]) => value !== undefined)
        .map(([column, value]) => (params.push(value), `${column} = $${params.length}`));
      params.push(filter.limit ?? 1000);
      const { rows } = await db.query<AuditLogRow>(
        `SELECT * FROM (
           SELECT * FROM audit_logs ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
           ORDER BY created_at DESC, id DESC LIMIT $${params.length}
         ) recent ORDER BY created_at, id`,
        params,
      );
      return rows;
    },
  };
}

/** A JSON-safe copy of `value` without secret-looking keys or credential strings. */
export function scrubSecrets(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (typeof value === "string") return CREDENTIAL_VALUE.test(value) ? "[redacted]" : value;
  if (typeof value === "bigint") return value.toString();
  if (value === null || typeof value !== "object") {
    return typeof value === "function" || typeof value === "symbol" ? undefined : value;
  }
  if (depth >= MAX_DEPTH) return "[too deep]";
  if (seen.has(value)) return "[circular]";
  seen.add(value);
  try {
    const json = (value as { toJSON?: () => unknown }).toJSON;
    if (typeof json === "function") return scrubSecrets(json.call(value), depth + 1, seen);
    if (Array.isArray(value)) return value.map((item) => scrubSecrets(item, depth + 1, seen) ?? null);
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      if (SECRET_KEY.test(key.toLowerCase().replace(/[^a-z]/g, ""))) continue;
      const clean = scrubSecrets(item, depth + 1, seen);
      if (clean !== undefined) out[key] = clean;
    }
    return out;
  } finally {
    seen.delete(value); // the same object twice (not a cycle) is fine
  }
}
