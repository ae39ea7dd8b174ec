import { Command, type StateSnapshot } from "@langchain/langgraph";
import type { Logger } from "pino";
import type { ProductionGraph } from "./graph.js";
import { hasUnfinishedWork, pendingInterrupts } from "./interrupts.js";
import { isUserFacing } from "../core/errors.js";
import { ProviderError } from "../tools/provider-errors.js";
import type { GraphContext } from "./context.js";
import type { RenderPolls } from "./pollRender.js";
import type { TaskQueue, TaskRun } from "../store/tasks.js";
import { isTransient } from "../store/transient.js";
import type { Jobs, JobRow } from "../store/jobs.js";
import type { Decisions } from "../store/decisions.js";
import type { AuditLog } from "../store/audit.js";
import type { Credits } from "../store/credits.js";

/** Progress refreshes while a pass runs: often enough for a status line, rarely enough to cost nothing. */
const PROGRESS_INTERVAL_MS = 500;

interface PassDeps {
  graph: ProductionGraph;
  context: GraphContext;
  store: { jobs: Jobs; decisions: Decisions; audit: AuditLog; credits: Credits };
  tasks: TaskQueue;
  logger: Logger;
  snapshotOf: (jobId: string) => Promise<StateSnapshot>;
  polls: RenderPolls;
}

export function isCancelled(job: JobRow): boolean {
  return job.status === "cancelled" || job.production?.status === "cancelled";
}

/** Failed for good: no pass moves it any more (a cancelled one still winds down). */
function hasFailed(job: JobRow): boolean {
  return job.status === "failed" || job.production?.status === "failed";
}

/**
 * One "advance" task: moves a job's graph as far as it can go without a human, then lets chat
 * know. The job engine runs at most one of these per job at a time, and one more after it when
 * anything was asked meanwhile, so this needs no lock: it starts the graph, resumes it with the
 * queued answers (an id map, never a scalar, which would be broadcast to every pending
 * interrupt), or continues a step a dead worker left half done.
 */
export function createPasses(deps: PassDeps) {
  const { graph, context, store, tasks, logger, snapshotOf, polls } = deps;

  const configFor = (jobId: string, signal: AbortSignal) => ({
    configurable: { thread_id: jobId },
    // LangGraph types context as state-shaped; ours is a plain object of ports.
    context: context as unknown as Record<string, unknown>,
    signal,
    // Checkpoints are written while the next step runs. A crash can lose at most the step in
    // flight, which then runs again: its paid calls are memoised in the ledger, so none is repeated.
    durability: "async" as const,
  });

  /** Runs the graph, asking for a chat refresh at most every PROGRESS_INTERVAL_MS as it goes. */
  async function run(jobId: string, input: Parameters<ProductionGraph["stream"]>[0], signal: AbortSignal): Promise<void> {
    const stream = await graph.stream(input, { ...configFor(jobId, signal), streamMode: "updates" });
    let lastAt = 0;
    for await (const _step of stream) {
      if (Date.now() - lastAt < PROGRESS_INTERVAL_MS) continue;
      lastAt = Date.now();
      tasks.add("deliver", jobId).catch((err) => logger.warn({ err, jobId }, "asking for a progress refresh failed"));
    }
  }

  /** One step of the loop: whether the graph moved. */
  async function step(jobId: string, job: JobRow, snapshot: StateSnapshot, signal: AbortSignal): Promise<boolean> {
    if (!(snapshot.values as { jobId?: string } | undefined)?.jobId) {
      await run(jobId, { jobId, kind: job.kind }, signal);
      return true;
    }
    const pending = pendingInterrupts(snapshot);
    const queued = await store.decisions.queued(jobId);
    const live = queued.filter((d) => pending.some((p) => p.id === d.interruptId));
    await store.decisions.mark(queued.filter((d) => !live.includes(d)).map((d) => d.id), "stale");
    // A step that threw after its resume was delivered keeps that resume in the checkpoint. Sending
    // it again would add a second value, and LangGraph matches a task's resume values to its
    // interrupts by position: the next interrupt (a render's) would receive the review's answer.
    const delivered = live.filter((d) => failedTaskOf(snapshot, d.interruptId));
    await store.decisions.mark(delivered.map((d) => d.id), "applied");
    const fresh = live.filter((d) => !delivered.includes(d));
    if (fresh.length > 0) {
      const resume = Object.fromEntries(fresh.map((d) => [d.interruptId, d.value]));
      await run(jobId, new Command({ resume }), signal);
      await store.decisions.mark(fresh.map((d) => d.id), "applied");
      return true;
    }
    if (hasUnfinishedWork(snapshot)) {
      await run(jobId, null, signal);
      return true;
    }
    return false;
  }

  async function advance({ key: jobId, signal, attempt }: TaskRun<unknown>): Promise<void> {
    logger.debug({ attempt }, "pass started");
    try {
      for (;;) {
        const job = await store.jobs.get(jobId);
        if (!job || hasFailed(job)) return;
        if (isCancelled(job)) {
          await windDown(job);
          break;
        }
        const snapshot = await snapshotOf(jobId);
        const moved = await step(jobId, job, snapshot, signal);
        await polls.watch(jobId, pendingInterrupts(moved ? await snapshotOf(jobId) : snapshot));
        if (!moved || signal.aborted) break;
        await tasks.add("deliver", jobId);
      }
    } catch (err) {
      // Stopped on purpose, or the database is away: the engine retries the pass later.
      if (signal.aborted || isTransient(err)) {
        logger.warn({ err: err instanceof Error ? err.message : String(err), stopped: signal.aborted }, "pass interrupted; it will run again");
        throw err;
      }
      await failJob(jobId, err);
    }
    await tasks.add("deliver", jobId);
    logger.debug("pass finished");
  }

  /** A cancelled job: answers nobody applied go stale, provider requests are cancelled, unused credits come back. */
  async function windDown(job: JobRow): Promise<void> {
    const queued = await store.decisions.queued(job.id);
    await store.decisions.mark(queued.map((d) => d.id), "stale");
    await polls.cancelAll(job.id);
    await store.credits.refundUnused(job.id);
  }

  async function failJob(jobId: string, err: unknown): Promise<void> {
    const message = userMessageOf(err) ?? "Something went wrong while producing this job. Nothing more will be charged; try again or start a new job.";
    logger.error({ err, jobId }, "job failed");
    const job = await store.jobs.get(jobId);
    await store.jobs.setStatus(jobId, job?.status === "completed" ? "completed" : "failed", message);
    if (job?.production) await store.jobs.setProductionStatus(jobId, "failed");
    if (job) {
      await polls.cancelAll(jobId);
      await store.credits.refundUnused(jobId);
    }
    await store.audit.record({ userId: job?.userId, action: "job.failed", entityType: "vision_job", entityId: jobId, details: { message } });
  }

  /** Jobs that may need a pass: unfinished ones, and any with answers nobody applied. */
  async function unfinished(): Promise<string[]> {
    await store.decisions.releaseAbandoned();
    return [...new Set([...(await store.jobs.listUnfinished()), ...(await store.decisions.jobsWithQueued())])];
  }

  return { advance, unfinished };
}

/** The sentence an error carries for users (ours, or a provider's), however deep the graph wrapped it. */
function userMessageOf(err: unknown): string | null {
  for (let e: unknown = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if (isUserFacing(e)) return e.userMessage;
    if (e instanceof ProviderError) return e.userMessage;
  }
  return null;
}

/** Whether the interrupt belongs to a task whose last run threw (its resume was delivered then). */
function failedTaskOf(snapshot: StateSnapshot, interruptId: string): boolean {
  return snapshot.tasks.some((t) => t.error !== undefined && t.error !== null && (t.interrupts ?? []).some((i) => i.id === interruptId));
}
