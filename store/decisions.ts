import type { Db } from "./db.js";

export interface QueuedDecision {
  id: string;
  jobId: string;
  interruptId: string;
  sceneId: string | null;
  kind: "review" | "render";
  value: Record<string, unknown>;
  actorId: string | null;
}

/**
 * The queue of resume values (table job_decisions). A click or a finished render is written here
 * first and applied by whichever runner holds the job's lease; the unique (job, interrupt) key
 * turns double clicks and platform retries into no-ops.
 */
export function createDecisions(db: Db) {
  /** @returns false when this interrupt already has a decision (duplicate). */
  async function enqueue(d: Omit<QueuedDecision, "id">): Promise<boolean> {
    const r = await db.query(
      `INSERT INTO job_decisions (job_id, interrupt_id, scene_id, kind, value, actor_id)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (job_id, interrupt_id) DO NOTHING RETURNING id`,
      [d.jobId, d.interruptId, d.sceneId, d.kind, JSON.stringify(d.value), d.actorId],
    );
    return r.rowCount > 0;
  }

  async function exists(jobId: string, interruptId: string): Promise<boolean> {
    const r = await db.query("SELECT 1 FROM job_decisions WHERE job_id = $1 AND interrupt_id = $2", [jobId, interruptId]);
    return r.rowCount > 0;
  }

  async function queued(jobId: string): Promise<QueuedDecision[]> {
    const r = await db.query<Record<string, any>>(
      `SELECT id, job_id, interrupt_id, scene_id, kind, value, actor_id FROM job_decisions
       WHERE job_id = $1 AND status = 'queued' ORDER BY created_at`,
      [jobId],
    );
    return r.rows.map((row) => ({
      id: row.id, jobId: row.job_id, interruptId: row.interrupt_id, sceneId: row.scene_id,
      kind: row.kind, value: row.value, actorId: row.actor_id,
    }));
  }

  async function mark(ids: string[], status: "applied" | "stale"): Promise<void> {
    if (ids.length === 0) return;
    await db.query(`UPDATE job_decisions SET status = $2, applied_at = NOW() WHERE id = ANY($1::uuid[])`, [ids, status]);
  }

  /** Jobs that have decisions nobody applied yet (a holder died between enqueue and resume). */
  async function jobsWithQueued(): Promise<string[]> {
    const r = await db.query<{ job_id: string }>("SELECT DISTINCT job_id FROM job_decisions WHERE status = 'queued'");
    return r.rows.map((row) => row.job_id);
  }

  return { enqueue, exists, queued, mark, jobsWithQueued };
}

export type Decisions = ReturnType<typeof createDecisions>;
