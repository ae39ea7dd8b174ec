-- Every change to a user's credits: a reservation when a render is approved, a refund when it
-- fails for good, a grant by an operator. Append-only; users.credits_remaining is its running sum.
CREATE TABLE credit_ledger (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  job_id UUID REFERENCES vision_jobs(id) ON DELETE CASCADE,
  scene_id UUID REFERENCES scenes(id) ON DELETE CASCADE,
  -- One entry per approval (reserve:<interrupt>) and per refund (refund:<interrupt>): a double
  -- click or a replayed refund changes nothing twice.
  entry_key TEXT NOT NULL UNIQUE,
  amount INTEGER NOT NULL,
  reason VARCHAR(10) NOT NULL CHECK (reason IN ('reserve', 'refund', 'grant')),
  created_at TIMESTAMPTZ DEFAULT NOW()
);
CREATE INDEX idx_credit_ledger_user ON credit_ledger(user_id);
CREATE INDEX idx_credit_ledger_job ON credit_ledger(job_id);
CREATE INDEX idx_credit_ledger_scene ON credit_ledger(scene_id);
CREATE TRIGGER credit_ledger_append_only BEFORE UPDATE OR DELETE ON credit_ledger
  FOR EACH ROW EXECUTE FUNCTION refuse_history_rewrite();
ALTER TABLE credit_ledger ENABLE ROW LEVEL SECURITY;
