-- Account-wide provider limits, shared by every worker: a provider allows N calls at once, and a
-- worker holds one of its N slots while it calls (renewed while the call runs, so a dead worker's
-- slot frees itself). Requests per minute use rate_limit_buckets with the provider as identifier.
CREATE TABLE provider_slots (
  provider VARCHAR(40) NOT NULL,
  slot INTEGER NOT NULL,
  holder TEXT NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (provider, slot)
);
ALTER TABLE provider_slots ENABLE ROW LEVEL SECURITY;
