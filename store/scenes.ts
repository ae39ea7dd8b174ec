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
  /** Song shots: the end anchor frame, drawn with the start frame before the 🟢. */
  endFrameKey?: string | null;
  /** Song shots: versions of earlier shots this image was drawn from (continuity references). */
  referenceVersionIds?: string[];
  /** Song shots: the project's reference sheet the image was drawn from, if any. */
  referenceSheetKey?: string | null;
  /** Song shots: the readable prompt prefix, e.g. "S03_V2_FLUX2". */
  promptTag?: string | null;
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
  /** Song shots: the section the shot belongs to, and how many beats fall inside it. */
  sectionTitle: string | null;
  beatCount: number | null;
  current: SceneVersion | null;
}

/** A later shot whose current image was drawn from an earlier shot's image (see Scenes.dependents). */
export interface DependentShot {
  sceneId: string;
  sequenceIndex: number;
  /** The dependent shot's latest image version, the one drawn from the reference. */
  versionNo: number;
  /** Which version of the earlier shot it used. */
  referenceVersionNo: number;
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
    endFrameKey: r.end_frame_key ?? null,
    referenceVersionIds: r.reference_version_ids ?? [],
    referenceSheetKey: r.reference_sheet_key ?? null,
    promptTag: r.prompt_tag ?? null,
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

  /** Creates a song job's shots: scenes with a time range, lyrics, their section and beat count. */
  async function createShots(
    jobId: string,
    shots: Array<{ id: string; startMs: number; endMs: number; lyricsSnippet: string; section: string; description: string; beatCount?: number }>,
  ): Promise<void> {
    for (const [index, s] of shots.entries()) {
      await db.query(
        `INSERT INTO scenes (id, job_id, sequence_index, status, start_ms, end_ms, lyrics_snippet, section_title, description, beat_count)
         VALUES ($1, $2, $3, 'scripting', $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING`,
        [s.id, jobId, index, s.startMs, s.endMs, s.lyricsSnippet, s.section, s.description, s.beatCount ?? null],
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
           fallback_triggered, user_feedback, decided_by, end_frame_key, reference_version_ids, reference_sheet_key, prompt_tag)
         SELECT $1, $2, COALESCE(MAX(version_no), 0) + 1, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
           $17, $18::uuid[], $19, $20
         FROM scene_versions WHERE scene_id = $2
         ON CONFLICT (id) DO NOTHING`,
        [
          v.id, v.sceneId, v.kind, v.cinematographyPrompt, v.cameraMovement, v.lightingNotes, v.invariantToken,
          v.durationS, v.previewKey, v.previewSeed, v.clipKey, v.engine, v.model, v.fallbackTriggered,
          v.userFeedback, v.decidedBy, v.endFrameKey ?? null, v.referenceVersionIds ?? [], v.referenceSheetKey ?? null, v.promptTag ?? null,
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
              s.error_message, s.start_ms, s.end_ms, s.lyrics_snippet, s.description AS shot_description,
              s.section_title, s.beat_count, v.*
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
      sectionTitle: row.section_title ?? null,
      beatCount: row.beat_count === null || row.beat_count === undefined ? null : Number(row.beat_count),
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

  /**
   * The impact of changing a shot, for every shot of a job at once: later shots whose latest image
   * was drawn with one of its versions as a continuity reference (shown before a revert or an edit,
   * with an offer to redo them). Keyed by the earlier shot's id, each list ordered by position.
   */
  async function impact(jobId: string): Promise<Map<string, DependentShot[]>> {
    const r = await db.query<{ source_id: string; id: string; sequence_index: number; version_no: number; reference_version_no: number }>(
      `WITH latest AS (
         SELECT DISTINCT ON (v.scene_id) v.scene_id, v.version_no, v.reference_version_ids
         FROM scene_versions v JOIN scenes s ON s.id = v.scene_id
         WHERE s.job_id = $1 AND v.kind <> 'clip'
         ORDER BY v.scene_id, v.version_no DESC)
       SELECT r.scene_id AS source_id, s.id, s.sequence_index, l.version_no, MAX(r.version_no) AS reference_version_no
       FROM latest l JOIN scenes s ON s.id = l.scene_id
         JOIN scene_versions r ON r.id = ANY(l.reference_version_ids)
         JOIN scenes src ON src.id = r.scene_id AND src.sequence_index < s.sequence_index
       GROUP BY r.scene_id, s.id, s.sequence_index, l.version_no
       ORDER BY s.sequence_index`,
      [jobId],
    );
    const bySource = new Map<string, DependentShot[]>();
    for (const row of r.rows) {
      const list = bySource.get(row.source_id) ?? [];
      list.push({ sceneId: row.id, sequenceIndex: Number(row.sequence_index), versionNo: Number(row.version_no), referenceVersionNo: Number(row.reference_version_no) });
      bySource.set(row.source_id, list);
    }
    return bySource;
  }

  /** The impact of changing one shot (see impact). */
  async function dependents(sceneId: string): Promise<DependentShot[]> {
    const r = await db.query<{ job_id: string }>("SELECT job_id FROM scenes WHERE id = $1", [sceneId]);
    if (!r.rows[0]) return [];
    return (await impact(r.rows[0].job_id)).get(sceneId) ?? [];
  }

  /** Every version of a scene, oldest first, with the name of who decided it (what /versions lists). */
  async function history(sceneId: string): Promise<Array<SceneVersion & { decidedByName: string | null }>> {
    const r = await db.query(
      `SELECT v.*, COALESCE(u.name, u.platform_user_id) AS decided_by_name
       FROM scene_versions v LEFT JOIN users u ON u.id = v.decided_by
       WHERE v.scene_id = $1 ORDER BY v.version_no`,
      [sceneId],
    );
    return r.rows.map((row: Raw) => ({ ...toVersion(row), decidedByName: row.decided_by_name ?? null }));
  }

  return { create, createShots, append, version, versions, history, setState, list, addMessage, messages, impact, dependents };
}

export type Scenes = ReturnType<typeof createScenes>;
