-- The gitview results schema. Applied by `gitview-gateway migrate` as the schema's owner; the
-- gateway serves as a member of `gitview_app`, which has no BYPASSRLS and owns nothing, so
-- row-level security scopes every row it touches to the account named by the transaction's
-- `gitview.account_id` setting. An administrator creates `gitview_app` (NOLOGIN, or the
-- gateway's login role itself) before the first migration, unless the owner may create roles.

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'gitview_app') THEN
    CREATE ROLE gitview_app NOLOGIN NOBYPASSRLS;
  END IF;
END
$$;

CREATE TABLE accounts (
  id bigserial PRIMARY KEY,
  name text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 253),
  scrub_pii boolean NOT NULL DEFAULT true,
  allow_review_data boolean NOT NULL DEFAULT false,
  retention_days integer NOT NULL DEFAULT 365 CHECK (retention_days > 0),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE repositories (
  id bigserial PRIMARY KEY,
  account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  fingerprint text NOT NULL,
  url text NOT NULL,
  branch text NOT NULL,
  last_analyzed_commit text,
  version bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (account_id, fingerprint)
);

CREATE TABLE analyses (
  id text PRIMARY KEY,
  account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  repository_id bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
  namespace text NOT NULL,
  name text NOT NULL,
  attempt integer NOT NULL,
  mode text NOT NULL,
  status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
  message text NOT NULL DEFAULT '',
  from_commit text,
  to_commit text,
  commits_analyzed bigint NOT NULL DEFAULT 0,
  config jsonb NOT NULL DEFAULT '{}',
  metrics jsonb NOT NULL DEFAULT '{}',
  model_versions jsonb NOT NULL DEFAULT '{}',
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
-- Keyset pagination of an account's analyses, newest first, overall and per repository.
CREATE INDEX analyses_by_account ON analyses (account_id, created_at DESC, id DESC);
CREATE INDEX analyses_by_repository ON analyses (account_id, repository_id, created_at DESC, id DESC);

CREATE TABLE commits (
  account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  repository_id bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
  id text NOT NULL,
  -- The analysis that stored the commit first.
  analysis_id text NOT NULL REFERENCES analyses (id) ON DELETE CASCADE,
  parents text[] NOT NULL,
  author_name text NOT NULL,
  author_email text NOT NULL,
  authored_at timestamptz,
  committer_name text NOT NULL,
  committer_email text NOT NULL,
  committed_at timestamptz,
  message text NOT NULL,
  lines_added bigint NOT NULL,
  lines_deleted bigint NOT NULL,
  files_changed integer NOT NULL,
  renames jsonb NOT NULL DEFAULT '[]',
  enrichment jsonb NOT NULL DEFAULT '{}',
  -- The record exactly as extracted (times in their own offsets), for exports.
  record jsonb NOT NULL,
  PRIMARY KEY (repository_id, id)
);
CREATE INDEX commits_by_time ON commits (account_id, repository_id, committed_at DESC);
CREATE INDEX commits_by_author ON commits (account_id, repository_id, author_email);

CREATE TABLE commit_files (
  account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  repository_id bigint NOT NULL,
  commit_id text NOT NULL,
  seq integer NOT NULL,
  path text NOT NULL,
  added bigint,
  deleted bigint,
  status text NOT NULL CHECK (status IN ('A', 'D', 'M', 'T')),
  PRIMARY KEY (repository_id, commit_id, seq),
  FOREIGN KEY (repository_id, commit_id) REFERENCES commits (repository_id, id) ON DELETE CASCADE
);
CREATE INDEX commit_files_by_path ON commit_files (account_id, repository_id, path text_pattern_ops);

-- Batches received per analysis: a retried batch is recognised and answered alike.
CREATE TABLE commit_batches (
  account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  analysis_id text NOT NULL REFERENCES analyses (id) ON DELETE CASCADE,
  batch bigint NOT NULL,
  inserted bigint NOT NULL,
  existing bigint NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (analysis_id, batch)
);

CREATE TABLE phases (
  account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  analysis_id text NOT NULL REFERENCES analyses (id) ON DELETE CASCADE,
  seq integer NOT NULL,
  document jsonb NOT NULL,
  PRIMARY KEY (analysis_id, seq)
);

CREATE TABLE artifacts (
  account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  analysis_id text NOT NULL REFERENCES analyses (id) ON DELETE CASCADE,
  name text NOT NULL,
  media_type text NOT NULL,
  size bigint NOT NULL,
  sha256 text NOT NULL,
  -- Inline below the gateway's threshold; otherwise an object-store key.
  content bytea,
  storage_key text,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (analysis_id, name),
  CHECK ((content IS NULL) <> (storage_key IS NULL))
);

CREATE TABLE progress_events (
  id bigserial PRIMARY KEY,
  account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  analysis_id text NOT NULL REFERENCES analyses (id) ON DELETE CASCADE,
  stage text NOT NULL,
  done bigint NOT NULL,
  total bigint NOT NULL,
  elapsed_ms bigint NOT NULL,
  at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX progress_by_analysis ON progress_events (analysis_id, id DESC);

CREATE TABLE audit_log (
  id bigserial PRIMARY KEY,
  account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  actor text NOT NULL,
  action text NOT NULL,
  target text NOT NULL,
  detail jsonb NOT NULL DEFAULT '{}',
  at timestamptz NOT NULL DEFAULT now()
);

-- Row-level security: one policy per tenant table, on the transaction's account. FORCE makes
-- it hold for the tables' owner too; only `accounts` is left unforced so that
-- `gitview_ensure_account` (owned by the owner) can create a new account's row.
CREATE FUNCTION gitview_current_account() RETURNS bigint
  LANGUAGE sql STABLE
  AS $$ SELECT nullif(current_setting('gitview.account_id', true), '')::bigint $$;

ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON accounts USING (id = gitview_current_account()) WITH CHECK (id = gitview_current_account());

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['repositories', 'analyses', 'commits', 'commit_files', 'commit_batches',
                           'phases', 'artifacts', 'progress_events', 'audit_log'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant ON %I USING (account_id = gitview_current_account()) '
                   'WITH CHECK (account_id = gitview_current_account())', t);
  END LOOP;
END
$$;

-- A valid runner token names an account the gateway may not have seen: the operator is the
-- authority on which namespaces map to which accounts. Runs as the owner, past RLS on
-- `accounts` only, and returns the id.
CREATE FUNCTION gitview_ensure_account(account_name text) RETURNS bigint
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
  AS $$
DECLARE account bigint;
BEGIN
  INSERT INTO accounts (name) VALUES (account_name) ON CONFLICT (name) DO NOTHING RETURNING id INTO account;
  IF account IS NULL THEN
    SELECT id INTO account FROM accounts WHERE name = account_name;
  END IF;
  RETURN account;
END
$$;
REVOKE ALL ON FUNCTION gitview_ensure_account(text) FROM PUBLIC;

GRANT USAGE ON SCHEMA public TO gitview_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO gitview_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO gitview_app;
GRANT EXECUTE ON FUNCTION gitview_ensure_account(text), gitview_current_account() TO gitview_app;
-- sqlx's own bookkeeping is the owner's business.
REVOKE ALL ON TABLE _sqlx_migrations FROM gitview_app;
