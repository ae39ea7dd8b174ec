import { DelayedError, Queue, Worker, createPostgresBackend, type Job, type JobsOptions } from "bullmq";
import { Redis } from "ioredis";
import type { Logger } from "pino";
import type { PoolTarget } from "./db.js";

/**
 * The job engine: BullMQ, on Redis (REDIS_URL) or on the app's own database through BullMQ's
 * Postgres backend (Postgres, or the embedded PGlite). Why BullMQ, and the measurements behind
 * it: docs/job-engine.md.
 *
 * Three task kinds, each its own queue so each role consumes only its own:
 * - advance: one graph pass of a job, run by workers;
 * - poll:    one status check of a render at its provider, re-run later while it waits;
 * - deliver: one refresh of a job's view in chat, run by the process that holds the chat surfaces.
 *
 * A task is named by a key (the job id, or a render's call key). Runs of one key never overlap,
 * and adds while it runs collapse into exactly one more run after it (BullMQ deduplication with
 * keepLastIfActive): per-job serialisation without a lock of our own. A worker that dies
 * mid-run loses its lock after `lockMs`; BullMQ's stalled check hands the run to a live worker.
 */
export const TASK_KINDS = ["advance", "poll", "deliver"] as const;
export type TaskKind = (typeof TASK_KINDS)[number];
const SLOTS_NAME = "slots-";

export type TaskBackend = { kind: "redis"; url: string } | { kind: "postgres"; target: PoolTarget };

export interface TaskRun<D> {
  key: string;
  data: D;
  /** Aborted when this run must stop: shutdown past its grace period, or its lock was lost. */
  signal: AbortSignal;
  /** Earlier attempts of this run that threw (0 on the first). */
  attempt: number;
}

/** What a handler may answer: nothing (done), or "run me again in N ms" (a render still waiting). */
export type TaskOutcome = void | { againInMs: number };

export type TaskHandler<D> = (run: TaskRun<D>) => Promise<TaskOutcome>;

export interface TaskQueueOptions {
  backend: TaskBackend;
  /** Namespace of the queues (several deployments or test runs on one Redis or schema). */
  prefix: string;
  /** How long a run holds its lock without renewal; a dead worker's run moves on after it. */
  lockMs: number;
  logger: Logger;
  /** Told when a pass or a refresh starts, with how long it waited in line after it was due. */
  onStart?: (kind: TaskKind, waitedMs: number) => void;
}

export interface AddOptions {
  delayMs?: number;
  /** A run of this key already waits for its delay: run it now instead (a webhook said so). */
  now?: boolean;
}

export interface Position {
  /** Runs of this kind waiting before this one. */
  ahead: number;
  /** Rough wait, from recent run times and the workers' slots; null before any run finished. */
  estimateMs: number | null;
}

export interface TaskCounts {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
}

export interface TaskQueue {
  add<D>(kind: TaskKind, key: string, data?: D, options?: AddOptions): Promise<void>;
  /** Starts running `kind` in this process, at most `concurrency` at a time. */
  consume<D>(kind: TaskKind, handler: TaskHandler<D>, concurrency: number): Promise<void>;
  position(kind: TaskKind, key: string): Promise<Position | null>;
  /** Keys of the runs of `kind` waiting for their delay (at most 1,000). */
  delayedKeys(kind: TaskKind): Promise<string[]>;
  counts(kind: TaskKind): Promise<TaskCounts>;
  /** Whether the backend answers and every consumer of this process runs. */
  healthy(): Promise<boolean>;
  /** Stops taking runs; lets the ones in flight finish within graceMs, then hands the rest back. */
  stop(graceMs: number): Promise<void>;
  close(): Promise<void>;
}

/** Retries of a run that threw: quick at first, then once a minute, for as long as it takes. */
const RETRY: Pick<JobsOptions, "attempts" | "backoff"> = { attempts: 1_000_000, backoff: { type: "custom" } };
const backoffStrategy = (attemptsMade: number) => Math.min(60_000, 500 * 2 ** Math.max(0, attemptsMade - 1));

export function createTaskQueue(options: TaskQueueOptions): TaskQueue {
  const { backend, prefix, lockMs, logger, onStart } = options;
  const redis = backend.kind === "redis" ? new Redis(backend.url, { maxRetriesPerRequest: null }) : null;
  redis?.on("error", (err) => logger.warn({ err: err.message }, "job engine connection error"));
  const connection = redis ?? { ...backend.kind === "postgres" ? backend.target : {}, migrate: true };
  const factory = backend.kind === "postgres" ? createPostgresBackend : undefined;
  const queueName = (kind: TaskKind) => `${prefix}-${kind}`;
  const queues = new Map<TaskKind, Queue>();
  const workers = new Map<TaskKind, { worker: Worker; slots: number }>();
  /** The controllers of runs in flight in this process, by BullMQ job id. */
  const running = new Map<string, AbortController>();
  let stopping = false;

  function queueOf(kind: TaskKind): Queue {
    let queue = queues.get(kind);
    if (!queue) {
      const opts = { connection: connection as never, ...(redis ? { prefix } : {}) };
      queue = factory ? new Queue(queueName(kind), opts, factory as never) : new Queue(queueName(kind), opts);
      queue.on("error", (err) => logger.warn({ err: err.message, kind }, "job engine queue error"));
      queues.set(kind, queue);
    }
    return queue;
  }

  async function add<D>(kind: TaskKind, key: string, data?: D, opts: AddOptions = {}): Promise<void> {
    const queue = queueOf(kind);
    await queue.add(kind, { key, data: data ?? null }, {
      ...RETRY,
      deduplication: { id: key, keepLastIfActive: true },
      ...(opts.delayMs ? { delay: opts.delayMs } : {}),
      removeOnComplete: { count: 100 },
      removeOnFail: { count: 1000 },
    });
    if (opts.now) {
      const id = await queue.getDeduplicationJobId(key);
      const job = id ? await queue.getJob(id) : undefined;
      if (job && (await job.getState()) === "delayed") await job.promote().catch(() => undefined);
    }
  }

  async function consume<D>(kind: TaskKind, handler: TaskHandler<D>, concurrency: number): Promise<void> {
    if (workers.has(kind)) throw new Error(`already consuming ${kind}`);
    const processor = async (job: Job<{ key: string; data: D }>, token?: string, signal?: AbortSignal) => {
      const controller = new AbortController();
      signal?.addEventListener("abort", () => controller.abort(signal.reason), { once: true });
      running.set(job.id!, controller);
      // Time in line: first runs only (a retry waited for its back-off, a poll for its interval).
      if (onStart && kind !== "poll" && job.attemptsMade === 0) {
        onStart(kind, Math.max(0, (job.processedOn ?? Date.now()) - job.timestamp - (job.opts.delay ?? 0)));
      }
      try {
        const outcome = await handler({ key: job.data.key, data: job.data.data, signal: controller.signal, attempt: job.attemptsMade });
        if (outcome?.againInMs !== undefined) return await later(job, token, outcome.againInMs);
      } catch (err) {
        // Stopped by a shutdown: hand the run straight back instead of failing it.
        if (stopping && controller.signal.aborted) return await later(job, token, 0);
        throw err;
      } finally {
        running.delete(job.id!);
      }
    };
    const settings = {
      connection: connection as never,
      ...(redis ? { prefix } : {}),
      concurrency,
      // Named by its slots so any process (an ingress estimating a wait) can count the workers' slots.
      name: `${SLOTS_NAME}${concurrency}`,
      lockDuration: lockMs,
      stalledInterval: Math.max(1_000, Math.floor(lockMs / 3)),
      // Runs are idempotent (the ledger makes paid calls exactly-once), so a run whose worker died
      // may be picked up again and again.
      maxStalledCount: 1_000,
      settings: { backoffStrategy },
    };
    const worker = factory
      ? new Worker(queueName(kind), processor, settings, factory as never)
      : new Worker(queueName(kind), processor, settings);
    worker.on("error", (err) => logger.warn({ err: err.message, kind }, "job engine worker error"));
    worker.on("failed", (job, err) => {
      if (job && !(err instanceof DelayedError)) logger.warn({ err: err.message, kind, key: job.data.key, attempt: job.attemptsMade }, "task failed; retried with back-off");
    });
    // A run whose lock could not be renewed may already run elsewhere: stop this one.
    worker.on("lockRenewalFailed", (ids) => {
      for (const id of ids) running.get(id)?.abort(new Error("the task's lock was lost"));
    });
    workers.set(kind, { worker, slots: concurrency });
    await worker.waitUntilReady();
  }

  /** Parks the run for `ms` (same job, same deduplication key) and tells BullMQ it was delayed. */
  async function later(job: Job, token: string | undefined, ms: number): Promise<never> {
    await job.moveToDelayed(Date.now() + ms, token);
    throw new DelayedError();
  }

  async function position(kind: TaskKind, key: string): Promise<Position | null> {
    const queue = queueOf(kind);
    const id = await queue.getDeduplicationJobId(key);
    if (!id) return null;
    const waiting = await queue.getJobs(["waiting"], 0, 999, true);
    const ahead = waiting.findIndex((j) => j.id === id);
    if (ahead < 0) return null;
    const recent = (await queue.getJobs(["completed"], 0, 49)).filter((j) => j.processedOn && j.finishedOn);
    const slots = await slotsOf(kind);
    const meanMs = recent.length ? recent.reduce((sum, j) => sum + (j.finishedOn! - j.processedOn!), 0) / recent.length : null;
    return { ahead, estimateMs: meanMs === null ? null : Math.ceil((ahead + 1) / slots) * meanMs };
  }

  /** Runs of this kind that all live workers take at once (each worker is named by its slots). */
  async function slotsOf(kind: TaskKind): Promise<number> {
    const named = await queueOf(kind).getWorkers().catch(() => []);
    const total = named.reduce((sum, w) => sum + Number(new RegExp(`${SLOTS_NAME}(\\d+)$`).exec(w.rawname ?? "")?.[1] ?? 1), 0);
    return Math.max(1, total || (workers.get(kind)?.slots ?? 1));
  }

  async function delayedKeys(kind: TaskKind): Promise<string[]> {
    return (await queueOf(kind).getJobs(["delayed"], 0, 999)).map((j) => (j.data as { key: string }).key);
  }

  async function counts(kind: TaskKind): Promise<TaskCounts> {
    const c = await queueOf(kind).getJobCounts("waiting", "active", "delayed", "failed", "prioritized");
    return { waiting: (c.waiting ?? 0) + (c.prioritized ?? 0), active: c.active ?? 0, delayed: c.delayed ?? 0, failed: c.failed ?? 0 };
  }

  async function healthy(): Promise<boolean> {
    try {
      await queueOf("advance").getJobCounts("waiting");
      return [...workers.values()].every(({ worker }) => worker.isRunning() && !worker.closing);
    } catch {
      return false;
    }
  }

  async function stop(graceMs: number): Promise<void> {
    stopping = true;
    const closing = Promise.all([...workers.values()].map(({ worker }) => worker.close()));
    const timer = setTimeout(() => {
      for (const controller of running.values()) controller.abort(new Error("shutting down"));
    }, graceMs);
    try {
      await closing;
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    add,
    consume,
    position,
    delayedKeys,
    counts,
    healthy,
    stop,
    async close() {
      if (!stopping) await stop(0);
      await Promise.all([...queues.values()].map((q) => q.close()));
      await redis?.quit().catch(() => undefined);
    },
  };
}
