import type { Db } from "./db.js";
import type { ConversationTurn, ProductionEngine, SceneScript } from "../tools/ports.js";

export type TrafficLight = "PENDING" | "GREEN" | "YELLOW" | "RED";
export type SceneStatus = "scripting" | "preview_generation" | "review" | "rendering" | "completed" | "failed";
export type VersionKind = "preview" | "edit" | "reroll" | "clip" | "revert";

/** One appended row of scene_versions: a script with its preview, or a clip. */
export interface SceneVersion extends SceneScript {
  id: string;
  sceneId: string;
  versionNo: number;
  kind: VersionKind;
  previewKey: string | null;
  previewSeed: number | null;
  clipKey: string | null;
  engine: ProductionEngine | null;
  model: string | null;
  fallbackTriggered: boolean | null;
  userFeedback: string | null;
  decidedBy: string | null;
  createdAt: string;
}

export interface SceneRow {
  id: string;
  jobId: string;
  sequenceIndex: number;
  trafficLight: TrafficLight;
  status: SceneStatus;
  attemptCount: number;
  decidedBy: string | null;
  errorMessage: string | null;
  /** Song shots only: the time range in the song, and what is sung meanwhile. */
  startMs: number | null;
  endMs: number | null;
  lyricsSnippet: string | null;
  description: string | null;
  current: SceneVersion | null;
}

type Raw = Record<string, any>;

function toVersion(r: Raw): SceneVersion {
  return {
    id: r.id,
    sceneId: r.scene_id,
    versionNo: Number(r.version_no),
    kind: r.kind,
    cinematographyPrompt: r.cinematography_prompt,
    cameraMovement: r.camera_movement,
    lightingNotes: r.lighting_notes,
    invariantToken: r.invariant_token,
    durationS: Number(r.duration_s),
    previewKey: r.preview_key,
    previewSeed: r.preview_seed === null ? null : Number(r.preview_seed),
    clipKey: r.clip_key,
    engine: r.engine,
    model: r.model,
    fallbackTriggered: r.fallback_triggered,
    userFeedback: r.user_feedback,
    decidedBy: r.decided_by,
    createdAt: new Date(r.created_at).toISOString(),
  };
}

export type NewVersion = Omit<SceneVersion, "versionNo" | "createdAt">;

/** Repository of scenes, their append-only versions and their YELLOW conversations. */
export function createScenes(db: Db) {
  async function create(jobId: string, sceneIds: string[]): Promise<void> {
    for (const [index, id] of sceneIds.entries()) {
      await db.query(
        `INSERT INTO scenes (id, job_id, sequence_index, status) VALUES ($1, $2, $3, 'preview_generation')
         ON CONFLICT (id) DO NOTHING`,
        [id, jobId, index],
      );
    }
  }

  /** Creates a song job's shots: scenes with a time range, lyrics and their section. */
  async function createShots(
    jobId: string,
    shots: Array<{ id: string; startMs: number; endMs: number; lyricsSnippet: string; section: string; description: string }>,
  ): Promise<void> {
    for (const [index, s] of shots.entries()) {
      await db.query(
        `INSERT INTO scenes (id, job_id, sequence_index, status, start_ms, end_ms, lyrics_snippet, section_title, description)
         VALUES ($1, $2, $3, 'scripting', $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
        [s.id, jobId, index, s.startMs, s.endMs, s.lyricsSnippet, s.section, s.description],
      );
    }
  }

  /**
   * Appends a version (its id comes from the step's idempotency key, so a replay inserts
   * nothing) and points the scene at it.
   */
  async function append(v: NewVersion, sceneStatus: SceneStatus): Promise<SceneVersion> {
    await db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO scene_versions (id, scene_id, version_no, kind, cinematography_prompt, camera_movement,
           lighting_notes, invariant_token, duration_s, preview_key, preview_seed, clip_key, engine, model,
           fallback_triggered, user_feedback, decided_by)
         SELECT $1, $2, COALESCE(MAX(version_no), 0) + 1, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16
         FROM scene_versions WHERE scene_id = $2
         ON CONFLICT (id) DO NOTHING`,
        [
          v.id, v.sceneId, v.kind, v.cinematographyPrompt, v.cameraMovement, v.lightingNotes, v.invariantToken,
          v.durationS, v.previewKey, v.previewSeed, v.clipKey, v.engine, v.model, v.fallbackTriggered,
          v.userFeedback, v.decidedBy,
        ],
      );
      await tx.query(
        `UPDATE scenes SET current_version_id = $2, status = $3, updated_at = NOW(),
           attempt_count = (SELECT COUNT(*) FROM scene_versions WHERE scene_id = $1 AND kind <> 'clip')
         WHERE id = $1`,
        [v.sceneId, v.id, sceneStatus],
      );
    });
    return (await version(v.id))!;
  }

  async function version(versionId: string): Promise<SceneVersion | null> {
    const r = await db.query("SELECT * FROM scene_versions WHERE id = $1", [versionId]);
    return r.rows[0] ? toVersion(r.rows[0]) : null;
  }

  async function versions(sceneId: string): Promise<SceneVersion[]> {
    const r = await db.query("SELECT * FROM scene_versions WHERE scene_id = $1 ORDER BY version_no", [sceneId]);
    return r.rows.map(toVersion);
  }

  async function setState(
    sceneId: string,
    patch: { status?: SceneStatus; trafficLight?: TrafficLight; decidedBy?: string | null; errorMessage?: string | null },
  ): Promise<void> {
    await db.query(
      `UPDATE scenes SET status = COALESCE($2, status), traffic_light = COALESCE($3, traffic_light),
         decided_by = CASE WHEN $4::boolean THEN $5::uuid ELSE decided_by END,
         error_message = CASE WHEN $6::boolean THEN $7 ELSE error_message END, updated_at = NOW()
       WHERE id = $1`,
      [
        sceneId, patch.status ?? null, patch.trafficLight ?? null,
        patch.decidedBy !== undefined, patch.decidedBy ?? null,
        patch.errorMessage !== undefined, patch.errorMessage ?? null,
      ],
    );
  }

  async function list(jobId: string): Promise<SceneRow[]> {
    const r = await db.query(
      `SELECT s.id AS s_id, s.job_id, s.sequence_index, s.traffic_light, s.status, s.attempt_count, s.decided_by AS s_decided_by,
              s.error_message, s.start_ms, s.end_ms, s.lyrics_snippet, s.description AS shot_description, v.*
       FROM scenes s LEFT JOIN scene_versions v ON v.id = s.current_version_id
       WHERE s.job_id = $1 ORDER BY s.sequence_index`,
      [jobId],
    );
    return r.rows.map((row: Raw) => ({
      id: row.s_id,
      jobId: row.job_id,
      sequenceIndex: Number(row.sequence_index),
      trafficLight: row.traffic_light,
      status: row.status,
      attemptCount: Number(row.attempt_count),
      decidedBy: row.s_decided_by,
      errorMessage: row.error_message,
      startMs: row.start_ms === null ? null : Number(row.start_ms),
      endMs: row.end_ms === null ? null : Number(row.end_ms),
      lyricsSnippet: row.lyrics_snippet,
      description: row.shot_description,
      current: row.id ? toVersion(row) : null,
    }));
  }

  /** Appends one YELLOW turn; the request key makes a replayed edit add nothing. */
  async function addMessage(sceneId: string, turn: Omit<ConversationTurn, "timestamp">, requestKey: string): Promise<void> {
    await db.query(
      `INSERT INTO scene_messages (scene_id, role, content, request_key) VALUES ($1, $2, $3, $4)
       ON CONFLICT (request_key, role) DO NOTHING`,
      [sceneId, turn.role, turn.content, requestKey],
    );
  }

  async function messages(sceneId: string): Promise<ConversationTurn[]> {
    const r = await db.query<{ role: "user" | "assistant"; content: string; created_at: string }>(
      "SELECT role, content, created_at FROM scene_messages WHERE scene_id = $1 ORDER BY created_at, role DESC",
      [sceneId],
    );
    return r.rows.map((m) => ({ role: m.role, content: m.content, timestamp: new Date(m.created_at).toISOString() }));
  }

  return { create, createShots, append, version, versions, setState, list, addMessage, messages };
}

export type Scenes = ReturnType<typeof createScenes>;
