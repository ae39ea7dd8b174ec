-- What the runner needs to be correct across processes: leases, the decision queue and the
-- ledger of paid provider calls.

-- A lease row per job (and per named task such as migrations). Taken with
-- INSERT … ON CONFLICT … WHERE expires_at < now(): works through transaction poolers,
-- unlike advisory locks.
CREATE TABLE leases (
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL
);

-- Human decisions and provider results waiting to resume a job's graph. One row per
-- interrupt: a double click or a platform retry hits the unique key and changes nothing.
CREATE TABLE job_decisions (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  job_id UUID NOT NULL REFERENCES vision_jobs(id) ON DELETE CASCADE,
  interrupt_id TEXT NOT NULL,
  scene_id UUID REFERENCES scenes(id) ON DELETE CASCADE,
  kind VARCHAR(10) NOT NULL CHECK (kind IN ('review', 'render')),
  value JSONB NOT NULL,
  actor_id UUID REFERENCES users(id),
  -- 'held': part of a batch (Approve all) not released yet, so the batch resumes the graph at once.
  status VARCHAR(10) NOT NULL DEFAULT 'queued' CHECK (status IN ('held', 'queued', 'applied', 'stale')),
  created_at TIMESTAMPTZ DEFAULT NOW(),
  applied_at TIMESTAMPTZ,
  UNIQUE (job_id, interrupt_id)
);
CREATE INDEX idx_job_decisions_queued ON job_decisions(job_id) WHERE status = 'queued';
CREATE INDEX idx_job_decisions_actor ON job_decisions(actor_id);
CREATE INDEX idx_job_decisions_scene ON job_decisions(scene_id);

-- Every paid provider call, keyed by an idempotency key derived from the job, scene and
-- decision. A request id is stored before waiting on it, so a restart collects the same
-- request instead of paying again.
CREATE TABLE provider_calls (
  idempotency_key TEXT PRIMARY KEY,
  job_id UUID NOT NULL REFERENCES vision_jobs(id) ON DELETE CASCADE,
  scene_id UUID REFERENCES scenes(id) ON DELETE CASCADE,
  operation VARCHAR(40) NOT NULL,
  provider VARCHAR(40) NOT NULL,
  request_id TEXT,
  status VARCHAR(12) NOT NULL DEFAULT 'submitted' CHECK (status IN ('submitted', 'completed', 'failed')),
  result JSONB,
  error_message TEXT,
  cost DECIMAL(10,4) NOT NULL DEFAULT 0,
  created_at TIMESTAMPTZ DEFAULT NOW(),
  completed_at TIMESTAMPTZ
);
CREATE INDEX idx_provider_calls_job ON provider_calls(job_id);
CREATE INDEX idx_provider_calls_scene ON provider_calls(scene_id);
CREATE INDEX idx_provider_calls_request ON provider_calls(request_id);

-- Row level security on: the bot connects as the table owner (or Supabase's service role),
-- which bypasses it, while Supabase's anon/authenticated roles see nothing by default.
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE vision_jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE vision_job_video_prompts ENABLE ROW LEVEL SECURITY;
ALTER TABLE scenes ENABLE ROW LEVEL SECURITY;
ALTER TABLE scene_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE scene_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE rate_limit_buckets ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE leases ENABLE ROW LEVEL SECURITY;
ALTER TABLE job_decisions ENABLE ROW LEVEL SECURITY;
ALTER TABLE provider_calls ENABLE ROW LEVEL SECURITY;
