import type { StateSnapshot } from "@langchain/langgraph";
import type { Logger } from "pino";
import type { Tools, ProductionEngine } from "../tools/ports.js";
import { RenderFailedError } from "../tools/provider-errors.js";
import type { TaskQueue, TaskRun, TaskOutcome } from "../store/tasks.js";
import type { Jobs } from "../store/jobs.js";
import type { Scenes } from "../store/scenes.js";
import type { Ledger, LedgerRow } from "../store/ledger.js";
import { inLogScope } from "../core/logScope.js";
import type { Decisions } from "../store/decisions.js";
import { stableUuid } from "../store/ids.js";
import { pendingInterrupts, type PendingInterrupt } from "./interrupts.js";
import { isCancelled } from "./advanceJob.js";
import type { RenderAnswer, RenderWait } from "./state.js";

export interface RenderPollSettings {
  /** Between two status calls while the provider says queued or running. */
  intervalMs: number;
  /**
   * Before the first status call. With provider webhooks on, this is the grace period for the
   * webhook: a lost one must not strand a paid render, so the render is polled after it anyway.
   */
  firstPollMs: number;
  /** How long a request may stay unknown to its provider before the scene moves to the next engine. */
  unknownGraceMs: number;
}

const DEFAULTS: RenderPollSettings = { intervalMs: 5_000, firstPollMs: 2_000, unknownGraceMs: 10 * 60_000 };

interface PollDeps {
  tools: Tools;
  store: { jobs: Jobs; scenes: Scenes; ledger: Ledger; decisions: Decisions };
  tasks: TaskQueue;
  logger: Logger;
  snapshotOf: (jobId: string) => Promise<StateSnapshot>;
  settings?: Partial<RenderPollSettings>;
}

/**
 * Renders parked on a provider request, followed by "poll" tasks (key: the call key in the
 * ledger), never by a process waiting in memory: any worker can ask, a dead worker's poll is
 * taken over, and a minutes-long render holds nothing. Waiting is not failing: while the
 * provider reports the request queued or running it is asked again later, however long that
 * takes; only the provider's verdict that the render failed (or a request it keeps not knowing)
 * moves the scene to the next engine. Fetching a finished clip that fails (a 404, a timeout, a
 * full disk, the database away) is retried as fetching: the render is paid and is never given up.
 */
export function createRenderPolls(deps: PollDeps) {
  const { tools, store, tasks, logger, snapshotOf } = deps;
  const settings = { ...DEFAULTS, ...deps.settings };

  /** Makes sure every render the job waits for is being polled. */
  async function watch(_jobId: string, pending: PendingInterrupt[]): Promise<void> {
    for (const p of pending) {
      if (p.value.kind === "render") await tasks.add("poll", p.value.callKey, null, { delayMs: settings.firstPollMs });
    }
  }

  /** A webhook said the request finished: poll it now. */
  async function nudge(callKey: string): Promise<void> {
    await tasks.add("poll", callKey, null, { now: true });
  }

  async function poll(run: TaskRun<unknown>): Promise<TaskOutcome> {
    const row = await store.ledger.get<{ clipKey: string }>(run.key);
    const requestId = row?.requestId;
    if (!row || !requestId) return;
    return inLogScope({ jobId: row.jobId, ...(row.sceneId ? { sceneId: row.sceneId } : {}) }, () => check(run, { ...row, requestId }));
  }

  async function check({ key: callKey, signal }: TaskRun<unknown>, row: LedgerRow<{ clipKey: string }> & { requestId: string }): Promise<TaskOutcome> {
    const job = await store.jobs.get(row.jobId);
    if (!job || isCancelled(job)) return;
    if (row.status !== "submitted") return settle(callKey);

    const engine = tools.engines[row.provider as ProductionEngine];
    const status = await engine.status(row.requestId, signal);
    if (status.state === "queued" || status.state === "running") {
      const position = status.state === "queued" ? status.position ?? null : null;
      if (await store.ledger.noteProgress(callKey, status.state, position)) await tasks.add("deliver", row.jobId);
      return { againInMs: settings.intervalMs };
    }
    if (status.state === "unknown") {
      const since = Date.parse(row.submittedAt ?? new Date().toISOString());
      await store.ledger.noteProgress(callKey, "unknown", null);
      if (Date.now() - since < settings.unknownGraceMs) return { againInMs: settings.intervalMs };
      return failed(callKey, `${row.provider} does not know request ${row.requestId}`);
    }

    let clip;
    try {
      clip = await engine.result(row.requestId, signal);
    } catch (err) {
      if (err instanceof RenderFailedError) return failed(callKey, err.message);
      throw err; // fetching failed: the task is retried with back-off, the render stays paid for
    }
    // Guarded: a render cancelled meanwhile stays failed, and a second poller changes nothing.
    await store.ledger.complete(callKey, { clipKey: await tools.blobs.put(clip) });
    return settle(callKey);
  }

  /** A finished call: its clip recorded (idempotent, so a crash in between loses nothing) and its answer queued. */
  async function settle(callKey: string): Promise<TaskOutcome> {
    const row = await store.ledger.get<{ clipKey: string }>(callKey);
    if (!row) return;
    if (row.status === "completed" && row.result) {
      await recordClip(row.jobId, row.sceneId!, callKey, row.provider as ProductionEngine, row.result.clipKey);
      return answer(row.jobId, callKey, { ok: true, clipKey: row.result.clipKey });
    }
    if (row.status === "failed") return answer(row.jobId, callKey, { ok: false, error: row.errorMessage ?? "the engine failed this render" });
  }

  async function failed(callKey: string, error: string): Promise<TaskOutcome> {
    if (await store.ledger.fail(callKey, error)) {
      const row = await store.ledger.get(callKey);
      if (row?.sceneId) await store.scenes.setState(row.sceneId, { errorMessage: `${row.provider} could not render this scene (${error.slice(0, 200)}).` });
    }
    return settle(callKey);
  }

  /**
   * Queues the render's answer and asks for a pass. A duplicate answer (another poller, a
   * webhook) still asks: the pass that would have applied the first one may have died.
   */
  async function answer(jobId: string, callKey: string, value: RenderAnswer): Promise<TaskOutcome> {
    const open = pendingInterrupts(await snapshotOf(jobId)).find((p) => p.value.kind === "render" && p.value.callKey === callKey);
    if (open) {
      const wait = open.value as RenderWait;
      await store.decisions.enqueue({ jobId, interruptId: open.id, sceneId: wait.sceneId, kind: "render", value: { ...value }, actorId: null });
    }
    await tasks.add("advance", jobId);
  }

  /** Appends the clip as the scene's new version, with the script of the approved preview. */
  async function recordClip(jobId: string, sceneId: string, callKey: string, engine: ProductionEngine, clipKey: string): Promise<void> {
    const job = await store.jobs.get(jobId);
    const scene = (await store.scenes.list(jobId)).find((s) => s.id === sceneId);
    const approved = scene?.current;
    if (!job || !approved) return;
    await store.scenes.append(
      {
        id: stableUuid(`${callKey}:clip`), sceneId, kind: "clip",
        cinematographyPrompt: approved.cinematographyPrompt, cameraMovement: approved.cameraMovement,
        lightingNotes: approved.lightingNotes, invariantToken: approved.invariantToken, durationS: approved.durationS,
        previewKey: approved.previewKey, previewSeed: approved.previewSeed, clipKey,
        engine, model: tools.engines[engine].model, fallbackTriggered: engine !== job.production?.engine,
        userFeedback: null, decidedBy: scene.decidedBy,
      },
      "completed",
    );
  }

  /** Cancels every provider request of a job that is still pending (a queued one is then not billed). */
  async function cancelAll(jobId: string): Promise<void> {
    for (const request of await store.ledger.pendingRequests(jobId)) {
      const engine = tools.engines[request.provider as ProductionEngine];
      if (!engine) continue;
      try {
        await engine.cancel(request.requestId);
      } catch (err) {
        logger.warn({ err, jobId, requestId: request.requestId }, "cancelling a provider request failed");
      }
      await store.ledger.fail(request.key, "cancelled with the job");
    }
  }

  return { watch, nudge, poll, cancelAll };
}

export type RenderPolls = ReturnType<typeof createRenderPolls>;
