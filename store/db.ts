import pg from "pg";
import { PGlite } from "@electric-sql/pglite";
import { mkdirSync } from "node:fs";

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
 * The database as the repositories and PostgresSaver see it: a pg.Pool, or embedded PGlite behind
 * the same shape. Only unnamed, parameterised statements and plain transactions are used, so it
 * also works through Supabase's transaction pooler.
 */
export interface Db {
  readonly kind: "pglite" | "postgres";
  /** Schema the tables live in; PostgresSaver is told the same one. */
  readonly schema: string;
  query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<QueryResult<R>>;
  connect(): Promise<DbClient>;
  /** Runs fn in one transaction on one connection; rolls back when it throws. */
  transaction<T>(fn: (client: DbClient) => Promise<T>): Promise<T>;
  /** What PostgresSaver takes as its pool. */
  readonly pool: pg.Pool;
  end(): Promise<void>;
}

export interface DbOptions {
  /** postgres://… ; when absent, embedded PGlite is used. */
  databaseUrl?: string;
  /** PGlite data directory; `memory://` (or undefined with no URL) keeps it in memory. */
  dataDir?: string;
  /** Postgres schema to use (tests isolate themselves in their own schema). */
  schema?: string;
  /** Called for errors on idle pool clients, which would otherwise crash the process. */
  onError?: (err: Error) => void;
}

/** Opens the configured database: Postgres when a URL is given, embedded PGlite otherwise. */
export async function createDb(options: DbOptions): Promise<Db> {
  return options.databaseUrl ? createPostgresDb(options.databaseUrl, options) : createPgliteDb(options.dataDir);
}

function createPostgresDb(url: string, options: DbOptions): Db {
  const pool = new pg.Pool({
    connectionString: url,
    max: 10,
    // search_path per connection isolates a schema without session-level SET statements.
    options: options.schema ? `-c search_path=${options.schema}` : undefined,
  });
  pool.on("error", (err) => options.onError?.(err));
  const db: Db = {
    kind: "postgres",
    schema: options.schema ?? "public",
    pool,
    query: async (text, params) => normalise(await pool.query(text, params as unknown[])),
    connect: async () => wrapPgClient(await pool.connect()),
    transaction: (fn) => inTransaction(db, fn),
    end: () => pool.end(),
  };
  return db;
}

function wrapPgClient(client: pg.PoolClient): DbClient {
  return {
    query: async (text, params) => normalise(await client.query(text, params as unknown[])),
    exec: async (sql) => void (await client.query(sql)),
    release: () => client.release(),
  };
}

function normalise<R>(result: { rows: unknown[]; rowCount?: number | null; affectedRows?: number }): QueryResult<R> {
  return { rows: result.rows as R[], rowCount: result.rowCount ?? result.affectedRows ?? result.rows.length };
}

/**
 * PGlite has a single session, so connect() hands that session to one caller at a time;
 * otherwise two callers' BEGIN/COMMIT would interleave (reference/langgraph.md §5).
 */
async function createPgliteDb(dataDir?: string): Promise<Db> {
  if (dataDir && !dataDir.startsWith("memory://")) mkdirSync(dataDir, { recursive: true });
  const lite = await PGlite.create(dataDir && !dataDir.startsWith("memory://") ? dataDir : undefined);
  let tail: Promise<void> = Promise.resolve();
  const connect = async (): Promise<DbClient> => {
    let release!: () => void;
    const previous = tail;
    tail = new Promise<void>((resolve) => (release = resolve));
    await previous;
    let released = false;
    return {
      query: async (text, params) => normalise(await lite.query(text, params as unknown[])),
      exec: async (sql) => void (await lite.exec(sql)),
      release: () => {
        if (!released) (released = true), release();
      },
    };
  };
  const query = async <R>(text: string, params?: unknown[]) => {
    const client = await connect();
    try {
      return await client.query<R>(text, params);
    } finally {
      client.release();
    }
  };
  const pool = { connect, query, end: () => lite.close(), on: () => pool } as unknown as pg.Pool;
  const db: Db = {
    kind: "pglite",
    schema: "public",
    pool,
    query,
    connect,
    transaction: (fn) => inTransaction(db, fn),
    end: () => lite.close(),
  };
  return db;
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
