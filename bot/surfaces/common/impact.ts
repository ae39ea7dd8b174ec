import type { JobView, SceneCard } from "../../../graph/jobView.js";
import { shotList } from "../../../graph/decide.js";

/*
 * The impact preview of a song shot, worded once for every surface: which later shots were drawn
 * from this shot's image (a continuity reference), so an edit or a revert here does not silently
 * leave them out of step, and the offer to draw them again.
 */

/** "Shots 3 and 4 were drawn from this shot (v2): …"; null when no later shot used it. */
export function impactNote(view: JobView, card: SceneCard): string | null {
  if (card.usedBy.length === 0 || card.awaiting !== "review") return null;
  const shots = card.usedBy.map((u) => u.index + 1);
  const versions = [...new Set(card.usedBy.map((u) => u.fromVersionNo))].map((v) => `v${v}`).join(", ");
  const one = shots.length === 1;
  const offer = redoable(view, card).length > 0 ? ` Use 🔁 Redo to draw ${one ? "it" : "them"} again from this shot as it is now.` : "";
  return `${shotList(shots)} ${one ? "was" : "were"} drawn from this shot (${versions}): an edit or a revert here leaves ${one ? "it" : "them"} as ${one ? "it is" : "they are"}.${offer}`;
}

/** The later shots the offer can redo: those still waiting for a review with an image (1-based). */
export function redoable(view: JobView, card: SceneCard): number[] {
  return card.usedBy
    .filter((u) => view.scenes.some((s) => s.index === u.index && s.awaiting === "review" && !s.failed))
    .map((u) => u.index + 1);
}

/** The offer's button label ("🔁 Redo shots 3 and 4"), or null when there is nothing to redo. */
export function redoLabel(view: JobView, card: SceneCard): string | null {
  if (card.awaiting !== "review") return null;
  const shots = redoable(view, card);
  return shots.length > 0 ? `🔁 Redo ${shotList(shots).toLowerCase()}` : null;
}
