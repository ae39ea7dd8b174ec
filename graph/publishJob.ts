import type { Logger } from "pino";
import type { JobEvent, JobView } from "./jobView.js";

const TERMINAL: string[] = ["done", "flagged", "failed", "cancelled"];

/**
 * "deliver" tasks, run by the process that holds the chat surfaces: builds the job's view and
 * tells every listener what changed. The status on every refresh; a scene event only for a card
 * that changed since this process last said; the final video and a failure once per job each. What it
 * remembers lives in memory: after a restart every card is said once more, which surfaces turn
 * into edits of the messages they already posted.
 */
export function createPublisher(deps: { viewOf: (jobId: string) => Promise<JobView | null>; logger: Logger }) {
  const listeners = new Set<(event: JobEvent) => void>();
  const lastCards = new Map<string, Map<string, string>>();
  const announced = new Set<string>();
  const lastStage = new Map<string, string>();

  function emit(event: JobEvent): void {
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (err) {
        deps.logger.error({ err, jobId: event.type === "error" ? event.jobId : event.view.jobId }, "event listener failed");
      }
    }
  }

  async function publish(jobId: string): Promise<void> {
    const view = await deps.viewOf(jobId);
    if (!view) return;
    emit({ type: "status", view });
    if (lastStage.get(jobId) !== view.stage) deps.logger.info({ stage: view.stage, from: lastStage.get(jobId) ?? null }, "job stage changed");
    lastStage.set(jobId, view.stage);
    const seen = lastCards.get(jobId) ?? new Map<string, string>();
    for (const card of view.scenes) {
      const signature = `${card.versionNo}|${card.status}|${card.awaiting}|${card.trafficLight}|${card.errorMessage}|${card.renderNote}`;
      if (seen.get(card.sceneId) !== signature) {
        if (seen.get(card.sceneId)?.split("|")[1] !== card.status) {
          deps.logger.info({ sceneId: card.sceneId, scene: card.index + 1, status: card.status, versionNo: card.versionNo }, "scene status changed");
        }
        emit({ type: "scene", view, card });
      }
      seen.set(card.sceneId, signature);
    }
    if (!TERMINAL.includes(view.stage)) {
      lastCards.set(jobId, seen);
      return;
    }
    lastCards.delete(jobId);
    lastStage.delete(jobId);
    // Once per job and outcome: a job that failed and was tried again (runner.retry) still
    // announces its final video when it is done.
    const outcome = `${jobId}:${view.stage}`;
    if (announced.has(outcome)) return;
    announced.add(outcome);
    if (view.stage === "done") emit({ type: "final", view });
    if (view.stage === "failed" && view.error) emit({ type: "error", jobId, message: view.error, view });
  }

  return {
    publish,
    on(listener: (event: JobEvent) => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
