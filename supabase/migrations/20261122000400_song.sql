-- Song route (music-video spec §4, §7): projects with their settings, per-role agent models, and
-- the active rulebook. Runs unchanged on Supabase, Postgres 15 (no extensions) and embedded PGlite.

-- A project groups songs under one set of global settings. config holds the spec's globalSettings
-- object; the code validates it with ProjectConfigSchema (graph/song/config.ts) on every read and
-- write, so settings added later get their defaults without a migration.
CREATE TABLE projects (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  name VARCHAR(255) NOT NULL,
  owner_user_id UUID REFERENCES users(id) ON DELETE SET NULL,
  -- The project an MP3 dropped with no set-up lands in: one per owner (and one ownerless).
  is_default BOOLEAN NOT NULL DEFAULT false,
  config JSONB NOT NULL DEFAULT '{}',
  created_at TIMESTAMPTZ DEFAULT NOW(),
  deleted_at TIMESTAMPTZ
);
CREATE INDEX idx_projects_owner ON projects(owner_user_id) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX uq_projects_default_per_owner ON projects(owner_user_id) NULLS NOT DISTINCT
  WHERE is_default AND deleted_at IS NULL;

-- Which model each agent role uses. Rows are never deleted: a change deactivates the previous row
-- and adds one, so the history of who ran on what stays readable.
CREATE TABLE agent_configs (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  project_id UUID NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  role VARCHAR(20) NOT NULL CHECK (role IN ('ORCHESTRATOR', 'AUDITOR', 'VISION_ANALYZER', 'DIRECTOR')),
  model_string VARCHAR(200) NOT NULL CHECK (length(model_string) > 0),
  active BOOLEAN NOT NULL DEFAULT true,
  updated_at TIMESTAMPTZ DEFAULT NOW()
);
CREATE UNIQUE INDEX uq_agent_configs_active ON agent_configs(project_id, role) WHERE active;
CREATE INDEX idx_agent_configs_project ON agent_configs(project_id);

-- The active rulebook: rules learnt from rejected images, retrieved by similarity to a shot.
-- Vectors are REAL[] rather than pgvector's vector: the same schema runs on PGlite and on Postgres
-- without extensions, and a project holds at most hundreds of rules, so store/rules.ts ranks one
-- project's rules in TypeScript (an exact scan; pgvector would only add an approximate index).
-- text_key is the normalised text that keeps a rule from being stored twice in a project.
CREATE TABLE rules (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  project_id UUID NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  text TEXT NOT NULL CHECK (length(text) BETWEEN 1 AND 500),
  text_key TEXT NOT NULL,
  embedding REAL[] NOT NULL,
  embedding_model VARCHAR(100) NOT NULL,
  -- Where the rule came from: {kind: 'rejection', jobId, shotId, versionId, feedback} or {kind: 'manual', ...}.
  source JSONB NOT NULL DEFAULT '{}',
  created_at TIMESTAMPTZ DEFAULT NOW(),
  deleted_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX uq_rules_project_text ON rules(project_id, text_key) WHERE deleted_at IS NULL;
CREATE INDEX idx_rules_project ON rules(project_id, created_at) WHERE deleted_at IS NULL;

ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent_configs ENABLE ROW LEVEL SECURITY;
ALTER TABLE rules ENABLE ROW LEVEL SECURITY;
