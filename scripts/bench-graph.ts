/**
 * npm run bench:graph — the production graph's own cost, measured with fixed-latency tools:
 *  1. overhead = wall time of one job ÷ its critical-path provider latency (target ≤ 1.10);
 *  2. checkpoint bytes written per job (PostgresSaver tables);
 *  3. peak RSS with N jobs parked at review (default 1000): state lives in the database;
 *  4. the song's final render against a bare `ffmpeg -c copy` concat of the same clips (target ≤ 1.5×).
 * BENCH_DATABASE_URL points it at Postgres; embedded PGlite otherwise.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { createDb, type Db } from "../store/db.js";
import { createCheckpointer, migrate } from "../store/migrate.js";
import { createLocalBlobs } from "../store/blobs.js";
import { createTaskQueue } from "../store/tasks.js";
import { createRunner } from "../graph/runner.js";
import { DEFAULT_SONG_SETTINGS } from "../graph/context.js";
import { createFixedLatencyTools, criticalPath, type Latencies } from "./bench/fixed-latency-tools.js";
import type { Actor } from "../graph/actor.js";
import sharp from "sharp";
import { benchSongRender } from "./bench/song-render.js";

const LAT: Latencies = { analysis: 400, style: 400, script: 400, preview: 400, submit: 50, render: 1000, assemble: 200 };
const PARKED = Number(process.env.BENCH_PARKED ?? 1000);
const url = process.env.BENCH_DATABASE_URL;

async function freshDb(): Promise<Db> {
  if (!url) return createDb({ dataDir: "memory://" });
  const schema = `bench_${Date.now().toString(36)}`;
  const admin = await createDb({ databaseUrl: url });
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const db = await createDb({ databaseUrl: url, schema });
  return { ...db, end: async () => { await db.end(); const a = await createDb({ databaseUrl: url }); await a.query(`DROP SCHEMA ${schema} CASCADE`); await a.end(); } };
}

async function setup(latencies: Latencies) {
  const db = await freshDb();
  await migrate(db);
  const blobs = createLocalBlobs(mkdtempSync(path.join(tmpdir(), "bench-blobs-")));
  const tools = await createFixedLatencyTools(blobs, latencies);
  const logger = pino({ level: "silent" });
  const tasks = createTaskQueue({ backend: { kind: "postgres", target: db.target(2) }, prefix: "bench", lockMs: 15_000, logger });
  const runner = createRunner({
    db, tools, logger, tasks, checkpointer: createCheckpointer(db),
    settings: { sceneCount: 3, integrityThreshold: 0.4, styleStrength: 0.4, prices: {}, clipCredits: { KLING: 0, LUMA: 0, GEMINI_PRO: 0 }, song: DEFAULT_SONG_SETTINGS },
    render: { intervalMs: 20, firstPollMs: 0 },
  });
  await runner.serve({ work: { passes: 16, polls: 16 }, deliver: true });
  return { db, runner };
}

const image = await sharp({ create: { width: 640, height: 480, channels: 3, background: "#aa3355" } }).png().toBuffer();
const actor = (i: number): Actor => ({ platform: "cli", userId: `bench-${i}` });

// 1 + 2: one job, auto-approved the moment its reviews open.
{
  const { db, runner } = await setup(LAT);
  const runs: number[] = [];
  let bytes = 0;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const done = new Promise<string>((resolve) => {
      const off = runner.on((e) => {
        if (e.type === "status" && e.view.scenes.length > 0 && e.view.scenes.every((s) => s.awaiting === "review")) {
          void runner.approveAll(e.view.jobId, actor(i));
        }
        if (e.type === "final") (off(), resolve(e.view.jobId));
      });
    });
    await runner.start({ actor: actor(i), file: { bytes: image, filename: "bench.png" } });
    const jobId = await done;
    runs.push(performance.now() - t0);
    const r = await db.query<{ b: string }>(
      `SELECT (SELECT COALESCE(SUM(octet_length(checkpoint::text) + octet_length(metadata::text)), 0) FROM checkpoints WHERE thread_id = $1)
            + (SELECT COALESCE(SUM(octet_length(blob)), 0) FROM checkpoint_blobs WHERE thread_id = $1)
            + (SELECT COALESCE(SUM(octet_length(blob)), 0) FROM checkpoint_writes WHERE thread_id = $1) AS b`,
      [jobId],
    );
    bytes = Number(r.rows[0].b);
  }
  const wall = Math.min(...runs);
  console.log(`database: ${url ? "postgres" : "pglite (embedded)"}`);
  console.log(`one job, 3 scenes, auto-approved: wall ${wall.toFixed(0)} ms (best of ${runs.length}), critical path ${criticalPath(LAT)} ms`);
  console.log(`overhead = ${(wall / criticalPath(LAT)).toFixed(3)} (target ≤ 1.10)`);
  console.log(`checkpoint bytes written per job: ${(bytes / 1024).toFixed(1)} KiB`);
  await runner.close();
  await db.end();
}

// 3: many jobs parked at review, with instant tools.
{
  const zero: Latencies = { analysis: 0, style: 0, script: 0, preview: 0, submit: 0, render: 0, assemble: 0 };
  const { db, runner } = await setup(zero);
  let peak = 0;
  const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  const parkedAt: Record<number, number> = {};
  const t0 = performance.now();
  for (let i = 0; i < PARKED; i += 25) {
    await Promise.all(Array.from({ length: Math.min(25, PARKED - i) }, (_, k) =>
      runner.start({ actor: actor(10_000 + i + k), file: { bytes: image, filename: "p.png" } })));
    await runner.idle();
    const n = i + 25;
    if (n === 100 || n >= PARKED) {
      global.gc?.();
      parkedAt[Math.min(n, PARKED)] = process.memoryUsage().rss;
    }
  }
  clearInterval(sample);
  const mb = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MiB`;
  console.log(`${PARKED} jobs parked at review in ${((performance.now() - t0) / 1000).toFixed(1)} s:`);
  for (const [n, rss] of Object.entries(parkedAt)) console.log(`  RSS with ${n} parked: ${mb(rss)}`);
  console.log(`  peak RSS: ${mb(peak)}`);
  await runner.close();
  await db.end();
}

// 4: the song's final render (cut, concatenate, mux the MP3) against a bare stream-copy concat.
{
  const r = await benchSongRender();
  console.log(
    `song final render, ${r.shots} shots × ${r.shotS} s (mode ${r.mode}): ${r.oursMs.toFixed(0)} ms vs bare ffmpeg -c copy concat ` +
      `${r.bareMs.toFixed(0)} ms → ${(r.oursMs / r.bareMs).toFixed(2)}× (target ≤ 1.5×)`,
  );
}
