import type { Db } from "./db.js";
import type { Platform } from "./users.js";

export interface ChatLocation {
  platform: Platform;
  channelId: string;
  /** Parent message of the job's thread; empty when the channel itself is the thread. */
  threadId: string;
}

export interface ChatMessageRow extends ChatLocation {
  jobId: string;
  slot: string;
  messageId: string;
  renderedHash: string | null;
}

/**
 * Where a job's messages are on each platform (table chat_messages). Surfaces look a slot up
 * before posting so they edit in place, from any instance, after any restart.
 */
export function createChatMessages(db: Db) {
  async function get(jobId: string, at: ChatLocation, slot: string): Promise<ChatMessageRow | null> {
    const r = await db.query<Record<string, string>>(
      `SELECT message_id, rendered_hash FROM chat_messages
       WHERE job_id = $1 AND platform = $2 AND channel_id = $3 AND thread_id = $4 AND slot = $5`,
      [jobId, at.platform, at.channelId, at.threadId, slot],
    );
    const row = r.rows[0];
    return row ? { jobId, ...at, slot, messageId: row.message_id, renderedHash: row.rendered_hash } : null;
  }

  async function put(jobId: string, at: ChatLocation, slot: string, messageId: string, renderedHash: string | null): Promise<void> {
    await db.query(
      `INSERT INTO chat_messages (job_id, platform, channel_id, thread_id, slot, message_id, rendered_hash)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (job_id, platform, channel_id, thread_id, slot)
       DO UPDATE SET message_id = EXCLUDED.message_id, rendered_hash = EXCLUDED.rendered_hash, updated_at = NOW()`,
      [jobId, at.platform, at.channelId, at.threadId, slot, messageId, renderedHash],
    );
  }

  /** Every place a job is shown on a platform (its origin thread, and wherever /show re-posted it). */
  async function locations(jobId: string, platform: Platform): Promise<ChatLocation[]> {
    const r = await db.query<{ channel_id: string; thread_id: string }>(
      "SELECT DISTINCT channel_id, thread_id FROM chat_messages WHERE job_id = $1 AND platform = $2",
      [jobId, platform],
    );
    return r.rows.map((row) => ({ platform, channelId: row.channel_id, threadId: row.thread_id }));
  }

  return { get, put, locations };
}

export type ChatMessages = ReturnType<typeof createChatMessages>;
