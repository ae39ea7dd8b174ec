import type { Runner } from "../../../graph/runner.js";
import type { JobView, SceneCard } from "../../../graph/jobView.js";
import type { VersionKind } from "../../../store/scenes.js";
import { impactNote } from "./impact.js";

/*
 * A scene's versions as every surface lists them (/versions, the 🕘 Versions button): newest first,
 * what each one was (first draft, edit, re-roll, revert, clip), the note that asked for it, who
 * decided, and whether Revert can bring it back now.
 */

export interface VersionEntry {
  versionNo: number;
  kind: VersionKind;
  /** "🟡 edit", "🔴 re-roll"… with a text word, so it reads without emoji too. */
  label: string;
  previewKey: string | null;
  /** The 🟡 note (or "revert to v2") that made it. */
  note: string | null;
  /** Who asked for it (a display name), when someone did. */
  decidedBy: string | null;
  at: Date;
  /** The version the card shows now. */
  current: boolean;
  /** Whether Revert may bring it back now; `why` says why not. */
  revertable: boolean;
}

export interface SceneVersions {
  card: SceneCard;
  entries: VersionEntry[];
  /** Versions not listed (the list keeps the newest `limit`). */
  hidden: number;
  /** Why no version can be brought back now, when none can. */
  revertNote: string | null;
  /** Later shots drawn from this one, which a revert leaves as they are (see impact.ts). */
  impact: string | null;
}

const KIND_LABEL: Record<VersionKind, string> = {
  preview: "first draft", edit: "🟡 edit", reroll: "🔴 re-roll", revert: "↩️ revert", clip: "🎬 clip",
};

export async function sceneVersions(runner: Pick<Runner, "versions" | "users">, view: JobView, sceneIndex: number, limit = 10): Promise<SceneVersions | null> {
  const card = view.scenes.find((s) => s.index === sceneIndex);
  if (!card) return null;
  const all = await runner.versions(view.jobId, sceneIndex);
  const names = new Map<string, string>();
  for (const id of new Set(all.flatMap((v) => (v.decidedBy ? [v.decidedBy] : [])))) {
    const user = await runner.users.get(id);
    if (user) names.set(id, user.name ?? user.platform_user_id);
  }
  const waiting = card.awaiting === "review";
  const revertNote = waiting ? null : `Revert works while ${view.kind === "song" ? "the shot" : "the scene"} waits for a review.`;
  const entries = all.slice().reverse().slice(0, limit).map((v): VersionEntry => ({
    versionNo: v.versionNo,
    kind: v.kind,
    label: KIND_LABEL[v.kind],
    previewKey: v.previewKey,
    note: v.userFeedback,
    decidedBy: v.decidedBy ? names.get(v.decidedBy) ?? null : null,
    at: new Date(v.createdAt),
    current: v.versionNo === card.versionNo,
    revertable: revertNote === null && v.kind !== "clip" && !!v.previewKey && v.versionNo !== card.versionNo,
  }));
  return { card, entries, hidden: Math.max(0, all.length - limit), revertNote, impact: impactNote(view, card) };
}

/** "v3 · 🟡 edit · “warmer light” · by ann": one line per version (names and notes are not escaped). */
export function versionLine(e: VersionEntry): string {
  return [`v${e.versionNo}`, e.label, e.note ? `“${e.note}”` : "", e.decidedBy ? `by ${e.decidedBy}` : "", e.current ? "(on the card now)" : ""]
    .filter(Boolean).join(" · ");
}
