-- Song jobs run under a project, and their scenes are shots of the song: a time range, a lyrics
-- snippet and the shot lifecycle of the music-video spec, whose every transition is logged.
ALTER TABLE vision_jobs ADD COLUMN project_id UUID REFERENCES projects(id);
CREATE INDEX idx_vision_jobs_project ON vision_jobs(project_id);

ALTER TABLE scenes ADD COLUMN start_ms INTEGER CHECK (start_ms >= 0);
ALTER TABLE scenes ADD COLUMN end_ms INTEGER;
ALTER TABLE scenes ADD COLUMN lyrics_snippet TEXT;
-- The song section the shot belongs to (the analysis groups shots into scenes).
ALTER TABLE scenes ADD COLUMN section_title TEXT;
-- What the shot shows, as the analysis described it (before the prompt policy adds its terms).
ALTER TABLE scenes ADD COLUMN description TEXT;
ALTER TABLE scenes ADD CONSTRAINT scenes_time_range CHECK (end_ms IS NULL OR end_ms > start_ms);

CREATE TABLE shot_states (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  job_id UUID NOT NULL REFERENCES vision_jobs(id) ON DELETE CASCADE,
  -- NULL for job-wide states (AUDIO_ANALYSIS, FINAL_RENDER).
  scene_id UUID REFERENCES scenes(id) ON DELETE CASCADE,
  state VARCHAR(20) NOT NULL CHECK (state IN ('AUDIO_ANALYSIS', 'DRAFT', 'VALIDATION', 'GENERATING_IMAGE',
    'AWAITING_APPROVAL', 'REFINING', 'GENERATING_VIDEO', 'COMPLETED', 'FINAL_RENDER', 'FAILED')),
  detail TEXT,
  -- The graph step that entered the state: a replayed step logs nothing twice.
  step_key TEXT NOT NULL UNIQUE,
  created_at TIMESTAMPTZ DEFAULT clock_timestamp()
);
CREATE INDEX idx_shot_states_job ON shot_states(job_id, created_at);
CREATE INDEX idx_shot_states_scene ON shot_states(scene_id, created_at);
CREATE TRIGGER shot_states_append_only BEFORE UPDATE OR DELETE ON shot_states
  FOR EACH ROW EXECUTE FUNCTION refuse_history_rewrite();
ALTER TABLE shot_states ENABLE ROW LEVEL SECURITY;
