/**
 * Small in-process helpers for *when* things happen, never for what the job is: a tracker of
 * background work (so tests and shutdown can wait for it), per-key serial queues (so a thread's
 * messages are posted in order), and a per-key throttle that coalesces message edits.
 * Losing all of this in a restart loses nothing: what was posted where is in chat_messages.
 */
export interface WorkTracker {
  track<T>(work: Promise<T>): Promise<T>;
  /** Resolves when no tracked work is pending (work started meanwhile is waited for too). */
  settled(): Promise<void>;
  pending(): number;
}

export function createWorkTracker(): WorkTracker {
  const pending = new Set<Promise<unknown>>();
  return {
    track(work) {
      const settledWork = work.then(() => undefined, () => undefined);
      pending.add(settledWork);
      void settledWork.then(() => pending.delete(settledWork));
      return work;
    },
    async settled() {
      while (pending.size > 0) await Promise.all([...pending]);
    },
    pending: () => pending.size,
  };
}

/** Runs tasks one after another per key; a failing task does not block the next one. */
export function createSerialQueues() {
  const tails = new Map<string, Promise<void>>();
  return function run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = tails.get(key) ?? Promise.resolve();
    const result = previous.then(task);
    const tail = result.then(() => undefined, () => undefined);
    tails.set(key, tail);
    void tail.then(() => {
      if (tails.get(key) === tail) tails.delete(key);
    });
    return result;
  };
}

interface ThrottleEntry {
  lastAt: number;
  task?: () => Promise<boolean>;
  timer?: NodeJS.Timeout;
  /** Ends the tracked wait of an armed timer. */
  release?: () => void;
  running: boolean;
}

/**
 * At most one run per key every `intervalMs`, measured from the end of the previous run that
 * changed something (a task resolves false when it had nothing to edit). Scheduling while a run
 * is waiting or in flight replaces the waiting task: only the latest view is rendered.
 */
export function createThrottle(options: { intervalMs: number; tracker: WorkTracker; onError: (err: unknown, key: string) => void }) {
  const entries = new Map<string, ThrottleEntry>();
  let flushing = false;

  function start(key: string, entry: ThrottleEntry) {
    entry.timer = undefined;
    const task = entry.task;
    entry.task = undefined;
    if (!task) return;
    entry.running = true;
    void options.tracker.track(
      (async () => {
        let changed = true;
        try {
          changed = await task();
        } catch (err) {
          options.onError(err, key);
        } finally {
          if (changed) entry.lastAt = Date.now();
          entry.running = false;
          if (entry.task) arm(key, entry);
        }
      })(),
    );
  }

  function fire(key: string, entry: ThrottleEntry) {
    const release = entry.release;
    entry.release = undefined;
    start(key, entry);
    release?.();
  }

  function arm(key: string, entry: ThrottleEntry) {
    const wait = flushing ? 0 : entry.lastAt + options.intervalMs - Date.now();
    if (wait <= 0) return start(key, entry);
    // The wait itself is tracked, so settled() also covers an edit that is only scheduled.
    void options.tracker.track(
      new Promise<void>((resolve) => {
        entry.release = resolve;
        entry.timer = setTimeout(() => fire(key, entry), wait);
      }),
    );
  }

  return {
    schedule(key: string, task: () => Promise<boolean>) {
      // Forget keys whose interval is over (their next run may start at once anyway).
      const now = Date.now();
      for (const [k, e] of entries) if (!e.running && !e.timer && !e.task && e.lastAt + options.intervalMs <= now) entries.delete(k);
      const entry = entries.get(key) ?? { lastAt: 0, running: false };
      entries.set(key, entry);
      entry.task = task;
      if (entry.running || entry.timer) return;
      arm(key, entry);
    },
    /** Runs every waiting task now, and later ones at once (shutdown: the last state is shown, not dropped). */
    flush() {
      flushing = true;
      for (const [key, entry] of entries) {
        if (!entry.timer) continue;
        clearTimeout(entry.timer);
        fire(key, entry);
      }
    },
  };
}
