import { Annotation } from "@langchain/langgraph";
import type { ProductionEngine } from "../tools/ports.js";

/** Where a job stands, as surfaces show it. */
export type Stage =
  | "analyzing" | "flagged" | "styling" | "directing" | "reviewing" | "assembling" | "done" | "failed";

const latest = <T>(initial: () => T) => Annotation<T>({ reducer: (_old, next) => next, default: initial });

/**
 * The graph state of one job. Only ids, blob keys, scores and short strings live here:
 * checkpoints store every changed channel in full at every step, so media and growing
 * histories (versions, conversations) stay in SQL and the blob store.
 */
export const JobState = Annotation.Root({
  /** vision_jobs.id; also the LangGraph thread id. */
  jobId: latest<string>(() => ""),
  /** Which entry route the job takes. */
  kind: latest<"image" | "song">(() => "image"),
  stage: latest<Stage>(() => "analyzing"),
  /** Integrity score of the analysis, 0..1 (below the threshold the job is flagged). */
  integrity: latest<number | null>(() => null),
  /** Why the job was flagged; mentions integrity. */
  flaggedReason: latest<string | null>(() => null),
  /** Blob key of the style reference image. */
  styleReferenceKey: latest<string | null>(() => null),
  /** Engine chosen by routing, and why. */
  engine: latest<ProductionEngine | null>(() => null),
  routingReason: latest<string | null>(() => null),
  /** Scene ids in storyboard order. */
  sceneIds: latest<string[]>(() => []),
  /** Blob key of each finished scene's clip, by scene id (merged as scenes finish). */
  clips: Annotation<Record<string, string>>({ reducer: (old, next) => ({ ...old, ...next }), default: () => ({}) }),
  /** Blob key of the assembled video. */
  finalVideoKey: latest<string | null>(() => null),
  /** Input of one produceScene branch (set by Send only, never by a node). */
  sceneId: latest<string | null>(() => null),
});

export type JobStateType = typeof JobState.State;
export type JobStateUpdate = typeof JobState.Update;

/** What a review interrupt carries; surfaces render a card from it. */
export interface ReviewRequest {
  kind: "review";
  sceneId: string;
  sequenceIndex: number;
  /** scene_versions.version_no of the preview under review; a click on an older card is stale. */
  versionNo: number;
  /**
   * Song shots: why the shot has no image to approve (the audit kept refusing it, or a tool gave
   * up). The card shows it with 🟡 and 🔴 only; a 🟢 drafts the shot again, like 🔴 without a note.
   */
  failed?: string;
}

/** A render parked on a provider request; the runner resumes it with the result. */
export interface RenderWait {
  kind: "render";
  sceneId: string;
  sequenceIndex: number;
  engine: ProductionEngine;
  requestId: string;
  /** provider_calls key of the submission. */
  callKey: string;
}

export type InterruptPayload = ReviewRequest | RenderWait;

export type Decision = "GREEN" | "YELLOW" | "RED";

/** Resume value of a review interrupt. REVERT brings back an earlier version as a new one. */
export interface ReviewAnswer {
  decision: Decision | "REVERT";
  /** REVERT: the version number to bring back. */
  toVersion?: number;
  note?: string;
  /** users.id of who decided. */
  actorId: string;
  /** credit_ledger key of the credits a 🟢 reserved; refunded if every engine fails. */
  creditKey?: string;
  /** 🔁 Redo from an earlier shot's impact note: that shot's image version, drawn from as well. */
  drawFrom?: string;
}

/** Resume value of a render interrupt. */
export type RenderAnswer = { ok: true; clipKey: string } | { ok: false; error: string };
