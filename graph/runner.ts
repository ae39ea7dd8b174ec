import { getMaxListeners, setMaxListeners } from "node:events";
import { type BaseCheckpointSaver } from "@langchain/langgraph";
import type { Logger } from "pino";
import { createProductionGraph } from "./graph.js";
import { pendingInterrupts } from "./interrupts.js";
import { createJobViews, type JobEvent } from "./jobView.js";
import { createJobIntake, type StartRequest } from "./startJob.js";
import { createDecider, type ApproveAllResult, type CancelRequest, type DecideRequest, type DecideResult, type RedoRequest, type RevertRequest } from "./decide.js";
import { createPasses } from "./advanceJob.js";
import { createRenderPolls, type RenderPollSettings } from "./pollRender.js";
import { createPublisher } from "./publishJob.js";
import type { GraphContext, PipelineSettings } from "./context.js";
import type { Db } from "../store/db.js";
import type { TaskQueue } from "../store/tasks.js";
import { createJobs } from "../store/jobs.js";
import { createScenes } from "../store/scenes.js";
import { createLedger } from "../store/ledger.js";
import { createDecisions } from "../store/decisions.js";
import { createAuditLog } from "../store/audit.js";
import { createUsers } from "../store/users.js";
import { createRateLimiter } from "../store/limits.js";
import { createCredits } from "../store/credits.js";
import { createProjects } from "../store/projects.js";
import { createRules } from "../store/rules.js";
import { createShotStates } from "../store/shotStates.js";
import type { Tools } from "../tools/ports.js";
import type { Actor } from "./actor.js";
import { inLogScope } from "../core/logScope.js";

export interface RunnerOptions {
  db: Db;
  tools: Tools;
  settings: PipelineSettings;
  checkpointer: BaseCheckpointSaver;
  logger: Logger;
  /** The job engine every pass, render poll and chat refresh goes through. */
  tasks: TaskQueue;
  /** Whether an actor who does not own a job may decide on it (configured approvers). */
  isApprover?: (actor: Actor) => boolean;
  render?: Partial<RenderPollSettings>;
  /** Told of every decision asked for through this process and what came of it (metrics). */
  onDecision?: (kind: string, status: string) => void;
}

/** Which task kinds this process runs (its role). */
export interface Serving {
  /** Graph passes and render polls: a worker. */
  work?: { passes: number; polls: number };
  /** Chat refreshes: the process that holds the chat surfaces (ingress). */
  deliver?: boolean;
}

/**
 * The production graphs' driver. Surfaces call start, decide, approveAll, cancel and revert: each
 * checks and records what the user asked in SQL and asks the job engine for a pass; it never runs
 * the graph itself. Workers run the passes (advanceJob) and poll renders (pollRender); the process
 * that holds the chat surfaces turns job changes into events (publishJob). In the embedded
 * default one process does all three.
 */
const MAX_SIGNAL_LISTENERS = 1_000;

export function createRunner(options: RunnerOptions) {
  const { db, tools, settings, checkpointer, logger, tasks } = options;
  // LangGraph makes its own abort signal per pass, and every branch of a song's fan-out (a shot)
  // listens to it: 30 shots are 30 listeners, not a leak. Node's default of 10 would warn on
  // stderr; this raises the default for signals created from now on (no setter reaches LangGraph's).
  if (getMaxListeners(new AbortController().signal) < MAX_SIGNAL_LISTENERS) setMaxListeners(MAX_SIGNAL_LISTENERS);
  const store = {
    jobs: createJobs(db), scenes: createScenes(db), ledger: createLedger(db),
    decisions: createDecisions(db), audit: createAuditLog(db), users: createUsers(db, { newUserCredits: settings.newUserCredits }), limits: createRateLimiter(db),
    credits: createCredits(db), projects: createProjects(db), rules: createRules(db, tools.embedder),
    shotStates: createShotStates(db),
  };
  const graph = createProductionGraph(checkpointer);
  const context: GraphContext = {
    tools, settings, jobs: store.jobs, scenes: store.scenes, ledger: store.ledger, audit: store.audit, credits: store.credits,
    projects: store.projects, rules: store.rules, shotStates: store.shotStates,
  };
  const snapshotOf = (jobId: string) => graph.getState({ configurable: { thread_id: jobId } });
  const views = createJobViews({ db, ...store, clipCredits: settings.clipCredits, prices: settings.prices });
  const viewOf = async (jobId: string) => views.build(jobId, await snapshotOf(jobId), await tasks.position("advance", jobId));
  const publisher = createPublisher({ viewOf, logger });
  const kick = (jobId: string) => tasks.add("advance", jobId);
  const deliver = (jobId: string) => tasks.add("deliver", jobId);
  const polls = createRenderPolls({ tools, store, tasks, logger, snapshotOf, settings: options.render });
  const passes = createPasses({ graph, context, store, tasks, logger, snapshotOf, polls });

  const intake = createJobIntake({ db, tools, store, onCreated: (jobId) => kick(jobId) });
  const decider = createDecider({
    store, clipCredits: settings.clipCredits, isApprover: options.isApprover ?? (() => false),
    pending: async (jobId) => pendingInterrupts(await snapshotOf(jobId)),
    scenesOf: (jobId) => store.scenes.list(jobId),
    onQueued: async (jobId) => {
      await kick(jobId);
      await deliver(jobId);
    },
    // The next pass of a cancelled job cancels its provider requests and refunds its credits.
    onCancelled: async (jobId) => {
      await kick(jobId);
      await deliver(jobId);
    },
  });

  const counted = async <R extends DecideResult>(kind: string, result: Promise<R>): Promise<R> => {
    const r = await result;
    options.onDecision?.(kind, r.status);
    return r;
  };

  return {
    /** Validates and stores an upload, then asks for its first pass. */
    start: (request: StartRequest) => intake.start(request),
    /** Applies a 🟢/🟡/🔴 decision on a scene; stale, duplicate and unauthorised ones change nothing. */
    decide: (request: DecideRequest): Promise<DecideResult> => counted(request.decision, decider.decide(request)),
    /** 🟢 on every scene waiting for review: one request, one answer. */
    approveAll: (jobId: string, actor: Actor): Promise<ApproveAllResult> => counted("APPROVE_ALL", decider.approveAll(jobId, actor)),
    cancel: (request: CancelRequest) => counted("CANCEL", decider.cancel(request)),
    /** A job that failed as a whole, run again from where it stopped (what was approved is kept). */
    retry: (request: CancelRequest) => counted("RETRY", decider.retry(request)),
    /** Brings back an earlier version of a scene or shot, as a new version (history is never rewritten). */
    revert: (request: RevertRequest) => counted("REVERT", decider.revert(request)),
    /** The impact preview's offer: later shots drawn from this shot, drawn again from what is approved now. */
    redo: (request: RedoRequest) => counted("REDO", decider.redo(request)),
    /** Every version of a scene (previews, edits, re-rolls, reverts, clips), oldest first. */
    async versions(jobId: string, sceneIndex: number) {
      const scene = (await store.scenes.list(jobId)).find((s) => s.sequenceIndex === sceneIndex);
      return scene ? store.scenes.versions(scene.id) : [];
    },
    /**
     * A provider webhook (signature already verified) says a request finished: its render is
     * polled at once. A request we never recorded but that carries one of our call keys (the
     * process died between the provider's answer and our write) is adopted, not paid again.
     */
    async providerResult(requestId: string, callKey?: string): Promise<"accepted" | "duplicate" | "unknown"> {
      let call = await store.ledger.byRequestId(requestId);
      if (!call && callKey && (await store.ledger.adopt(callKey, requestId))) call = await store.ledger.byRequestId(requestId);
      if (!call) return "unknown";
      if (call.status !== "submitted") return "duplicate";
      await polls.nudge(call.key);
      return "accepted";
    },
    view: viewOf,
    jobsOf: (userId: string) => store.jobs.listForUser(userId),
    users: store.users,
    on: (listener: (event: JobEvent) => void) => publisher.on(listener),
    /** Starts this process's part of the work (its role); see Serving. */
    async serve(serving: Serving): Promise<void> {
      // Every log line of a task carries the job it works on (core/logScope.ts).
      if (serving.deliver) await tasks.consume("deliver", ({ key }) => inLogScope({ jobId: key, task: "deliver" }, () => publisher.publish(key)), 4);
      if (serving.work) {
        await tasks.consume("advance", (run) => inLogScope({ jobId: run.key, task: "advance" }, () => passes.advance(run)), serving.work.passes);
        await tasks.consume("poll", (run) => inLogScope({ jobId: "", task: "poll" }, () => polls.poll(run)), serving.work.polls);
        // A queue that lost its tasks (an embedded restart, a Redis without persistence) drops
        // nothing: every unfinished job gets a pass, which finds its state in SQL and the checkpoint.
        for (const id of await passes.unfinished()) await kick(id);
      }
    },
    /**
     * Resolves when nothing waits, runs or is scheduled, render polls included (tests and the CLI;
     * with a render that stays queued at its provider this waits as long as the render does).
     */
    async idle(): Promise<void> {
      for (;;) {
        const [a, d, p] = await Promise.all([tasks.counts("advance"), tasks.counts("deliver"), tasks.counts("poll")]);
        // A poll scheduled for a render that was answered meanwhile (a webhook beat it) will find
        // nothing to do: only polls of renders still in flight count.
        const inFlight = p.delayed === 0 ? 0 : (await Promise.all((await tasks.delayedKeys("poll")).map((k) => store.ledger.get(k))))
          .filter((row) => row?.status === "submitted").length;
        if (a.waiting + a.active + a.delayed + d.waiting + d.active + p.waiting + p.active + inFlight === 0) return;
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    /** Stops taking work; passes in flight finish within graceMs, the rest is handed back. */
    stop: (graceMs: number) => tasks.stop(graceMs),
    async close(): Promise<void> {
      await tasks.close();
    },
    store,
  };
}

export type Runner = ReturnType<typeof createRunner>;
