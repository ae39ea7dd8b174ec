import type { WorkTracker } from "./work.js";

/**
 * Slack refuses a `slack_file` image block with `invalid_blocks` for about a second after the
 * file was uploaded (it is still being processed; python-slack-sdk#1521, see
 * ../shared/reference/chat-surfaces.md). The card is then posted without its image at once, and
 * this schedules the redraw that adds it, with growing waits, instead of leaving the card bare
 * until some unrelated event (usually the user's own click) happens to redraw it.
 */
export function createImageRetry(options: { tracker: WorkTracker; delaysMs?: number[] }) {
  const delays = options.delaysMs ?? [1200, 2500, 5000, 10_000];
  const attempts = new Map<string, number>();
  return {
    /** Runs `redraw` after the next wait; false (and nothing scheduled) once the waits are used up. */
    later(key: string, redraw: () => Promise<void>): boolean {
      const n = attempts.get(key) ?? 0;
      if (n >= delays.length) {
        attempts.delete(key);
        return false;
      }
      attempts.set(key, n + 1);
      // Tracked, so shutdown and tests wait for the redraw like for any other pending edit.
      void options.tracker.track(new Promise<void>((resolve) => setTimeout(resolve, delays[n])).then(redraw)).catch(() => undefined);
      return true;
    },
    /** The image is shown: a later refusal of another file starts counting again. */
    done(key: string): void {
      attempts.delete(key);
    },
  };
}
