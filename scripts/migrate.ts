/**
 * npm run migrate: brings DATABASE_URL (or the embedded database under DATA_DIR) to the current
 * schema the way start-up does: supabase/migrations in order, LangGraph's checkpoint tables, the
 * job engine's tables (unless REDIS_URL holds the queues), and row level security on all of them.
 * Run it in a deploy step before starting several processes at once.
 */
import { loadConfig } from "../bot/config.js";
import { queueSchemaOf } from "../bot/app.js";
import { createDb } from "../store/db.js";
import { migrate } from "../store/migrate.js";

try {
  const config = loadConfig();
  const db = await createDb({ databaseUrl: config.env.DATABASE_URL, schema: config.env.DATABASE_SCHEMA, dataDir: config.dataDir });
  try {
    const applied = await migrate(db, { queueSchema: queueSchemaOf(config, db) });
    const where = config.env.DATABASE_URL ? new URL(config.env.DATABASE_URL).host : config.dataDir;
    process.stdout.write(applied.length ? `Applied ${applied.length} migration(s) to ${where}: ${applied.join(", ")}\n` : `${where} is up to date.\n`);
  } finally {
    await db.end();
  }
} catch (err) {
  process.stderr.write(`Migration failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
