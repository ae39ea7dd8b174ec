import type { Db } from "./db.js";

export const SHOT_STATES = [
  "AUDIO_ANALYSIS", "DRAFT", "VALIDATION", "GENERATING_IMAGE", "AWAITING_APPROVAL",
  "REFINING", "GENERATING_VIDEO", "COMPLETED", "FINAL_RENDER", "FAILED",
] as const;
/** The shot lifecycle of the music-video spec (§7 state machine). */
export type ShotState = (typeof SHOT_STATES)[number];

export interface ShotStateRow {
  sceneId: string | null;
  state: ShotState;
  detail: string | null;
  createdAt: string;
}

/**
 * The append-only log of shot lifecycle transitions (table shot_states). Each entry is keyed by
 * the graph step that caused it, so replaying a step after a resume logs nothing twice.
 */
export function createShotStates(db: Db) {
  async function enter(jobId: string, sceneId: string | null, state: ShotState, stepKey: string, detail?: string): Promise<void> {
    await db.query(
      `INSERT INTO shot_states (job_id, scene_id, state, detail, step_key) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (step_key) DO NOTHING`,
      [jobId, sceneId, state, detail ?? null, stepKey],
    );
  }

  async function history(jobId: string): Promise<ShotStateRow[]> {
    const r = await db.query<{ scene_id: string | null; state: ShotState; detail: string | null; created_at: string }>(
      "SELECT scene_id, state, detail, created_at FROM shot_states WHERE job_id = $1 ORDER BY created_at, id",
      [jobId],
    );
    return r.rows.map((s) => ({ sceneId: s.scene_id, state: s.state, detail: s.detail, createdAt: new Date(s.created_at).toISOString() }));
  }

  return { enter, history };
}

export type ShotStates = ReturnType<typeof createShotStates>;
