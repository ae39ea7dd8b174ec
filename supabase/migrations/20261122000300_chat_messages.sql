-- Chat messages a surface posted for a job (status line, scene cards, final video), so any
-- instance can edit them in place after a restart: nothing lives in process memory.
CREATE TABLE chat_messages (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  job_id UUID NOT NULL REFERENCES vision_jobs(id) ON DELETE CASCADE,
  platform VARCHAR(20) NOT NULL CHECK (platform IN ('slack', 'discord', 'local', 'cli')),
  channel_id VARCHAR(64) NOT NULL,
  -- Parent message of the job's thread (Slack thread_ts, Discord thread/channel id).
  thread_id VARCHAR(64) NOT NULL DEFAULT '',
  -- 'status', 'scene:<index>' or 'final'.
  slot VARCHAR(20) NOT NULL,
  message_id VARCHAR(64) NOT NULL,
  -- What the message shows now, so an unchanged view is not edited again.
  rendered_hash VARCHAR(64),
  updated_at TIMESTAMPTZ DEFAULT NOW(),
  UNIQUE (job_id, platform, channel_id, thread_id, slot)
);
CREATE INDEX idx_chat_messages_job ON chat_messages(job_id);
ALTER TABLE chat_messages ENABLE ROW LEVEL SECURITY;
