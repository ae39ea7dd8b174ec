/**
 * Supabase grants its `anon` and `authenticated` roles every privilege on the tables of the schema
 * it exposes. With row level security on and no policy, neither may read, add, change or remove a
 * single row of any table the app creates: ours, LangGraph's checkpoints and BullMQ's queues.
 * Postgres only (roles); CI sets TEST_DATABASE_URL.
 */
import { describe, expect, it } from "vitest";
import pg from "pg";
import { dbTargets } from "./helpers/db.js";
import { brandImage, createPipeline, OWNER, reviewsOpen } from "./helpers/pipeline.js";

const postgres = dbTargets.find((t) => t.name === "postgres");
const ROLES = ["anon", "authenticated"];

describe.skipIf(!postgres)("row level security against Supabase's default grants", () => {
  it("denies anon and authenticated every row of every table, while the bot works as usual", async () => {
    const p = await createPipeline(await postgres!.open(), "postgres");
    try {
      // Real rows everywhere: a job parked at review has users, scenes, versions, checkpoints, queue jobs.
      const { jobId } = await p.runner.start({ actor: OWNER, file: { bytes: await brandImage(31), filename: "brand.png" } });
      await reviewsOpen(p.runner, jobId, 3);
      const schema = p.db.schema;
      const client = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
      await client.connect();
      try {
        for (const role of ROLES) {
          await client.query(`DO $$ BEGIN CREATE ROLE ${role} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
        }
        // What Supabase does for the schemas it exposes (supabase/postgres, migrations/db/init-scripts).
        await client.query(`GRANT USAGE ON SCHEMA ${schema} TO ${ROLES.join(", ")}`);
        await client.query(`GRANT ALL ON ALL TABLES IN SCHEMA ${schema} TO ${ROLES.join(", ")}`);
        await client.query(`GRANT ALL ON ALL SEQUENCES IN SCHEMA ${schema} TO ${ROLES.join(", ")}`);
        const tables = (await client.query<{ tablename: string; rowsecurity: boolean }>(
          "SELECT tablename, rowsecurity FROM pg_tables WHERE schemaname = $1 ORDER BY tablename", [schema],
        )).rows;
        const names = tables.map((t) => t.tablename);
        expect(names).toEqual(expect.arrayContaining(["vision_jobs", "checkpoints", "checkpoint_blobs", "checkpoint_writes", "checkpoint_migrations", "schema_migrations", "job"]));
        expect(tables.filter((t) => !t.rowsecurity).map((t) => t.tablename)).toEqual([]);
        const owned = await client.query(`SELECT count(*)::int AS n FROM ${schema}.checkpoints`);
        expect(owned.rows[0].n).toBeGreaterThan(0);

        for (const role of ROLES) {
          for (const table of names) {
            const qualified = `${schema}."${table}"`;
            const column = (await client.query<{ column_name: string }>(
              "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position LIMIT 1",
              [schema, table],
            )).rows[0].column_name;
            await client.query("BEGIN");
            try {
              await client.query(`SET LOCAL ROLE ${role}`);
              expect((await client.query(`SELECT * FROM ${qualified}`)).rowCount, `${role} reads ${table}`).toBe(0);
              expect((await client.query(`UPDATE ${qualified} SET "${column}" = "${column}"`)).rowCount, `${role} updates ${table}`).toBe(0);
              expect((await client.query(`DELETE FROM ${qualified}`)).rowCount, `${role} deletes ${table}`).toBe(0);
              await client.query("SAVEPOINT insert_attempt");
              const inserted = await client.query(`INSERT INTO ${qualified} DEFAULT VALUES`).then(() => "inserted", (err: { code?: string }) => err.code);
              // 42501: row level security (or privilege) refused it; 23502: a NOT NULL column refused it first.
              expect(["42501", "23502"], `${role} inserts into ${table}`).toContain(inserted);
            } finally {
              await client.query("ROLLBACK");
            }
          }
        }
        // The bot itself (the tables' owner) still reads and writes: the job goes on.
        const still = await client.query(`SELECT count(*)::int AS n FROM ${schema}.scenes WHERE job_id = $1`, [jobId]);
        expect(still.rows[0].n).toBe(3);
      } finally {
        await client.query(`REVOKE ALL ON ALL TABLES IN SCHEMA ${schema} FROM ${ROLES.join(", ")}`).catch(() => undefined);
        await client.query(`REVOKE ALL ON ALL SEQUENCES IN SCHEMA ${schema} FROM ${ROLES.join(", ")}`).catch(() => undefined);
        await client.query(`REVOKE USAGE ON SCHEMA ${schema} FROM ${ROLES.join(", ")}`).catch(() => undefined);
        await client.end();
      }
    } finally {
      await p.close();
    }
  });
});
