import { randomBytes } from "node:crypto";
import pg from "pg";
import { createDb, type Db } from "../../store/db.js";
import { migrate } from "../../store/migrate.js";

/**
 * The databases every store test runs against: embedded PGlite always, real Postgres too when
 * TEST_DATABASE_URL is set. Use with `describe.each(dbTargets)("$name", (target) => …)`.
 * Each open() returns a migrated, empty database; for Postgres that is a fresh schema, dropped
 * again by the returned Db's end(), so test files can run in parallel on one server.
 */
export interface DbTarget {
  name: "pglite" | "postgres";
  open(): Promise<Db>;
}

const databaseUrl = process.env.TEST_DATABASE_URL;

export const dbTargets: DbTarget[] = [
  { name: "pglite", open: () => migrated(createDb({ dataDir: "memory://" })) },
  ...(databaseUrl ? [{ name: "postgres" as const, open: () => openPostgres(databaseUrl) }] : []),
];

async function openPostgres(url: string): Promise<Db> {
  const schema = `test_${Date.now().toString(36)}_${randomBytes(4).toString("hex")}`;
  await admin(url, `CREATE SCHEMA ${schema}`);
  const db = await createDb({ databaseUrl: url, schema });
  const end = async () => {
    await db.end();
    await admin(url, `DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  };
  return migrated(Promise.resolve({ ...db, end }));
}

async function migrated(opening: Promise<Db>): Promise<Db> {
  const db = await opening;
  try {
    await migrate(db, { queueSchema: db.target(1).schema });
    return db;
  } catch (err) {
    await db.end().catch(() => undefined);
    throw err;
  }
}

/** One statement as the database's administrator, on its own short-lived connection (a Db's pool is scoped to its schema). */
export async function admin(url: string, sql: string, params?: unknown[]): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql, params);
  } finally {
    await client.end();
  }
}
