import { AsyncLocalStorage } from "node:async_hooks";

/** What every log line written while working on a job carries: its id, and the scene when there is one. */
export interface LogScope {
  jobId: string;
  sceneId?: string;
  /** The engine task doing the work (advance, poll, deliver). */
  task?: string;
}

const scope = new AsyncLocalStorage<LogScope>();

/**
 * Runs fn with a log scope: the app's logger adds it to every line (a pino mixin), so code deep
 * inside a pass logs with the job's id without being handed a child logger.
 */
export function inLogScope<T>(value: LogScope, fn: () => T): T {
  return scope.run({ ...scope.getStore(), ...value }, fn);
}

export function currentLogScope(): LogScope | undefined {
  return scope.getStore();
}
