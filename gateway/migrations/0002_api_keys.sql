-- Per-account API keys for the read API. A key is `gvk_<public id>_<secret>`; only the SHA-256
-- of the whole key is stored, so a leaked table leaks no usable key. Keys are created and
-- revoked on the gateway's admin path; revoked rows stay for the audit trail.

CREATE TABLE api_keys (
  id bigserial PRIMARY KEY,
  account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  -- The random public part of the key: how lists, logs and the admin path name it.
  public_id text NOT NULL UNIQUE CHECK (public_id ~ '^[0-9a-f]{16}$'),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  -- `gvk_<public id>`, for display: enough to recognise a key, useless to use one.
  prefix text NOT NULL,
  key_sha256 bytea NOT NULL UNIQUE CHECK (length(key_sha256) = 32),
  scopes text[] NOT NULL CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['read']::text[]),
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz,
  last_used_at timestamptz
);
CREATE INDEX api_keys_by_account ON api_keys (account_id, id);

-- Row-level security like every tenant table, but not forced: the key resolver below runs as
-- the owner and must find a key before anyone knows its account (the same reason `accounts`
-- is not forced). The gateway's role owns nothing, so the policy still binds it.
ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON api_keys USING (account_id = gitview_current_account())
  WITH CHECK (account_id = gitview_current_account());

-- The account, key and scopes of an unrevoked key, by the SHA-256 of the presented key; no row
-- for an unknown or revoked one. Marks the key used, at most once a minute (a read must not
-- become a write on every request).
CREATE FUNCTION gitview_resolve_api_key(key_sha256 bytea)
  RETURNS TABLE (account_id bigint, key_id bigint, scopes text[])
  LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public
  AS $$
    WITH hit AS (
      SELECT k.id, k.account_id, k.scopes, k.last_used_at FROM api_keys k
      WHERE k.key_sha256 = $1 AND k.revoked_at IS NULL
    ), touched AS (
      UPDATE api_keys k SET last_used_at = now() FROM hit
      WHERE k.id = hit.id AND (hit.last_used_at IS NULL OR hit.last_used_at < now() - interval '1 minute')
    )
    SELECT hit.account_id, hit.id, hit.scopes FROM hit
  $$;
REVOKE ALL ON FUNCTION gitview_resolve_api_key(bytea) FROM PUBLIC;

-- The id of an existing account by name, or NULL: the admin path names accounts, and listing
-- an account's keys must not create it.
CREATE FUNCTION gitview_account_id(account_name text) RETURNS bigint
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
  AS $$ SELECT id FROM accounts WHERE name = $1 $$;
REVOKE ALL ON FUNCTION gitview_account_id(text) FROM PUBLIC;

GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE api_keys TO gitview_app;
GRANT USAGE, SELECT ON SEQUENCE api_keys_id_seq TO gitview_app;
GRANT EXECUTE ON FUNCTION gitview_resolve_api_key(bytea), gitview_account_id(text) TO gitview_app;
