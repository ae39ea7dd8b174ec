import type { Db, DbClient } from "./db.js";
import type { BrandAnalysis, ProductionEngine, SceneScript, SongAnalysis } from "../tools/ports.js";

export type JobStatus = "pending" | "analyzing" | "completed" | "flagged" | "failed" | "cancelled";
export type ProductionStatus =
  | "scripting" | "preview_generation" | "review" | "rendering" | "completed" | "failed" | "cancelled";

/** Where a job lives in chat; surfaces fill it, the graph never reads it. */
export type JobOrigin = Record<string, string | number | boolean | null>;

export interface JobRow {
  id: string;
  userId: string;
  kind: "image" | "song";
  inputKey: string;
  originalFilename: string;
  mimeType: string;
  fileSize: number;
  fileHash: string | null;
  status: JobStatus;
  errorMessage: string | null;
  analysis: BrandAnalysis | null;
  styleReferenceKey: string | null;
  styleProcessing: { method: string; strength: number; seed: number } | null;
  origin: JobOrigin;
  projectId: string | null;
  createdAt: string;
  production: {
    engine: ProductionEngine;
    routingReason: string | null;
    status: ProductionStatus;
    finalVideoKey: string | null;
  } | null;
}

export interface NewJob {
  userId: string;
  kind: "image" | "song";
  inputKey: string;
  filename: string;
  mimeType: string;
  fileSize: number;
  fileHash: string;
  origin: JobOrigin;
  /** Song jobs run under a project (its LoRA, models, rulebook). */
  projectId?: string | null;
}

const SELECT_JOB = `
  SELECT j.id, j.user_id, j.kind, j.image_url, j.original_filename, j.mime_type, j.file_size, j.file_hash,
         j.status, j.error_message, j.analysis_data, j.style_reference_url, j.style_processing, j.origin,
         j.created_at, j.project_id, p.production_engine, p.routing_reason, p.status AS production_status, p.final_video_key
  FROM vision_jobs j LEFT JOIN vision_job_video_prompts p ON p.job_id = j.id`;

type Raw = Record<string, any>;

function toJob(r: Raw): JobRow {
  return {
    id: r.id,
    userId: r.user_id,
    kind: r.kind,
    inputKey: r.image_url,
    originalFilename: r.original_filename,
    mimeType: r.mime_type,
    fileSize: Number(r.file_size),
    fileHash: r.file_hash,
    status: r.status,
    errorMessage: r.error_message,
    analysis: r.analysis_data,
    styleReferenceKey: r.style_reference_url,
    styleProcessing: r.style_processing,
    origin: r.origin ?? {},
    projectId: r.project_id ?? null,
    createdAt: new Date(r.created_at).toISOString(),
    production: r.production_engine
      ? {
          engine: r.production_engine,
          routingReason: r.routing_reason,
          status: r.production_status,
          finalVideoKey: r.final_video_key,
        }
      : null,
  };
}

/** Repository of jobs (vision_jobs) and their production rows (vision_job_video_prompts). */
export function createJobs(db: Db) {
  async function insert(job: NewJob, client: DbClient | Db = db): Promise<string> {
    const r = await client.query<{ id: string }>(
      `INSERT INTO vision_jobs (user_id, kind, image_url, original_filename, mime_type, file_size, file_hash, origin, project_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
      [job.userId, job.kind, job.inputKey, job.filename, job.mimeType, job.fileSize, job.fileHash, JSON.stringify(job.origin), job.projectId ?? null],
    );
    return r.rows[0].id;
  }

  async function get(jobId: string): Promise<JobRow | null> {
    const r = await db.query(`${SELECT_JOB} WHERE j.id = $1 AND j.deleted_at IS NULL`, [jobId]);
    return r.rows[0] ? toJob(r.rows[0]) : null;
  }

  /** The analysis of an earlier job of the same user on the same bytes (SHA-256 dedup). */
  async function reusableAnalysis(userId: string, fileHash: string, exceptJobId: string): Promise<BrandAnalysis | null> {
    const r = await db.query<{ analysis_data: BrandAnalysis }>(
      `SELECT analysis_data FROM vision_jobs
       WHERE user_id = $1 AND file_hash = $2 AND id <> $3 AND analysis_data IS NOT NULL AND deleted_at IS NULL
       ORDER BY created_at DESC LIMIT 1`,
      [userId, fileHash, exceptJobId],
    );
    return r.rows[0]?.analysis_data ?? null;
  }

  async function setStatus(jobId: string, status: JobStatus, errorMessage: string | null = null): Promise<void> {
    await db.query(
      `UPDATE vision_jobs SET status = $2::varchar, error_message = COALESCE($3::text, error_message), updated_at = NOW(),
         processed_at = CASE WHEN $2::varchar IN ('completed', 'flagged', 'failed') THEN NOW() ELSE processed_at END
       WHERE id = $1 AND status <> 'cancelled'`,
      [jobId, status, errorMessage],
    );
  }

  async function saveAnalysis(jobId: string, a: BrandAnalysis): Promise<void> {
    await db.query(
      `UPDATE vision_jobs SET analysis_data = $2, physics_score = $3, vibe_score = $4, logic_score = $5,
         integrity_score = $6, brand_essence_prompt = $7, updated_at = NOW() WHERE id = $1`,
      [jobId, JSON.stringify(a), a.physics, a.vibe, a.logic, a.integrity, a.brandEssencePrompt],
    );
  }

  /** The song analysis is the job's analysis_data (its shots live in scenes). */
  async function saveSongAnalysis(jobId: string, analysis: SongAnalysis): Promise<void> {
    await db.query("UPDATE vision_jobs SET analysis_data = $2, updated_at = NOW() WHERE id = $1", [jobId, JSON.stringify(analysis)]);
  }

  async function saveStyleReference(
    jobId: string,
    key: string,
    processing: { method: string; strength: number; seed: number },
  ): Promise<void> {
    await db.query(
      `UPDATE vision_jobs SET style_reference_url = $2, style_processing = $3, updated_at = NOW() WHERE id = $1`,
      [jobId, key, JSON.stringify(processing)],
    );
  }

  /** Creates the production row once (cancelled if the job was cancelled meanwhile). */
  async function createProduction(
    jobId: string,
    engine: ProductionEngine,
    routingReason: string,
    storyboard: SceneScript[],
  ): Promise<void> {
    await db.query(
      `INSERT INTO vision_job_video_prompts (job_id, production_engine, routing_reason, status, scenes_data)
       SELECT $1, $2, $3, CASE WHEN j.status = 'cancelled' THEN 'cancelled' ELSE 'preview_generation' END, $4
       FROM vision_jobs j WHERE j.id = $1 ON CONFLICT (job_id) DO NOTHING`,
      [jobId, engine, routingReason, JSON.stringify(storyboard)],
    );
  }

  async function setProductionStatus(jobId: string, status: ProductionStatus, finalVideoKey?: string): Promise<void> {
    await db.query(
      `UPDATE vision_job_video_prompts SET status = $2::varchar, final_video_key = COALESCE($3::text, final_video_key),
         updated_at = NOW(), completed_at = CASE WHEN $2::varchar = 'completed' THEN NOW() ELSE completed_at END
       WHERE job_id = $1 AND status <> 'cancelled'`,
      [jobId, status, finalVideoKey ?? null],
    );
  }

  /** The director's storyboard exactly as produced (scene scripts in order). */
  async function storyboard(jobId: string): Promise<SceneScript[]> {
    const r = await db.query<{ scenes_data: SceneScript[] }>(
      "SELECT scenes_data FROM vision_job_video_prompts WHERE job_id = $1",
      [jobId],
    );
    return r.rows[0]?.scenes_data ?? [];
  }

  /** Jobs a runner may have to continue: not finished, not flagged, not cancelled. */
  async function listUnfinished(): Promise<string[]> {
    const r = await db.query<{ id: string }>(
      `SELECT j.id FROM vision_jobs j LEFT JOIN vision_job_video_prompts p ON p.job_id = j.id
       WHERE j.deleted_at IS NULL AND j.status NOT IN ('flagged', 'failed', 'cancelled')
         AND (p.status IS NULL OR p.status NOT IN ('completed', 'failed', 'cancelled'))
       ORDER BY j.created_at`,
    );
    return r.rows.map((row) => row.id);
  }

  /** The user's jobs, newest first (for /status). */
  async function listForUser(userId: string, limit = 10): Promise<JobRow[]> {
    const r = await db.query(
      `${SELECT_JOB} WHERE j.user_id = $1 AND j.deleted_at IS NULL ORDER BY j.created_at DESC LIMIT $2`,
      [userId, limit],
    );
    return r.rows.map(toJob);
  }

  return {
    insert, get, reusableAnalysis, setStatus, saveAnalysis, saveSongAnalysis, saveStyleReference, createProduction,
    setProductionStatus, storyboard, listUnfinished, listForUser,
  };
}

export type Jobs = ReturnType<typeof createJobs>;
