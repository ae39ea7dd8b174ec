-- Every running bot process on a shared database, with where it keeps media: a second instance
-- whose media the others cannot read is refused at start-up instead of corrupting jobs.
CREATE TABLE instances (
  id TEXT PRIMARY KEY,
  role VARCHAR(10) NOT NULL,
  host TEXT NOT NULL,
  pid INTEGER NOT NULL,
  -- "local:<host>:<dir>" or "supabase:<url>/<bucket>": instances must agree on it.
  media TEXT NOT NULL,
  started_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_instances_heartbeat ON instances(heartbeat_at);
ALTER TABLE instances ENABLE ROW LEVEL SECURITY;
