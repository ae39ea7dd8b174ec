import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Db } from "../store/db.js";
import { TASK_KINDS, type TaskCounts, type TaskKind } from "../store/tasks.js";
import type { CircuitState } from "../tools/resilience.js";

/**
 * What an operator scrapes from /metrics (Prometheus text format). Two kinds of series:
 * - events counted by this process (provider calls, decisions, task waits): sum them over instances;
 * - the state of the whole deployment read from the database and the job engine at scrape time
 *   (jobs by stage, queue depth, credits, dollars booked): every instance reports the same value,
 *   so aggregate them with max(), not sum().
 */
export interface Metrics {
  registry: Registry;
  providerCall(call: { provider: string; operation: string; outcome: string; seconds: number }): void;
  decision(kind: string, status: string): void;
  taskWaited(kind: string, seconds: number): void;
  /** The body and content type of /metrics. */
  scrape(): Promise<{ contentType: string; body: string }>;
}

const BREAKER_VALUE: Record<CircuitState, number> = { CLOSED: 0, HALF_OPEN: 1, OPEN: 2 };

export function createMetrics(deps: {
  db: Db;
  /** The job engine's task counts by state. */
  queueCounts: (kind: TaskKind) => Promise<TaskCounts>;
  /** The providers with a circuit breaker, and where each stands. */
  breakers: () => Array<{ provider: string; state: CircuitState }>;
}): Metrics {
  const { db } = deps;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "reelbot_" });

  const providerCalls = new Counter({
    name: "reelbot_provider_calls_total", help: "Provider calls made by this process, retries included in one call.",
    labelNames: ["provider", "operation", "outcome"], registers: [registry],
  });
  const providerSeconds = new Histogram({
    name: "reelbot_provider_call_seconds", help: "How long provider calls took, retries and waits included.",
    labelNames: ["provider", "operation", "outcome"], buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300], registers: [registry],
  });
  const decisions = new Counter({
    name: "reelbot_decisions_total", help: "Decisions asked for through this process, by kind and what came of them.",
    labelNames: ["kind", "status"], registers: [registry],
  });
  const taskWait = new Histogram({
    name: "reelbot_queue_wait_seconds", help: "From a task being due to a worker starting it (time in line).",
    labelNames: ["queue"], buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800], registers: [registry],
  });

  new Gauge({
    name: "reelbot_jobs", help: "Jobs by stage (the whole deployment).", labelNames: ["stage"], registers: [registry],
    async collect() {
      const r = await db.query<{ stage: string; n: string }>(`
        SELECT CASE
                 WHEN j.status IN ('flagged', 'failed', 'cancelled') THEN j.status
                 WHEN p.status IN ('completed') THEN 'done'
                 WHEN p.status IN ('failed', 'cancelled') THEN p.status
                 WHEN EXISTS (SELECT 1 FROM scenes s WHERE s.job_id = j.id AND s.status = 'rendering') THEN 'rendering'
                 WHEN EXISTS (SELECT 1 FROM scenes s WHERE s.job_id = j.id AND s.status = 'review') THEN 'review'
                 ELSE 'working'
               END AS stage, count(*) AS n
        FROM vision_jobs j LEFT JOIN vision_job_video_prompts p ON p.job_id = j.id
        WHERE j.deleted_at IS NULL GROUP BY 1`);
      this.reset();
      for (const row of r.rows) this.set({ stage: row.stage }, Number(row.n));
    },
  });
  new Gauge({
    name: "reelbot_review_oldest_seconds", help: "How long the longest-waiting scene has waited for a human's review.",
    registers: [registry],
    async collect() {
      const r = await db.query<{ s: string | null }>(
        "SELECT EXTRACT(EPOCH FROM NOW() - MIN(updated_at)) AS s FROM scenes WHERE status = 'review'",
      );
      this.set(Number(r.rows[0]?.s ?? 0));
    },
  });
  new Gauge({
    name: "reelbot_queue_tasks", help: "Tasks in the job engine by queue and state.", labelNames: ["queue", "state"], registers: [registry],
    async collect() {
      for (const kind of TASK_KINDS) {
        const c = await deps.queueCounts(kind);
        for (const [state, n] of Object.entries(c)) this.set({ queue: kind, state }, n);
      }
    },
  });
  new Gauge({
    name: "reelbot_breaker_state", help: "Circuit breaker per provider: 0 closed, 1 half-open, 2 open.", labelNames: ["provider"],
    registers: [registry],
    collect() {
      for (const { provider, state } of deps.breakers()) this.set({ provider }, BREAKER_VALUE[state]);
    },
  });
  new Gauge({
    name: "reelbot_credits", help: "Credits moved, by reason (reserve, refund, grant): the whole deployment.", labelNames: ["reason"],
    registers: [registry],
    async collect() {
      const r = await db.query<{ reason: string; n: string }>("SELECT reason, SUM(ABS(amount)) AS n FROM credit_ledger GROUP BY reason");
      this.reset();
      for (const row of r.rows) this.set({ reason: row.reason }, Number(row.n));
    },
  });
  new Gauge({
    name: "reelbot_booked_usd", help: "USD booked for provider calls that were not failed, by provider (grows like a counter).",
    labelNames: ["provider"], registers: [registry],
    async collect() {
      const r = await db.query<{ provider: string; usd: string }>(
        "SELECT provider, SUM(cost) AS usd FROM provider_calls WHERE status <> 'failed' GROUP BY provider",
      );
      this.reset();
      for (const row of r.rows) this.set({ provider: row.provider }, Number(row.usd));
    },
  });

  return {
    registry,
    providerCall({ provider, operation, outcome, seconds }) {
      providerCalls.inc({ provider, operation, outcome });
      providerSeconds.observe({ provider, operation, outcome }, seconds);
    },
    decision: (kind, status) => decisions.inc({ kind, status }),
    taskWaited: (kind, seconds) => taskWait.observe({ queue: kind }, seconds),
    async scrape() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
