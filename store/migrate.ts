import { readdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";
import type { Db } from "./db.js";

const MIGRATIONS_DIR = fileURLToPath(new URL("../supabase/migrations/", import.meta.url));

/**
 * Applies supabase/migrations in file-name order, each once, each in its own transaction.
 * The LOCK on schema_migrations serialises instances booting together (a transaction-level
 * lock, so it also works through Supabase's transaction pooler). Then creates LangGraph's
 * checkpoint tables in the same database.
 * @returns the names of the migrations applied by this call.
 */
export async function migrate(db: Db): Promise<string[]> {
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
  return applied;
}

/** A PostgresSaver on the same database (and schema) as the rest of the store. */
export function createCheckpointer(db: Db): PostgresSaver {
  return new PostgresSaver(db.pool, undefined, { schema: db.schema });
}

