-- Sign-in sessions of the web UI (`/ui/`). A person signs in with an API key of their account;
-- the session's cookie holds a random token, of which only the SHA-256 is stored here. A
-- session lives until it expires, is signed out, or its key is revoked (the resolver below
-- joins the key, so revoking a key ends every session made with it at once).

-- A key names its account together with its id, like every key between tenant tables (0009).
ALTER TABLE api_keys ADD CONSTRAINT api_keys_account_id_id_key UNIQUE (account_id, id);

CREATE TABLE ui_sessions (
  id bigserial PRIMARY KEY,
  account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  key_id bigint NOT NULL,
  FOREIGN KEY (account_id, key_id) REFERENCES api_keys (account_id, id) ON DELETE CASCADE,
  token_sha256 bytea NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
-- The janitor deletes expired sessions.
CREATE INDEX ui_sessions_by_expiry ON ui_sessions (expires_at);

-- Like `api_keys`: row-level security, not forced, so that the resolver (running as the owner)
-- can find a session before anyone knows its account; the gateway's role is bound by it.
ALTER TABLE ui_sessions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON ui_sessions USING (account_id = gitview_current_account())
  WITH CHECK (account_id = gitview_current_account());

-- The account and key of a live session, by the SHA-256 of its token: not expired, its key
-- not revoked. No row otherwise.
CREATE FUNCTION gitview_resolve_ui_session(token_sha256 bytea)
  RETURNS TABLE (account_id bigint, key_id bigint)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
  AS $$
    SELECT s.account_id, s.key_id FROM ui_sessions s
      JOIN api_keys k ON k.id = s.key_id AND k.account_id = s.account_id
      WHERE s.token_sha256 = $1 AND s.expires_at > now() AND k.revoked_at IS NULL
  $$;
REVOKE ALL ON FUNCTION gitview_resolve_ui_session(bytea) FROM PUBLIC;

-- Signing out by the token alone (the account is not known before the session is resolved).
CREATE FUNCTION gitview_end_ui_session(token_sha256 bytea) RETURNS void
  LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public
  AS $$ DELETE FROM ui_sessions s WHERE s.token_sha256 = $1 $$;
REVOKE ALL ON FUNCTION gitview_end_ui_session(bytea) FROM PUBLIC;

GRANT SELECT, INSERT, DELETE ON TABLE ui_sessions TO gitview_app;
GRANT USAGE, SELECT ON SEQUENCE ui_sessions_id_seq TO gitview_app;
GRANT EXECUTE ON FUNCTION gitview_resolve_ui_session(bytea), gitview_end_ui_session(bytea) TO gitview_app;
