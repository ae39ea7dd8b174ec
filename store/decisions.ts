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
  /**
   * @param held part of a batch: invisible to the runner until release(), so the whole batch
   *   resumes the graph in one pass.
   * @returns the decision's id, or null when this interrupt already has a decision (duplicate).
   */
  async function enqueue(d: Omit<QueuedDecision, "id">, held = false): Promise<string | null> {
    const r = await db.query<{ id: string }>(
      `INSERT INTO job_decisions (job_id, interrupt_id, scene_id, kind, value, actor_id, status)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (job_id, interrupt_id) DO NOTHING RETURNING id`,
      [d.jobId, d.interruptId, d.sceneId, d.kind, JSON.stringify(d.value), d.actorId, held ? "held" : "queued"],
    );
    return r.rows[0]?.id ?? null;
  }

  /** Hands a held batch to the runner, all at once. */
  async function release(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await db.query(`UPDATE job_decisions SET status = 'queued' WHERE id = ANY($1::uuid[]) AND status = 'held'`, [ids]);
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

  /** Batches whose process died before releasing them are released by whoever recovers. */
  async function releaseAbandoned(olderThanS = 60): Promise<void> {
    await db.query(
      `UPDATE job_decisions SET status = 'queued' WHERE status = 'held' AND created_at < NOW() - make_interval(secs => $1)`,
      [olderThanS],
    );
  }

  /** Jobs that have decisions nobody applied yet (a holder died between enqueue and resume). */
  async function jobsWithQueued(): Promise<string[]> {
    const r = await db.query<{ job_id: string }>("SELECT DISTINCT job_id FROM job_decisions WHERE status = 'queued'");
    return r.rows.map((row) => row.job_id);
  }

  return { enqueue, release, releaseAbandoned, exists, queued, mark, jobsWithQueued };
}

export type Decisions = ReturnType<typeof createDecisions>;
