/**
 * Custom ids of the components this surface owns besides the scene buttons (those come from
 * `encodeButton` in views.ts). Everything a click needs is in the id, so any instance can act on
 * it after a restart.
 */

export type JobAction = "all" | "cancel" | "retry";

/** `rbj:<all|cancel|retry>:<job uuid>` (47 characters at most; Discord allows 100). */
export function encodeJobButton(action: JobAction, jobId: string): string {
  return `rbj:${action}:${jobId}`;
}

const UUID = "([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})";
const JOB_BUTTON = new RegExp(`^rbj:(all|cancel|retry):${UUID}$`, "i");

export function decodeJobButton(id: string): { action: JobAction; jobId: string } | null {
  const m = JOB_BUTTON.exec(id);
  return m ? { action: m[1] as JobAction, jobId: m[2].toLowerCase() } : null;
}

/** 🕘 Versions on a card: `rbv:<job>:<scene index>` (43 characters). */
export function encodeVersionsButton(jobId: string, sceneIndex: number): string {
  return `rbv:${jobId}:${sceneIndex}`;
}

/** Revert in a versions list: `rbr:<job>:<scene index>:<version>` (at most 50 characters). */
export function encodeRevertButton(jobId: string, sceneIndex: number, versionNo: number): string {
  return `rbr:${jobId}:${sceneIndex}:${versionNo}`;
}

/** 🔁 Redo on a shot's impact note: `rbd:<job>:<shot index>` (43 characters). */
export function encodeRedoButton(jobId: string, sceneIndex: number): string {
  return `rbd:${jobId}:${sceneIndex}`;
}

/** Remove in a rules list: `rbx:<project>:<rule>` (77 characters). */
export function encodeRuleButton(projectId: string, ruleId: string): string {
  return `rbx:${projectId}:${ruleId}`;
}

export type HistoryButton =
  | { kind: "versions"; jobId: string; sceneIndex: number }
  | { kind: "revert"; jobId: string; sceneIndex: number; versionNo: number }
  | { kind: "redo"; jobId: string; sceneIndex: number }
  | { kind: "rule"; projectId: string; ruleId: string };

const VERSIONS = new RegExp(`^rbv:${UUID}:(\\d{1,2})$`, "i");
const REVERT = new RegExp(`^rbr:${UUID}:(\\d{1,2}):(\\d{1,6})$`, "i");
const REDO = new RegExp(`^rbd:${UUID}:(\\d{1,2})$`, "i");
const RULE = new RegExp(`^rbx:${UUID}:${UUID}$`, "i");

export function decodeHistoryButton(id: string): HistoryButton | null {
  let m = VERSIONS.exec(id);
  if (m) return { kind: "versions", jobId: m[1].toLowerCase(), sceneIndex: Number(m[2]) };
  m = REVERT.exec(id);
  if (m) return { kind: "revert", jobId: m[1].toLowerCase(), sceneIndex: Number(m[2]), versionNo: Number(m[3]) };
  m = REDO.exec(id);
  if (m) return { kind: "redo", jobId: m[1].toLowerCase(), sceneIndex: Number(m[2]) };
  m = RULE.exec(id);
  if (m) return { kind: "rule", projectId: m[1].toLowerCase(), ruleId: m[2].toLowerCase() };
  return null;
}

/** The text input of the 🟡 Edit modal. */
export const NOTE_FIELD = "note";
export const NOTE_MAX = 500;

/** What users see of a job id: its first 8 hex digits. */
export function shortId(jobId: string): string {
  return jobId.slice(0, 8);
}
