// One adapter per engine, modelled on how the product would use it:
// task "advance job X" = per-key serialised + coalesced, bounded concurrency per process,
// delayed adds, fast recovery after SIGKILL. Each adapter exposes
//   producer(): { add(key, data, { delayMs }) -> truthy if enqueued, close() }
//   worker({ concurrency, handler }): { close() }   handler(data, meta) -> Promise
import { Queue, Worker, createPostgresBackend } from 'bullmq';
import IORedis from 'ioredis';
import PgBoss from 'pg-boss';
import { run, makeWorkerUtils, Logger } from 'graphile-worker';
import pg from 'pg';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PG_DIRECT = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const PG_BOUNCER = process.env.PGBOUNCER_URL ?? 'postgres://postgres@127.0.0.1:6543/test';
export const pgUrl = () => (process.env.VIA_PGBOUNCER === '1' ? PG_BOUNCER : PG_DIRECT);

// Recovery knobs (seconds unless noted), shared by all scripts so the figures are reproducible.
export const KNOBS = {
  bullmq: { lockDuration: 4000, stalledInterval: 1000, maxStalledCount: 5 },
  // expireInSeconds must exceed the longest legitimate run (a 10 s task here) or the task is failed
  // and retried while still running; see longrun in bench.mjs.
  pgboss: { expireInSeconds: Number(process.env.PGBOSS_EXPIRE ?? 15), maintenanceIntervalSeconds: 1, pollingIntervalSeconds: 0.5, retryLimit: 5 },
  // graphile-worker OSS: a crashed worker's locks are cleared after 4 hours. HEARTBEAT=1 adds a
  // ~30-line home-made liveness table + forceUnlockWorkers sweep (what Worker Pro does for you).
  graphile: { pollInterval: 2000, heartbeatMs: 1000, deadAfterMs: 3000 },
};

const QUEUE = 'advance';

// ---------------------------------------------------------------- BullMQ
const bullmq = {
  addTo(queue, key, data, { delayMs = 0 } = {}) {
    return queue.add(QUEUE, data, {
      deduplication: { id: key, keepLastIfActive: true, reschedule: true },
      delay: delayMs || undefined,
      removeOnComplete: true,
      removeOnFail: 1000,
      attempts: 5,
    });
  },
  async reset() {
    const r = new IORedis(REDIS_URL);
    const keys = await r.keys(`bull:${QUEUE}:*`);
    if (keys.length) await r.del(...keys);
    await r.quit();
  },
  async producer() {
    const connection = new IORedis(REDIS_URL, { maxRetriesPerRequest: null });
    const queue = new Queue(QUEUE, { connection });
    return {
      add: (key, data, opts) => bullmq.addTo(queue, key, data, opts),
      async close() { await queue.close(); await connection.quit(); },
    };
  },
  async worker({ concurrency, handler }) {
    const connection = new IORedis(REDIS_URL, { maxRetriesPerRequest: null });
    const w = new Worker(QUEUE, async (job) => handler(job.data, { id: job.id, attempt: job.attemptsStarted }), {
      connection, concurrency, ...KNOBS.bullmq,
    });
    w.on('error', (e) => console.error('bullmq worker error', e.message));
    await w.waitUntilReady();
    return { async close() { await w.close(); await connection.quit(); } };
  },
};

// ---------------------------------------------------------------- BullMQ 6.7 Postgres backend
// Same API and options as above, tables in schema bullmq_spike instead of Redis (not one of the three
// candidates in the brief; measured because the repo's store/tasks.ts already uses it without REDIS_URL).
const bmqPgConn = (max) => ({ connectionString: pgUrl(), max, schema: 'bullmq_spike', migrate: true });
const bullmqpg = {
  async reset() {
    const c = new pg.Client({ connectionString: PG_DIRECT });
    await c.connect();
    await c.query('drop schema if exists bullmq_spike cascade');
    await c.end();
    const q = new Queue(QUEUE, { connection: bmqPgConn(2) }, createPostgresBackend);
    await q.waitUntilReady();
    await q.close();
  },
  async producer() {
    const queue = new Queue(QUEUE, { connection: bmqPgConn(4) }, createPostgresBackend);
    return {
      add: (key, data, opts) => bullmq.addTo(queue, key, data, opts),
      async close() { await queue.close(); },
    };
  },
  async worker({ concurrency, handler }) {
    const w = new Worker(QUEUE, async (job) => handler(job.data, { id: job.id, attempt: job.attemptsStarted }), {
      connection: bmqPgConn(concurrency + 2), concurrency, ...KNOBS.bullmq,
    }, createPostgresBackend);
    w.on('error', (e) => console.error('bullmq-pg worker error', e.message));
    await w.waitUntilReady();
    return { async close() { await w.close(); } };
  },
};

// ---------------------------------------------------------------- pg-boss 10
async function newBoss(extra = {}) {
  const boss = new PgBoss({
    connectionString: pgUrl(), schema: 'pgboss', max: 6,
    maintenanceIntervalSeconds: KNOBS.pgboss.maintenanceIntervalSeconds,
    monitorStateIntervalSeconds: 60, ...extra,
  });
  boss.on('error', (e) => console.error('pg-boss error', e.message));
  await boss.start();
  return boss;
}
const pgboss = {
  async reset() {
    const c = new pg.Client({ connectionString: PG_DIRECT });
    await c.connect();
    await c.query('drop schema if exists pgboss cascade');
    await c.end();
    const boss = await newBoss();
    await boss.createQueue(QUEUE, {
      policy: 'stately', expireInSeconds: KNOBS.pgboss.expireInSeconds, retryLimit: KNOBS.pgboss.retryLimit, retryDelay: 0,
    });
    await boss.stop({ graceful: false, wait: true });
  },
  async producer() {
    const boss = await newBoss({ supervise: false, schedule: false });
    return {
      async add(key, data, { delayMs = 0 } = {}) {
        // send() resolves null when the stately policy drops the add (a job for the key is already queued)
        return boss.send(QUEUE, data, { singletonKey: key, startAfter: delayMs ? Math.ceil(delayMs / 1000) : undefined });
      },
      async close() { await boss.stop({ graceful: false, wait: true }); },
    };
  },
  async worker({ concurrency, handler }) {
    const boss = await newBoss();
    // pg-boss 10 has no per-process concurrency option: one work() loop = one job at a time.
    for (let i = 0; i < concurrency; i++) {
      await boss.work(QUEUE, { batchSize: 1, pollingIntervalSeconds: KNOBS.pgboss.pollingIntervalSeconds },
        async ([job]) => handler(job.data, { id: job.id }));
    }
    return { async close() { await boss.stop({ graceful: false, wait: true }); } };
  },
};

// ---------------------------------------------------------------- graphile-worker 0.17
// GW_PREPARED=1 keeps graphile-worker's named prepared statements on through pgbouncer (to show what breaks)
const viaBouncer = () => process.env.VIA_PGBOUNCER === '1' && process.env.GW_PREPARED !== '1';
const graphile = {
  async reset() {
    const c = new pg.Client({ connectionString: PG_DIRECT });
    await c.connect();
    await c.query('drop schema if exists graphile_worker cascade');
    await c.query('create table if not exists spike_gw_heartbeat (locked_by text primary key, seen_at timestamptz not null)');
    await c.query('truncate spike_gw_heartbeat');
    await c.end();
    const u = await makeWorkerUtils({ connectionString: pgUrl(), noPreparedStatements: viaBouncer() });
    await u.migrate();
    await u.release();
  },
  async producer() {
    const u = await makeWorkerUtils({ connectionString: pgUrl(), noPreparedStatements: viaBouncer() });
    return {
      async add(key, data, { delayMs = 0 } = {}) {
        return u.addJob(QUEUE, data, {
          queueName: key, jobKey: key, maxAttempts: 5,
          runAt: delayMs ? new Date(Date.now() + delayMs) : undefined,
        });
      },
      async close() { await u.release(); },
    };
  },
  async worker({ concurrency, handler }) {
    const seen = new Set();
    const runner = await run({
      connectionString: pgUrl(),
      concurrency,
      pollInterval: KNOBS.graphile.pollInterval,
      noHandleSignals: true,
      noPreparedStatements: viaBouncer(),
      logger: quietLogger(),
      taskList: {
        [QUEUE]: async (payload, helpers) => {
          seen.add(helpers.job.locked_by);
          return handler(payload, { id: helpers.job.id, attempt: helpers.job.attempts });
        },
      },
    });
    let timer;
    if (process.env.HEARTBEAT === '1') {
      // Home-made liveness: each process stamps the lock ids it uses; any process force-unlocks ids
      // whose stamp is older than deadAfterMs. This is the piece graphile-worker OSS does not ship.
      const pool = new pg.Pool({ connectionString: pgUrl(), max: 1 });
      const { heartbeatMs, deadAfterMs } = KNOBS.graphile;
      timer = setInterval(async () => {
        try {
          for (const id of seen) {
            await pool.query('insert into spike_gw_heartbeat values ($1, now()) on conflict (locked_by) do update set seen_at = now()', [id]);
          }
          const { rows } = await pool.query(
            `delete from spike_gw_heartbeat where seen_at < now() - $1::int * interval '1 millisecond' returning locked_by`, [deadAfterMs]);
          if (rows.length) {
            await pool.query('select graphile_worker.force_unlock_workers($1::text[])', [rows.map((r) => r.locked_by)]);
          }
        } catch (e) { console.error('heartbeat', e.message); }
      }, heartbeatMs);
      timer.pool = pool;
    }
    return {
      async close() {
        if (timer) { clearInterval(timer); await timer.pool.end(); }
        await runner.stop();
      },
    };
  },
};

function quietLogger() {
  // graphile-worker logs every job at info; keep warnings and errors only.
  return new Logger(() => (level, message) => {
    if (level === 'error' || level === 'warning') console.error(`[gw ${level}] ${message}`);
  });
}

export const ENGINES = { bullmq, bullmqpg, pgboss, graphile };
