import { randomUUID } from "node:crypto";
import { Command, type BaseCheckpointSaver } from "@langchain/langgraph";
import type { Logger } from "pino";
import { createProductionGraph } from "./graph.js";
import { hasUnfinishedWork, pendingInterrupts } from "./interrupts.js";
import { createJobViews } from "./jobView.js";
import { createRenderWatcher } from "./renderWatcher.js";
import { createJobIntake, type StartRequest } from "./startJob.js";
import { createDecider, type CancelRequest, type DecideRequest, type DecideResult, type RevertRequest } from "./decide.js";
import type { GraphContext, PipelineSettings } from "./context.js";
import type { JobEvent, JobView } from "./jobView.js";
import type { Db } from "../store/db.js";
import { createJobs } from "../store/jobs.js";
import { createScenes } from "../store/scenes.js";
import { createLedger } from "../store/ledger.js";
import { createLeases } from "../store/leases.js";
import { createDecisions } from "../store/decisions.js";
import { createAuditLog } from "../store/audit.js";
import { createUsers } from "../store/users.js";
import { createRateLimiter } from "../store/limits.js";
import { createCredits } from "../store/credits.js";
import { createProjects } from "../store/projects.js";
import { createRules } from "../store/rules.js";
import { createShotStates } from "../store/shotStates.js";
import { isUserFacing } from "../core/errors.js";
import type { Tools } from "../tools/ports.js";
import type { Actor } from "./actor.js";

const TERMINAL: string[] = ["done", "flagged", "failed", "cancelled"];
/** Progress events while a graph pass runs: often enough for a status line, rarely enough to cost nothing. */
const PROGRESS_INTERVAL_MS = 500;

export interface RunnerOptions {
  db: Db;
  tools: Tools;
  settings: PipelineSettings;
  checkpointer: BaseCheckpointSaver;
  logger: Logger;
  /** Whether an actor who does not own a job may decide on it (configured approvers). */
  isApprover?: (actor: Actor) => boolean;
  /** How long a job's lease lasts without renewal; a dead holder's jobs are picked up after it. */
  leaseTtlMs?: number;
  /** Name of this process in lease rows. */
  instanceId?: string;
  /** Renders are announced by provider webhooks; poll only after this grace period. */
  webhookGraceMs?: number;
}

/**
 * Drives production graphs: starts jobs, applies decisions, cancels, and recovers jobs whose
 * holder died. Each job's graph runs under a lease row, so exactly one process advances it at
 * a time; decisions and render results are queued in SQL and applied by the lease holder.
 */
export function createRunner(options: RunnerOptions) {
  const { db, tools, settings, checkpointer, logger } = options;
  const leaseTtlMs = options.leaseTtlMs ?? 60_000;
  const holder = options.instanceId ?? `runner-${randomUUID()}`;
  const store = {
    jobs: createJobs(db), scenes: createScenes(db), ledger: createLedger(db), leases: createLeases(db),
    decisions: createDecisions(db), audit: createAuditLog(db), users: createUsers(db), limits: createRateLimiter(db),
    credits: createCredits(db), projects: createProjects(db), rules: createRules(db, tools.embedder),
    shotStates: createShotStates(db),
  };
  const graph = createProductionGraph(checkpointer);
  const context: GraphContext = {
    tools, settings, jobs: store.jobs, scenes: store.scenes, ledger: store.ledger, audit: store.audit, credits: store.credits,
    projects: store.projects, rules: store.rules, shotStates: store.shotStates,
  };
  const views = createJobViews({ db, ...store, clipCredits: settings.clipCredits });
  const listeners = new Set<(event: JobEvent) => void>();
  const lastCards = new Map<string, Map<string, string>>();
  /** Jobs whose end this process already announced (one "final" event per job). */
  const announced = new Set<string>();
  /** Jobs this process is driving now, and whether another pass was asked for meanwhile. */
  const driving = new Map<string, { again: boolean; abort: AbortController; done: Promise<void> }>();
  let closed = false;

  const configFor = (jobId: string, signal?: AbortSignal) => ({
    configurable: { thread_id: jobId },
    // LangGraph types context as state-shaped; ours is a plain object of ports.
    context: context as unknown as Record<string, unknown>,
    signal,
    // Checkpoints are written while the next step runs. A crash can lose at most the step in
    // flight, which then runs again: its paid calls are memoised in the ledger, so none is repeated.
    durability: "async" as const,
  });
  const snapshotOf = (jobId: string) => graph.getState({ configurable: { thread_id: jobId } });

  /**
   * Runs the graph and publishes progress as it goes, at most every PROGRESS_INTERVAL_MS and
   * without making the graph wait (surfaces throttle their edits anyway). The pass's closing
   * publication, where new review cards appear, is awaited by the caller.
   */
  async function advance(jobId: string, input: Parameters<typeof graph.stream>[0], signal: AbortSignal): Promise<void> {
    const stream = await graph.stream(input, { ...configFor(jobId, signal), streamMode: "updates" });
    let lastAt = 0;
    let inFlight: Promise<void> | null = null;
    for await (const _step of stream) {
      if (inFlight || Date.now() - lastAt < PROGRESS_INTERVAL_MS) continue;
      lastAt = Date.now();
      inFlight = publish(jobId)
        .then(() => undefined, (err) => logger.warn({ err, jobId }, "publishing progress failed"))
        .finally(() => (inFlight = null));
    }
    await inFlight;
  }

  const watcher = createRenderWatcher({
    tools, store, logger, enqueued: (jobId) => kick(jobId), webhookGraceMs: options.webhookGraceMs,
  });

  function emit(event: JobEvent) {
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (err) {
        logger.error({ err, jobId: event.type === "error" ? event.jobId : event.view.jobId }, "event listener failed");
      }
    }
  }

  /** Emits the job's status, and a scene event for each card that changed since last time. */
  async function publish(jobId: string): Promise<JobView | null> {
    const view = await views.build(jobId, await snapshotOf(jobId));
    if (!view) return null;
    emit({ type: "status", view });
    const seen = lastCards.get(jobId) ?? new Map<string, string>();
    for (const card of view.scenes) {
      const signature = `${card.versionNo}|${card.status}|${card.awaiting}|${card.trafficLight}|${card.errorMessage}`;
      if (seen.get(card.sceneId) !== signature) emit({ type: "scene", view, card });
      seen.set(card.sceneId, signature);
    }
    if (!TERMINAL.includes(view.stage)) {
      lastCards.set(jobId, seen);
    } else {
      lastCards.delete(jobId);
      if (view.stage === "done" && !announced.has(jobId)) emit({ type: "final", view });
      announced.add(jobId);
    }
    return view;
  }

  /** Asks for a pass over the job; coalesces with a pass already running in this process. */
  function kick(jobId: string): void {
    if (closed) return;
    const current = driving.get(jobId);
    if (current) {
      current.again = true;
      return;
    }
    const entry = { again: false, abort: new AbortController(), done: Promise.resolve() };
    driving.set(jobId, entry);
    entry.done = (async () => {
      try {
        do {
          entry.again = false;
          await drive(jobId, entry.abort.signal);
        } while (entry.again && !closed);
      } finally {
        driving.delete(jobId);
      }
    })();
  }

  /** One pass under the lease: start, resume with queued answers, or continue an interrupted step. */
  async function drive(jobId: string, signal: AbortSignal): Promise<void> {
    const lease = `job:${jobId}`;
    if (!(await store.leases.acquire(lease, holder, leaseTtlMs))) return; // the holder drains our queue
    const heartbeat = setInterval(() => {
      store.leases.renew(lease, holder, leaseTtlMs).catch((err) => logger.warn({ err, jobId }, "lease renewal failed"));
    }, Math.max(1000, leaseTtlMs / 3));
    try {
      for (;;) {
        const job = await store.jobs.get(jobId);
        if (!job || signal.aborted) return;
        if (job.status === "cancelled" || job.production?.status === "cancelled") {
          const queued = await store.decisions.queued(jobId);
          await store.decisions.mark(queued.map((d) => d.id), "stale");
          return;
        }
        const snapshot = await snapshotOf(jobId);
        if (!snapshot.values || !(snapshot.values as { jobId?: string }).jobId) {
          await advance(jobId, { jobId, kind: job.kind }, signal);
        } else {
          const pending = pendingInterrupts(snapshot);
          const queued = await store.decisions.queued(jobId);
          const live = queued.filter((d) => pending.some((p) => p.id === d.interruptId));
          await store.decisions.mark(queued.filter((d) => !live.includes(d)).map((d) => d.id), "stale");
          if (live.length > 0) {
            // An id map, never a scalar: a scalar would be broadcast to every pending interrupt.
            const resume = Object.fromEntries(live.map((d) => [d.interruptId, d.value]));
            await advance(jobId, new Command({ resume }), signal);
            await store.decisions.mark(live.map((d) => d.id), "applied");
          } else if (hasUnfinishedWork(snapshot)) {
            await advance(jobId, null, signal);
          } else {
            watcher.watch(jobId, pendingInterrupts(snapshot));
            await publish(jobId);
            return;
          }
        }
        const after = await snapshotOf(jobId);
        watcher.watch(jobId, pendingInterrupts(after));
        await publish(jobId);
      }
    } catch (err) {
      if (signal.aborted) return;
      await failJob(jobId, err).catch((failure) => logger.error({ err: failure, jobId }, "could not record a job failure"));
    } finally {
      clearInterval(heartbeat);
      await store.leases.release(lease, holder).catch(() => undefined);
      // A decision queued while we held the lease could not take it: pick it up now.
      if (!closed && !signal.aborted && (await store.decisions.queued(jobId).catch(() => [])).length > 0) {
        const entry = driving.get(jobId);
        if (entry) entry.again = true;
      }
    }
  }

  async function failJob(jobId: string, err: unknown): Promise<void> {
    const message = isUserFacing(err)
      ? err.userMessage
      : "Something went wrong while producing this job. Nothing more will be charged; try again or start a new job.";
    logger.error({ err, jobId }, "job failed");
    const job = await store.jobs.get(jobId);
    await store.jobs.setStatus(jobId, job?.status === "completed" ? "completed" : "failed", message);
    if (job?.production) await store.jobs.setProductionStatus(jobId, "failed");
    await store.audit.record({ userId: job?.userId, action: "job.failed", entityType: "vision_job", entityId: jobId, details: { message } });
    emit({ type: "error", jobId, message, view: await publish(jobId) });
  }

  const intake = createJobIntake({ db, tools, store, onCreated: (jobId) => kick(jobId) });
  const decider = createDecider({
    store, clipCredits: settings.clipCredits, isApprover: options.isApprover ?? (() => false),
    pending: async (jobId) => pendingInterrupts(await snapshotOf(jobId)),
    scenesOf: (jobId) => store.scenes.list(jobId),
    onQueued: (jobId) => kick(jobId),
    onCancelled: async (jobId) => {
      driving.get(jobId)?.abort.abort();
      watcher.forget(jobId);
      await publish(jobId);
    },
  });

  return {
    /** Validates and stores an upload, then runs its job in the background. */
    start: (request: StartRequest) => intake.start(request),
    /** Applies a 🟢/🟡/🔴 decision on a scene; stale, duplicate and unauthorised ones change nothing. */
    decide: (request: DecideRequest): Promise<DecideResult> => decider.decide(request),
    /** 🟢 on every scene waiting for review. */
    approveAll: (jobId: string, actor: Actor) => decider.approveAll(jobId, actor),
    cancel: (request: CancelRequest) => decider.cancel(request),
    /** Brings back an earlier version of a scene or shot, as a new version (history is never rewritten). */
    revert: (request: RevertRequest) => decider.revert(request),
    /** Every version of a scene (previews, edits, re-rolls, reverts, clips), oldest first. */
    async versions(jobId: string, sceneIndex: number) {
      const scene = (await store.scenes.list(jobId)).find((s) => s.sequenceIndex === sceneIndex);
      return scene ? store.scenes.versions(scene.id) : [];
    },
    /** Continues every unfinished job whose lease is free: call at process start. */
    async recover(): Promise<string[]> {
      await store.decisions.releaseAbandoned();
      const ids = [...new Set([...(await store.jobs.listUnfinished()), ...(await store.decisions.jobsWithQueued())])];
      for (const id of ids) kick(id);
      return ids;
    },
    /**
     * A provider webhook (signature already verified) says a request finished. Deliveries are
     * deduplicated by request id: only a request still being waited on does anything.
     */
    async providerResult(requestId: string): Promise<"accepted" | "duplicate" | "unknown"> {
      const call = await store.ledger.byRequestId(requestId);
      if (!call) return "unknown";
      if (call.status !== "submitted") return "duplicate";
      watcher.notify(requestId);
      kick(call.jobId);
      return "accepted";
    },
    view: async (jobId: string) => views.build(jobId, await snapshotOf(jobId)),
    jobsOf: (userId: string) => store.jobs.listForUser(userId),
    users: store.users,
    on(listener: (event: JobEvent) => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    /** Resolves when no job is being driven and no render is being collected in this process. */
    async idle(): Promise<void> {
      while (driving.size > 0 || watcher.active() > 0) {
        await Promise.all([...[...driving.values()].map((d) => d.done), watcher.settled()]);
      }
    },
    /** Stops driving (in-flight graph steps are aborted; their leases expire or are released). */
    async close(): Promise<void> {
      closed = true;
      for (const d of driving.values()) d.abort.abort();
      watcher.close();
      await Promise.allSettled([...driving.values()].map((d) => d.done));
    },
    store,
    holder,
  };
}

export type Runner = ReturnType<typeof createRunner>;
