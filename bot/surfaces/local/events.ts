import type { ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { Runner } from "../../../graph/runner.js";
import { progressSquares, type JobEvent, type JobView } from "../../views.js";

/** What the page receives: the view, plus the squares rendered the way every surface does. */
export type PageView = JobView & { progress: string };

export function toPageView(view: JobView): PageView {
  return { ...view, progress: progressSquares(view) };
}

interface Subscriber {
  res: ServerResponse;
  /** False until the current view was sent, so an older view can never follow a newer one. */
  ready: boolean;
}

type ViewSource = Pick<Runner, "on" | "view">;

/**
 * Server-Sent Events per job: the runner's events fan out to the browsers watching that job.
 * Each event carries a whole view, so the page just re-renders; a reconnect (reload, restart)
 * starts with the current view and loses nothing.
 */
export function createEventHub(runner: ViewSource, logger: Logger) {
  const watchers = new Map<string, Set<Subscriber>>();
  /** Runner events seen per job: a view fetched while this moved may be older than one sent. */
  const generation = new Map<string, number>();
  /** publish() emits one status event and N scene events with the same view object: send it once. */
  let lastSent: JobView | null = null;

  const off = runner.on((event: JobEvent) => {
    const jobId = event.type === "error" ? event.jobId : event.view.jobId;
    const subs = watchers.get(jobId);
    if (!subs) return;
    generation.set(jobId, (generation.get(jobId) ?? 0) + 1);
    const view = event.view;
    if (view && view !== lastSent) {
      lastSent = view;
      broadcast(subs, "view", toPageView(view));
    }
    if (event.type === "error") broadcast(subs, "job-error", { message: event.message });
  });

  const heartbeat = setInterval(() => {
    for (const subs of watchers.values()) for (const s of subs) s.res.write(": ping\n\n");
  }, 20_000);
  heartbeat.unref();

  function broadcast(subs: Set<Subscriber>, name: string, data: unknown): void {
    const frame = `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const s of subs) if (s.ready) s.res.write(frame);
  }

  /** Streams a job's views to one browser, starting with the current one. */
  async function subscribe(jobId: string, res: ServerResponse): Promise<void> {
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    });
    res.write("retry: 2000\n\n");
    const sub: Subscriber = { res, ready: false };
    let subs = watchers.get(jobId);
    if (!subs) watchers.set(jobId, (subs = new Set()));
    subs.add(sub);
    res.on("close", () => {
      subs.delete(sub);
      if (subs.size === 0 && watchers.get(jobId) === subs) {
        watchers.delete(jobId);
        generation.delete(jobId);
      }
    });
    // Registered first, then read: if the runner published while we read, read again, so the
    // last view this browser gets is never older than one it missed.
    for (let attempt = 0; attempt < 5; attempt++) {
      const seen = generation.get(jobId) ?? 0;
      const view = await runner.view(jobId);
      if (!view || res.destroyed) break;
      res.write(`event: view\ndata: ${JSON.stringify(toPageView(view))}\n\n`);
      if ((generation.get(jobId) ?? 0) === seen) break;
    }
    sub.ready = true;
  }

  /**
   * Sends a fresh view after this surface changed the job (a click), so the card shows the
   * decision at once; skipped if the runner published meanwhile, as its view is at least as new.
   */
  async function refresh(jobId: string): Promise<void> {
    const subs = watchers.get(jobId);
    if (!subs) return;
    const seen = generation.get(jobId) ?? 0;
    try {
      const view = await runner.view(jobId);
      if (view && (generation.get(jobId) ?? 0) === seen) broadcast(subs, "view", toPageView(view));
    } catch (err) {
      logger.warn({ err, jobId }, "could not refresh a job view");
    }
  }

  function close(): void {
    off();
    clearInterval(heartbeat);
    for (const subs of watchers.values()) for (const s of subs) s.res.end();
    watchers.clear();
  }

  return { subscribe, refresh, close };
}

export type EventHub = ReturnType<typeof createEventHub>;
