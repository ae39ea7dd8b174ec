import type { ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { Runner } from "../../../graph/runner.js";
import type { Db } from "../../../store/db.js";
import { conversationsOf, type Turn } from "../../../store/conversations.js";
import { progressSquares, type JobEvent, type JobView, type SceneCard } from "../../views.js";
import { approveAllPrice, scenePrice, spentText } from "../common/money.js";
import { impactNote, redoLabel } from "../common/impact.js";

/**
 * What the page receives: the view, plus what every surface words the same way (squares and a
 * text for progress, prices, the cost line) and each scene's 🟡 conversation (the note and the
 * editor's reply).
 */
export type PageView = JobView & {
  progress: string;
  /** Progress in words, for anyone whose screen shows no emoji. */
  progressText: string;
  spent: string;
  approveAllPrice: string;
  /** impact and redo: the shot's impact note and its 🔁 Redo label (common/impact.ts). */
  scenes: Array<SceneCard & { price: string; conversation: Turn[]; impact: string | null; redo: string | null }>;
};

/** "1 of 3 done · 1 rendering · 1 waiting for review": the squares, in words. */
export function progressText(view: JobView): string {
  const unit = view.kind === "song" ? "shot" : "scene";
  const n = view.scenes.length;
  if (n === 0) return "";
  const count = (pick: (s: SceneCard) => boolean) => view.scenes.filter(pick).length;
  const parts = [
    `${count((s) => s.status === "completed")} of ${n} ${unit}${n === 1 ? "" : "s"} done`,
    `${count((s) => s.status === "rendering" || s.awaiting === "render")} rendering`,
    `${count((s) => s.awaiting === "review")} waiting for review`,
    `${count((s) => s.status === "failed")} failed`,
  ];
  return parts.filter((p, i) => i === 0 || !p.startsWith("0 ")).join(" · ");
}

export function createPageViews(db: Db) {
  return async function toPageView(view: JobView): Promise<PageView> {
    const talks = await conversationsOf(db, view.scenes.map((s) => s.sceneId));
    return {
      ...view,
      progress: progressSquares(view),
      progressText: progressText(view),
      spent: spentText(view),
      approveAllPrice: approveAllPrice(view.approveAll),
      scenes: view.scenes.map((s) => ({
        ...s, price: scenePrice(s), conversation: talks.get(s.sceneId) ?? [], impact: impactNote(view, s), redo: redoLabel(view, s),
      })),
    };
  };
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
export function createEventHub(runner: ViewSource, logger: Logger, toPageView: (view: JobView) => Promise<PageView>) {
  const watchers = new Map<string, Set<Subscriber>>();
  /** Runner events seen per job: a view fetched while this moved may be older than one sent. */
  const generation = new Map<string, number>();
  /** publish() emits one status event and N scene events with the same view object: send it once. */
  let lastSent: JobView | null = null;
  /** Page views take a query to build: one chain per job keeps them in the order the runner said them. */
  const chains = new Map<string, Promise<void>>();

  function inOrder(jobId: string, work: () => Promise<void>): void {
    const next = (chains.get(jobId) ?? Promise.resolve()).then(work).catch((err) => logger.warn({ err, jobId }, "could not send a job view"));
    chains.set(jobId, next);
    void next.then(() => {
      if (chains.get(jobId) === next) chains.delete(jobId);
    });
  }

  const off = runner.on((event: JobEvent) => {
    const jobId = event.type === "error" ? event.jobId : event.view.jobId;
    const subs = watchers.get(jobId);
    if (!subs) return;
    generation.set(jobId, (generation.get(jobId) ?? 0) + 1);
    const view = event.view;
    if (view && view !== lastSent) {
      lastSent = view;
      inOrder(jobId, async () => broadcast(subs, "view", await toPageView(view)));
    }
    // A failure is already on the status (view.error); the event names it once more only when the view does not.
    if (event.type === "error" && !event.view?.error) inOrder(jobId, async () => broadcast(subs, "job-error", { message: event.message }));
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
      res.write(`event: view\ndata: ${JSON.stringify(await toPageView(view))}\n\n`);
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
      if (view && (generation.get(jobId) ?? 0) === seen) {
        const page = await toPageView(view);
        inOrder(jobId, async () => {
          if ((generation.get(jobId) ?? 0) === seen) broadcast(subs, "view", page);
        });
      }
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
