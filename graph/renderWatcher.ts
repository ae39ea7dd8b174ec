import type { Logger } from "pino";
import { setTimeout as sleep } from "node:timers/promises";
import type { Media, Tools, VideoEngine } from "../tools/ports.js";
import type { Jobs } from "../store/jobs.js";
import type { Scenes } from "../store/scenes.js";
import type { Ledger } from "../store/ledger.js";
import type { Decisions } from "../store/decisions.js";
import { stableUuid } from "../store/ids.js";
import type { PendingInterrupt } from "./interrupts.js";
import type { RenderAnswer, RenderWait } from "./state.js";

const POLL_MS = 200;

interface WatcherDeps {
  tools: Tools;
  store: { jobs: Jobs; scenes: Scenes; ledger: Ledger; decisions: Decisions };
  logger: Logger;
  /** Called after a render's answer was queued, so the job gets resumed. */
  enqueued: (jobId: string) => void;
  /**
   * With provider webhooks on, wait this long for the webhook before collecting anyway (a lost
   * webhook must not strand a paid render). Undefined: collect (poll) at once.
   */
  webhookGraceMs?: number;
}

/**
 * Waits for parked renders outside the graph, so a minutes-long render never holds a job's
 * lease and other scenes can be decided meanwhile. Collecting is free (only submitting costs),
 * so a restarted process simply collects the stored request id again; a fal webhook (when
 * configured) answers the same interrupt through the same queue.
 */
export function createRenderWatcher({ tools, store, logger, enqueued, webhookGraceMs }: WatcherDeps) {
  const watching = new Map<string, { jobId: string; abort: AbortController; done: Promise<void> }>();
  /** Provider requests whose webhook arrived, and watchers waiting for one. */
  const notified = new Set<string>();
  const waiters = new Map<string, () => void>();

  /** Resolves when the request's webhook arrives, the grace period ends, or the watch is aborted. */
  function webhookOrGrace(requestId: string, signal: AbortSignal): Promise<void> {
    if (webhookGraceMs === undefined || notified.has(requestId)) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        waiters.delete(requestId);
        resolve();
      };
      const timer = setTimeout(done, webhookGraceMs);
      waiters.set(requestId, done);
      signal.addEventListener("abort", done, { once: true });
    });
  }

  async function answerFor(jobId: string, wait: RenderWait, signal: AbortSignal): Promise<RenderAnswer> {
    const row = await store.ledger.get<{ clipKey: string }>(wait.callKey);
    if (row?.status === "completed" && row.result) return { ok: true, clipKey: row.result.clipKey };
    if (row?.status === "failed") return { ok: false, error: "the engine failed this render" };
    try {
      await webhookOrGrace(wait.requestId, signal);
      if (signal.aborted) throw new Error("watch aborted");
      const clip = await collect(tools.engines[wait.engine], wait.requestId, signal);
      const clipKey = await tools.blobs.put(clip);
      await recordClip(jobId, wait, clipKey);
      await store.ledger.complete(wait.callKey, { clipKey });
      return { ok: true, clipKey };
    } catch (err) {
      if (signal.aborted) throw err;
      const error = err instanceof Error ? err.message : String(err);
      await store.ledger.fail(wait.callKey, error);
      await store.scenes.setState(wait.sceneId, { errorMessage: `${wait.engine} could not render this scene (${error.slice(0, 200)}).` });
      return { ok: false, error };
    }
  }

  /** Appends the clip as the scene's new version, with the script of the approved preview. */
  async function recordClip(jobId: string, wait: RenderWait, clipKey: string): Promise<void> {
    const job = await store.jobs.get(jobId);
    const scene = (await store.scenes.list(jobId)).find((s) => s.id === wait.sceneId);
    const approved = scene?.current;
    if (!job || !approved) return;
    const engine = tools.engines[wait.engine];
    await store.scenes.append(
      {
        id: stableUuid(`${wait.callKey}:clip`), sceneId: wait.sceneId, kind: "clip",
        cinematographyPrompt: approved.cinematographyPrompt, cameraMovement: approved.cameraMovement,
        lightingNotes: approved.lightingNotes, invariantToken: approved.invariantToken, durationS: approved.durationS,
        previewKey: approved.previewKey, previewSeed: approved.previewSeed, clipKey,
        engine: wait.engine, model: engine.model, fallbackTriggered: wait.engine !== job.production?.engine,
        userFeedback: null, decidedBy: scene.decidedBy,
      },
      "completed",
    );
  }

  function watch(jobId: string, pending: PendingInterrupt[]): void {
    for (const p of pending) {
      if (p.value.kind !== "render" || watching.has(p.id)) continue;
      const wait = p.value;
      const abort = new AbortController();
      const entry = { jobId, abort, done: Promise.resolve() };
      watching.set(p.id, entry);
      entry.done = (async () => {
        try {
          const answer = await answerFor(jobId, wait, abort.signal);
          const queued = await store.decisions.enqueue({
            jobId, interruptId: p.id, sceneId: wait.sceneId, kind: "render", value: { ...answer }, actorId: null,
          });
          if (queued) enqueued(jobId);
        } catch (err) {
          if (!abort.signal.aborted) logger.error({ err, jobId, requestId: wait.requestId }, "render collection failed");
        } finally {
          watching.delete(p.id);
        }
      })();
    }
  }

  return {
    watch,
    /** A provider said the request finished: collect it now (in this process or the next watch). */
    notify(requestId: string): void {
      notified.add(requestId);
      waiters.get(requestId)?.();
    },
    /** Stops waiting on a job's renders (cancelled). */
    forget(jobId: string): void {
      for (const w of watching.values()) if (w.jobId === jobId) w.abort.abort();
    },
    active: () => watching.size,
    settled: () => Promise.allSettled([...watching.values()].map((w) => w.done)).then(() => undefined),
    close(): void {
      for (const w of watching.values()) w.abort.abort();
    },
  };
}

/** Asks the engine until the render completes, then fetches it. */
async function collect(engine: VideoEngine, requestId: string, signal: AbortSignal): Promise<Media> {
  for (;;) {
    const status = await engine.status(requestId, signal);
    if (status.state === "completed") return engine.result(requestId, signal);
    if (status.state === "unknown") throw new Error(`the engine does not know request ${requestId}`);
    await sleep(POLL_MS, undefined, { signal });
  }
}
