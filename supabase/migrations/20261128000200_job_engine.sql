-- The job engine (BullMQ) serialises each job's graph passes and hands a dead worker's run to a
-- live one, so the home-made lease rows are gone.
DROP TABLE IF EXISTS leases;

-- What the provider last said about a render it has not finished: shown on the scene's card
-- ("waiting in the provider's queue, 3rd") and used to tell waiting from failing.
ALTER TABLE provider_calls ADD COLUMN provider_status VARCHAR(12)
  CHECK (provider_status IN ('queued', 'running', 'unknown'));
ALTER TABLE provider_calls ADD COLUMN provider_position INTEGER;
ALTER TABLE provider_calls ADD COLUMN checked_at TIMESTAMPTZ;
-- How many times this key was sent to the provider: above 1 only when a submission in flight at a
-- crash could not be reconciled and was sent again (the job's cost line shows it).
ALTER TABLE provider_calls ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
-- When the current attempt was sent: a submission without a request id younger than the grace
-- period may still be answered (by its webhook) and is not sent again.
ALTER TABLE provider_calls ADD COLUMN submitted_at TIMESTAMPTZ;
CREATE INDEX idx_provider_calls_pending ON provider_calls(job_id) WHERE status = 'submitted';
