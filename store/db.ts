import pg from "pg";
import { openEmbedded, type EmbeddedServer } from "./embedded.js";

/** The subset of a query result the repositories read. */
export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

/** One connection handed out by `Db.connect()`. */
export interface DbClient {
  query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<QueryResult<R>>;
  /** Runs a multi-statement SQL script (simple query protocol). */
  exec(sql: string): Promise<void>;
  release(): void;
}

/**
 * pg options for a pool on the same database and schema: what the job engine (BullMQ's Postgres
 * backend) is given, so its tables live beside ours.
 */
export type PoolTarget = pg.PoolConfig & { schema: string };

/**
 * The database as the repositories and PostgresSaver see it: always a `pg.Pool`, to Postgres
 * (DATABASE_URL) or to the embedded PGlite served from its own thread. Only unnamed,
 * parameterised statements and plain transactions are used, so it also works through
 * Supabase's transaction pooler.
 */
export interface Db {
  readonly kind: "pglite" | "postgres";
  /** Schema the tables live in; PostgresSaver is told the same one. */
  readonly schema: string;
  /** Embedded only: whether this process runs the database or attached to the process that does. */
  readonly embeddedRole?: EmbeddedServer["role"];
  query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<QueryResult<R>>;
  connect(): Promise<DbClient>;
  /** Runs fn in one transaction on one connection; rolls back when it throws. */
  transaction<T>(fn: (client: DbClient) => Promise<T>): Promise<T>;
  /** What PostgresSaver takes as its pool. */
  readonly pool: pg.Pool;
  /** Connection settings for another pool on this database (the job engine's). */
  target(max: number): PoolTarget;
  end(): Promise<void>;
}

export interface DbOptions {
  /** postgres://… ; when absent, embedded PGlite is used. */
  databaseUrl?: string;
  /** PGlite data directory; `memory://` (or undefined with no URL) keeps it in memory. */
  dataDir?: string;
  /** Postgres schema to use (tests isolate themselves in their own schema). */
  schema?: string;
  /** Embedded: attach to the process that owns dataDir instead of refusing (the CLI). */
  attach?: boolean;
  /** Connection errors, which would otherwise crash the process (idle and checked-out clients). */
  onError?: (err: Error) => void;
  /** Embedded: told when start-up waits for a crashed owner's lock. */
  onWaiting?: (message: string) => void;
  /** Pool size of the app's own queries. */
  max?: number;
}

/** Opens the configured database: Postgres when a URL is given, embedded PGlite otherwise. */
export async function createDb(options: DbOptions): Promise<Db> {
  const max = options.max ?? 10;
  if (options.databaseUrl) {
    const url = options.databaseUrl;
    const schema = options.schema ?? "public";
    // search_path per connection isolates a schema without session-level SET statements.
    const base: pg.PoolConfig = { connectionString: url, ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}) };
    return wrapPool("postgres", schema, new pg.Pool({ ...base, max }), options, {
      target: (n) => ({ connectionString: url, max: n, schema: options.schema ?? "bullmq" }),
    });
  }
  const server = await openEmbedded({ dataDir: options.dataDir, attach: options.attach ?? false, onWaiting: options.onWaiting });
  const base: pg.PoolConfig = { host: server.socketDir, port: server.port, user: "postgres", database: "postgres" };
  return wrapPool("pglite", "public", new pg.Pool({ ...base, max }), options, {
    role: server.role,
    // PGlite is one session: the job engine's tables go to the same schema as ours (no search_path).
    target: (n) => ({ ...base, max: n, schema: "public" }),
    close: () => server.close(),
  });
}

function wrapPool(
  kind: Db["kind"],
  schema: string,
  pool: pg.Pool,
  options: DbOptions,
  extra: { role?: EmbeddedServer["role"]; target: (max: number) => PoolTarget; close?: () => Promise<void> },
): Db {
  const onError = (err: Error) => options.onError?.(err);
  // pg-pool listens for errors on idle clients only; a backend terminated while a client is
  // checked out (57P01) would otherwise be an unhandled 'error' event that kills the process.
  // The query in flight still rejects, so the pass that ran it fails and is retried.
  pool.on("error", onError);
  pool.on("connect", (client) => client.on("error", onError));
  const db: Db = {
    kind,
    schema,
    ...(extra.role ? { embeddedRole: extra.role } : {}),
    pool,
    query: async (text, params) => normalise(await pool.query(text, params as unknown[])),
    connect: async () => wrapClient(await pool.connect()),
    transaction: (fn) => inTransaction(db, fn),
    target: extra.target,
    async end() {
      await pool.end();
      await extra.close?.();
    },
  };
  return db;
}

function wrapClient(client: pg.PoolClient): DbClient {
  let released = false;
  return {
    query: async (text, params) => normalise(await client.query(text, params as unknown[])),
    exec: async (sql) => void (await client.query(sql)),
    release: (err?: Error) => {
      if (!released) (released = true), client.release(err);
    },
  } as DbClient;
}

function normalise<R>(result: { rows: unknown[]; rowCount?: number | null }): QueryResult<R> {
  return { rows: result.rows as R[], rowCount: result.rowCount ?? result.rows.length };
}

async function inTransaction<T>(db: Db, fn: (client: DbClient) => Promise<T>): Promise<T> {
  const client = await db.connect();
  try {
    await client.query("BEGIN");
    const result = await fn(client);
    await client.query("COMMIT");
    return result;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
