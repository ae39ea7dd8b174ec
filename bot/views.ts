import { z } from "zod";
import type { Decision } from "../graph/state.js";
import type { JobView } from "../graph/jobView.js";

/** The view model itself is the graph's output; surfaces import it from here with the button codec. */
export type { JobView, SceneCard, JobEvent } from "../graph/jobView.js";

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
