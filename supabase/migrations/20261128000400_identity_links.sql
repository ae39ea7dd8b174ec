-- One person on both platforms. /link connects a Slack and a Discord identity: a one-time code
-- made on one platform and typed on the other. From then on the identity that typed the code
-- resolves to the one that made it (store/users.ts), so jobs and credits are one person's.

-- Which identity (users row) now acts as which. The canonical row owns jobs and credits.
CREATE TABLE identity_links (
  user_id UUID PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
  canonical_user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  linked_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  CHECK (user_id <> canonical_user_id)
);
CREATE INDEX idx_identity_links_canonical ON identity_links(canonical_user_id);
ALTER TABLE identity_links ENABLE ROW LEVEL SECURITY;

-- No chains: a linked identity cannot be anyone's canonical, and a canonical identity cannot be
-- linked to another, so resolving an identity is always one lookup. Checked in the database, so
-- two concurrent /link redemptions cannot build one between them.
CREATE FUNCTION identity_links_no_chains() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM identity_links WHERE user_id = NEW.canonical_user_id)
     OR EXISTS (SELECT 1 FROM identity_links WHERE canonical_user_id = NEW.user_id) THEN
    RAISE EXCEPTION 'identity links cannot be chained' USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END;
$$;
CREATE TRIGGER identity_links_no_chains BEFORE INSERT OR UPDATE ON identity_links
  FOR EACH ROW EXECUTE FUNCTION identity_links_no_chains();

-- One-time codes. Only a hash is stored: a code is a credential for ten minutes, and a copy of
-- this table must not let anyone link themselves to someone else's account.
CREATE TABLE link_codes (
  code_hash CHAR(64) PRIMARY KEY,
  -- The (canonical) identity that asked for the code, and on which platform.
  user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  platform VARCHAR(20) NOT NULL CHECK (platform IN ('slack', 'discord')),
  expires_at TIMESTAMPTZ NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_link_codes_user ON link_codes(user_id);
ALTER TABLE link_codes ENABLE ROW LEVEL SECURITY;
