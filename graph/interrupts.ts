import type { StateSnapshot } from "@langchain/langgraph";
import type { InterruptPayload } from "./state.js";

export interface PendingInterrupt {
  id: string;
  value: InterruptPayload;
}

/**
 * Interrupts still waiting for an answer, read from the checkpoint (any process can). A branch
 * that already finished keeps listing its answered interrupt, so only unfinished tasks count.
 */
export function pendingInterrupts(snapshot: StateSnapshot): PendingInterrupt[] {
  return snapshot.tasks.filter((task) => task.result === undefined).flatMap((task) =>
    (task.interrupts ?? []).map((i) => ({ id: i.id as string, value: i.value as InterruptPayload })),
  );
}

/**
 * A step that started but neither finished nor paused: the process died mid-step, or the step
 * threw something transient (the database went away), so the graph must be continued (invoke
 * with null, which runs that step again) rather than resumed. A job whose step failed for good is
 * marked failed and gets no further pass.
 */
export function hasUnfinishedWork(snapshot: StateSnapshot): boolean {
  return snapshot.next.length > 0 && snapshot.tasks.some((t) => (t.interrupts ?? []).length === 0 && t.result === undefined);
}
