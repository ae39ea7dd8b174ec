import { readdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";
import { runMigrations } from "bullmq";
import type { Db } from "./db.js";

const MIGRATIONS_DIR = fileURLToPath(new URL("../supabase/migrations/", import.meta.url));

export interface MigrateOptions {
  /** The job engine keeps its queues in this database, in this schema: its tables are created too. */
  queueSchema?: string;
}

/**
 * Applies supabase/migrations in file-name order, each once, each in its own transaction.
 * The LOCK on schema_migrations serialises instances booting together (a transaction-level
 * lock, so it also works through Supabase's transaction pooler). Then creates LangGraph's
 * checkpoint tables and, when the job engine lives here, BullMQ's tables in the same database,
 * and turns row level security on for every one of them (see secureTables).
 * @returns the names of the migrations applied by this call.
 */
export async function migrate(db: Db, options: MigrateOptions = {}): Promise<string[]> {
  await db.query(
    `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ DEFAULT NOW())`,
  );
  const files = (await readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith(".sql")).sort();
  const applied: string[] = [];
  for (const file of files) {
    const sql = await readFile(path.join(MIGRATIONS_DIR, file), "utf8");
    const ran = await db.transaction(async (tx) => {
      await tx.query("LOCK TABLE schema_migrations IN EXCLUSIVE MODE");
      const done = await tx.query("SELECT 1 FROM schema_migrations WHERE name = $1", [file]);
      if (done.rowCount > 0) return false;
      await tx.exec(sql);
      await tx.query("INSERT INTO schema_migrations (name) VALUES ($1)", [file]);
      return true;
    });
    if (ran) applied.push(file);
  }
  await createCheckpointer(db).setup();
  if (options.queueSchema) {
    // BullMQ wants one dedicated session for its lock and transaction, never the pool.
    const client = await db.pool.connect();
    try {
      await runMigrations(client, options.queueSchema, { skipVersionCheck: db.kind === "pglite" });
    } finally {
      client.release();
    }
  }
  await secureTables(db, [...new Set([db.schema, ...(options.queueSchema ? [options.queueSchema] : [])])]);
  return applied;
}

/**
 * Row level security on every table the app creates, LangGraph's checkpoint tables and BullMQ's
 * included. With no policy, RLS denies everything to Supabase's `anon` and `authenticated` roles
 * (which Supabase grants table privileges to by default), while the bot connects as the tables'
 * owner or the service role, which bypass it. Idempotent: only tables still without RLS change.
 */
export async function secureTables(db: Db, schemas: string[]): Promise<string[]> {
  const r = await db.query<{ schemaname: string; tablename: string }>(
    "SELECT schemaname, tablename FROM pg_tables WHERE schemaname = ANY($1::text[]) AND NOT rowsecurity",
    [schemas],
  );
  for (const t of r.rows) await db.query(`ALTER TABLE ${quote(t.schemaname)}.${quote(t.tablename)} ENABLE ROW LEVEL SECURITY`);
  return r.rows.map((t) => `${t.schemaname}.${t.tablename}`);
}

function quote(identifier: string): string {
  return `"${identifier.replace(/"/g, '""')}"`;
}

/** A PostgresSaver on the same database (and schema) as the rest of the store. */
export function createCheckpointer(db: Db): PostgresSaver {
  return new PostgresSaver(db.pool, undefined, { schema: db.schema });
}

