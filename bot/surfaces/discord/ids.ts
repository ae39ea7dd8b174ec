/**
 * Custom ids of the components this surface owns besides the scene buttons (those come from
 * `encodeButton` in views.ts). Everything a click needs is in the id, so any instance can act on
 * it after a restart.
 */

export type JobAction = "all" | "cancel";

/** `rbj:<all|cancel>:<job uuid>` (47 characters; Discord allows 100). */
export function encodeJobButton(action: JobAction, jobId: string): string {
  return `rbj:${action}:${jobId}`;
}

const JOB_BUTTON = /^rbj:(all|cancel):([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;

export function decodeJobButton(id: string): { action: JobAction; jobId: string } | null {
  const m = JOB_BUTTON.exec(id);
  return m ? { action: m[1] as JobAction, jobId: m[2].toLowerCase() } : null;
}

/** The text input of the 🟡 Edit modal. */
export const NOTE_FIELD = "note";
export const NOTE_MAX = 500;

/** What users see of a job id: its first 8 hex digits. */
export function shortId(jobId: string): string {
  return jobId.slice(0, 8);
}
