import { z } from "zod";
import type { Decision, Stage } from "../graph/state.js";
import type { ProductionEngine } from "../tools/ports.js";

/**
 * The platform-neutral view of a job. Every surface (Slack, Discord, the local page, the
 * terminal) renders this and nothing else, so they all show the same thing.
 */
export interface JobView {
  jobId: string;
  kind: "image" | "song";
  ownerId: string;
  ownerName: string | null;
  stage: Stage | "cancelled";
  /** One human line: what is happening now. */
  statusLine: string;
  engine: ProductionEngine | null;
  routingReason: string | null;
  /** Credits charged for this job so far (reservations net of refunds). */
  creditsUsed: number;
  /** Estimated provider cost of this job so far, in USD (offline tools cost nothing). */
  costUsd: number;
  /** Credits a 🟢 Approve reserves on this job (show it on the button before anything is paid). */
  approvalCredits: number;
  /** The job owner's credits left. */
  ownerCredits: number;
  scenes: SceneCard[];
  finalVideoKey: string | null;
  /** Why the job stopped (flagged or failed), readable by a chat user. */
  error: string | null;
}

export interface SceneCard {
  sceneId: string;
  /** 0-based position; cards show index + 1. */
  index: number;
  count: number;
  status: "scripting" | "preview_generation" | "review" | "rendering" | "completed" | "failed";
  trafficLight: "PENDING" | "GREEN" | "YELLOW" | "RED";
  /** Version of the preview on the card; a click carries it so an old card's click is stale. */
  versionNo: number;
  previewKey: string | null;
  clipKey: string | null;
  /** Two short lines: camera and the start of the script. */
  scriptExcerpt: string;
  /** "0:12–0:16" for song shots; null for brand scenes. */
  timeRange: string | null;
  /** Who made the last decision on this scene, and what. */
  decidedBy: string | null;
  lastDecision: Decision | null;
  /** The open question on this scene, if any. */
  awaiting: "review" | "render" | null;
  interruptId: string | null;
  engine: ProductionEngine | null;
  errorMessage: string | null;
}

export type JobEvent =
  | { type: "status"; view: JobView }
  | { type: "scene"; view: JobView; card: SceneCard }
  | { type: "final"; view: JobView }
  | { type: "error"; jobId: string; message: string; view: JobView | null };

const CODES: Record<Decision, string> = { GREEN: "G", YELLOW: "Y", RED: "R" };
const DECISIONS: Record<string, Decision> = { G: "GREEN", Y: "YELLOW", R: "RED" };

/** What a button carries: enough for any instance to act on a click after a restart. */
export interface ButtonAction {
  jobId: string;
  sceneIndex: number;
  versionNo: number;
  decision: Decision;
}

/** `rb:<job uuid>:<scene>:<version>:<G|Y|R>`, at most 52 characters (Discord allows 100). */
export function encodeButton(a: ButtonAction): string {
  return `rb:${a.jobId}:${a.sceneIndex}:${a.versionNo}:${CODES[a.decision]}`;
}

const ButtonSchema = z.tuple([
  z.literal("rb"),
  z.string().uuid(),
  z.coerce.number().int().min(0).max(99),
  z.coerce.number().int().min(1).max(100_000),
  z.enum(["G", "Y", "R"]),
]);

/** Parses a button id; null for anything that is not one of ours. */
export function decodeButton(id: string): ButtonAction | null {
  const parsed = ButtonSchema.safeParse(id.split(":"));
  if (!parsed.success) return null;
  const [, jobId, sceneIndex, versionNo, code] = parsed.data;
  return { jobId, sceneIndex, versionNo, decision: DECISIONS[code] };
}

/** Emoji labels (neither platform has a yellow button, so the emoji carries the colour). */
export const DECISION_LABELS: Record<Decision, string> = {
  GREEN: "🟢 Approve",
  YELLOW: "🟡 Edit",
  RED: "🔴 Re-roll",
};

/** One square per scene for the status line. */
export function progressSquares(view: JobView): string {
  return view.scenes
    .map((s) => (s.status === "completed" ? "🟩" : s.status === "rendering" ? "🟨" : s.status === "failed" ? "🟥" : "⬜"))
    .join("");
}
