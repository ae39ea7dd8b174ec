-- Core schema of the brand-video spec (§3), adapted to chat identities.
-- Runs unchanged on Supabase, Postgres 15 and embedded PGlite.

-- users: a chat identity (Slack/Discord user, the local page, the CLI). Chat users have no
-- e-mail, so identity is (platform, team, user id); e-mail stays optional for Supabase Auth users.
CREATE TABLE users (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  platform VARCHAR(20) NOT NULL CHECK (platform IN ('slack', 'discord', 'local', 'cli')),
  platform_team_id VARCHAR(64) NOT NULL DEFAULT '',
  platform_user_id VARCHAR(64) NOT NULL,
  email VARCHAR(255) UNIQUE,
  name VARCHAR(255),
  avatar_url TEXT,
  plan VARCHAR(50) DEFAULT 'free' NOT NULL,
  credits_remaining INTEGER DEFAULT 10 NOT NULL CHECK (credits_remaining >= 0),
  created_at TIMESTAMPTZ DEFAULT NOW(),
  updated_at TIMESTAMPTZ DEFAULT NOW(),
  deleted_at TIMESTAMPTZ,
  UNIQUE (platform, platform_team_id, platform_user_id)
);
CREATE INDEX idx_users_email ON users(email);
CREATE INDEX idx_users_plan ON users(plan);

CREATE TABLE vision_jobs (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  kind VARCHAR(10) NOT NULL DEFAULT 'image' CHECK (kind IN ('image', 'song')),

  -- Original upload (image_url holds the blob key of the content-addressed store)
  image_url TEXT NOT NULL,
  original_filename VARCHAR(255) NOT NULL,
  mime_type VARCHAR(50) NOT NULL,
  file_size INTEGER NOT NULL CHECK (file_size > 0),
  file_hash VARCHAR(64),

  -- Style reference (generated); style_processing = {method, strength, seed}
  style_reference_url TEXT,
  brand_essence_prompt TEXT,
  style_processing JSONB,

  status VARCHAR(20) DEFAULT 'pending' NOT NULL
    CHECK (status IN ('pending', 'analyzing', 'completed', 'flagged', 'failed', 'cancelled')),
  analysis_data JSONB,

  physics_score DECIMAL(3,2) CHECK (physics_score BETWEEN 0 AND 1),
  vibe_score DECIMAL(3,2) CHECK (vibe_score BETWEEN 0 AND 1),
  logic_score DECIMAL(3,2) CHECK (logic_score BETWEEN 0 AND 1),
  integrity_score DECIMAL(3,2) CHECK (integrity_score BETWEEN 0 AND 1),

  error_message TEXT,
  retry_count INTEGER DEFAULT 0,

  -- Where the job lives in chat ({platform, channel, thread, ...}); surfaces read it.
  origin JSONB NOT NULL DEFAULT '{}',

  created_at TIMESTAMPTZ DEFAULT NOW(),
  updated_at TIMESTAMPTZ DEFAULT NOW(),
  processed_at TIMESTAMPTZ,
  deleted_at TIMESTAMPTZ
);
CREATE INDEX idx_vision_jobs_user_id ON vision_jobs(user_id);
CREATE INDEX idx_vision_jobs_status ON vision_jobs(status);
CREATE INDEX idx_vision_jobs_created_at ON vision_jobs(created_at DESC);
CREATE INDEX idx_vision_jobs_user_status ON vision_jobs(user_id, status);
CREATE INDEX idx_vision_jobs_routing ON vision_jobs(physics_score, vibe_score, logic_score);
-- SHA-256 dedup: the same user dropping the same file reuses the paid analysis.
CREATE INDEX idx_vision_jobs_user_hash ON vision_jobs(user_id, file_hash) WHERE deleted_at IS NULL;

-- One production (director) run per job. Scenes and their versions have their own tables:
-- scenes_data keeps the director's storyboard exactly as produced, and the spec's
-- conversation_history moved to scene_messages because each scene has its own conversation.
CREATE TABLE vision_job_video_prompts (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  job_id UUID NOT NULL UNIQUE REFERENCES vision_jobs(id) ON DELETE CASCADE,
  production_engine VARCHAR(20) NOT NULL CHECK (production_engine IN ('KLING', 'LUMA', 'GEMINI_PRO')),
  routing_reason TEXT,
  status VARCHAR(30) DEFAULT 'scripting' NOT NULL
    CHECK (status IN ('scripting', 'preview_generation', 'review', 'rendering', 'completed', 'failed', 'cancelled')),
  scenes_data JSONB NOT NULL DEFAULT '[]',
  external_job_id VARCHAR(100),
  final_video_key TEXT,
  credits_used DECIMAL(10,2) DEFAULT 0,
  created_at TIMESTAMPTZ DEFAULT NOW(),
  updated_at TIMESTAMPTZ DEFAULT NOW(),
  completed_at TIMESTAMPTZ
);
CREATE INDEX idx_video_prompts_job_id ON vision_job_video_prompts(job_id);
CREATE INDEX idx_video_prompts_status ON vision_job_video_prompts(status);
CREATE INDEX idx_video_prompts_engine ON vision_job_video_prompts(production_engine);

-- A scene's current position (mutable pointer); its history is scene_versions.
CREATE TABLE scenes (
  id UUID PRIMARY KEY,
  job_id UUID NOT NULL REFERENCES vision_jobs(id) ON DELETE CASCADE,
  sequence_index INTEGER NOT NULL CHECK (sequence_index >= 0),
  traffic_light VARCHAR(10) NOT NULL DEFAULT 'PENDING' CHECK (traffic_light IN ('PENDING', 'GREEN', 'YELLOW', 'RED')),
  status VARCHAR(20) NOT NULL DEFAULT 'scripting'
    CHECK (status IN ('scripting', 'preview_generation', 'review', 'rendering', 'completed', 'failed')),
  current_version_id UUID,
  attempt_count INTEGER NOT NULL DEFAULT 0,
  decided_by UUID REFERENCES users(id),
  error_message TEXT,
  created_at TIMESTAMPTZ DEFAULT NOW(),
  updated_at TIMESTAMPTZ DEFAULT NOW(),
  UNIQUE (job_id, sequence_index)
);
CREATE INDEX idx_scenes_job_id ON scenes(job_id);
CREATE INDEX idx_scenes_decided_by ON scenes(decided_by);

-- Every script, preview, edit, re-roll and clip of a scene: appended, never changed.
CREATE TABLE scene_versions (
  id UUID PRIMARY KEY,
  scene_id UUID NOT NULL REFERENCES scenes(id) ON DELETE CASCADE,
  version_no INTEGER NOT NULL CHECK (version_no >= 1),
  kind VARCHAR(10) NOT NULL CHECK (kind IN ('preview', 'edit', 'reroll', 'clip', 'revert')),
  cinematography_prompt TEXT NOT NULL,
  camera_movement TEXT NOT NULL,
  lighting_notes TEXT NOT NULL,
  invariant_token TEXT NOT NULL,
  duration_s REAL NOT NULL CHECK (duration_s > 0),
  preview_key TEXT,
  preview_seed BIGINT,
  clip_key TEXT,
  engine VARCHAR(20) CHECK (engine IN ('KLING', 'LUMA', 'GEMINI_PRO')),
  model TEXT,
  fallback_triggered BOOLEAN,
  user_feedback TEXT,
  decided_by UUID REFERENCES users(id),
  created_at TIMESTAMPTZ DEFAULT NOW(),
  UNIQUE (scene_id, version_no)
);
CREATE INDEX idx_scene_versions_decided_by ON scene_versions(decided_by);

-- The YELLOW conversation of a scene (spec YellowContextPayload.conversation_history).
CREATE TABLE scene_messages (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  scene_id UUID NOT NULL REFERENCES scenes(id) ON DELETE CASCADE,
  role VARCHAR(10) NOT NULL CHECK (role IN ('user', 'assistant')),
  content TEXT NOT NULL,
  -- The decision that produced the turn; makes a replayed edit insert nothing twice.
  request_key TEXT NOT NULL,
  created_at TIMESTAMPTZ DEFAULT NOW(),
  UNIQUE (request_key, role)
);
CREATE INDEX idx_scene_messages_scene ON scene_messages(scene_id, created_at);

CREATE TABLE rate_limit_buckets (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  identifier VARCHAR(255) NOT NULL,
  endpoint VARCHAR(100) NOT NULL,
  request_count INTEGER DEFAULT 0,
  -- Count of the window before window_start: the sliding window weighs it by overlap.
  previous_count INTEGER NOT NULL DEFAULT 0,
  window_start TIMESTAMPTZ NOT NULL,
  window_end TIMESTAMPTZ NOT NULL,
  UNIQUE (identifier, endpoint)
);
CREATE INDEX idx_rate_limit_identifier ON rate_limit_buckets(identifier, endpoint);
CREATE INDEX idx_rate_limit_window_end ON rate_limit_buckets(window_end);

CREATE TABLE audit_logs (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id UUID REFERENCES users(id),
  action VARCHAR(100) NOT NULL,
  entity_type VARCHAR(50) NOT NULL,
  entity_id VARCHAR(100),
  details JSONB,
  ip_address VARCHAR(45),
  user_agent TEXT,
  created_at TIMESTAMPTZ DEFAULT NOW()
);
CREATE INDEX idx_audit_logs_user_id ON audit_logs(user_id);
CREATE INDEX idx_audit_logs_action ON audit_logs(action);
CREATE INDEX idx_audit_logs_entity ON audit_logs(entity_type, entity_id);
CREATE INDEX idx_audit_logs_created_at ON audit_logs(created_at DESC);

-- History tables refuse UPDATE and DELETE in the database itself, whoever connects.
CREATE FUNCTION refuse_history_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER scene_versions_append_only BEFORE UPDATE OR DELETE ON scene_versions
  FOR EACH ROW EXECUTE FUNCTION refuse_history_rewrite();
CREATE TRIGGER scene_messages_append_only BEFORE UPDATE OR DELETE ON scene_messages
  FOR EACH ROW EXECUTE FUNCTION refuse_history_rewrite();
CREATE TRIGGER audit_logs_append_only BEFORE UPDATE OR DELETE ON audit_logs
  FOR EACH ROW EXECUTE FUNCTION refuse_history_rewrite();
