-- Every child row names its parent together with its account. PostgreSQL checks a foreign key
-- past row-level security, so a key naming the parent by id alone let a transaction scoped to
-- one account store a row naming another account's analysis: an oracle for ids (a missing id
-- failed, another account's did not) and a way to take a key that account would write later
-- (its artifact's name, its batch number). Row-level security holds a row's `account_id` to
-- the transaction's account; with the account in every foreign key, a row can only name a
-- parent of that account, and another account's parent fails exactly as a missing one does.
-- The child tables' keys lead with the account too, so that no key is shared across accounts.
--
-- `analyses.id` stays the primary key (the operator's Analysis uid, unique on its own) and
-- gains a unique (account_id, id) for the keys to reference; so does `repositories`.

-- The rows below are every account's: row-level security, forced for the owner, is lifted for
-- the owner alone until the end of this migration's transaction (the gateway's role stays
-- bound by it throughout), so that the clean-up sees every row and every key is validated
-- against every row.
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['repositories', 'analyses', 'commits', 'commit_files', 'commit_batches',
                           'phases', 'artifacts', 'progress_events', 'run_logs'] LOOP
    EXECUTE format('ALTER TABLE %I NO FORCE ROW LEVEL SECURITY', t);
  END LOOP;
END
$$;

-- Rows whose account is not their parent's: through the gateway none can be stored (every
-- write checks the runner token's analysis in its own account first), so these were written
-- past it, and they name another account's analysis or repository. They are deleted (with what
-- hangs off them) rather than kept under a parent that is not theirs; an artifact object one of
-- them named is an orphan for the retention janitor.
DELETE FROM analyses a USING repositories r WHERE r.id = a.repository_id AND r.account_id <> a.account_id;
DELETE FROM commits c USING repositories r WHERE r.id = c.repository_id AND r.account_id <> c.account_id;
DELETE FROM commits c USING analyses a WHERE a.id = c.analysis_id AND a.account_id <> c.account_id;
DELETE FROM commit_files f USING commits c
  WHERE c.repository_id = f.repository_id AND c.id = f.commit_id AND c.account_id <> f.account_id;
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['commit_batches', 'phases', 'artifacts', 'progress_events', 'run_logs'] LOOP
    EXECUTE format('DELETE FROM %I c USING analyses a WHERE a.id = c.analysis_id AND a.account_id <> c.account_id', t);
  END LOOP;
END
$$;

-- The single-column foreign keys to tenant tables, whatever they are named.
DO $$
DECLARE k record;
BEGIN
  FOR k IN SELECT conrelid::regclass AS child, conname FROM pg_constraint
           WHERE contype = 'f' AND connamespace = 'public'::regnamespace
             AND confrelid IN ('repositories'::regclass, 'analyses'::regclass, 'commits'::regclass) LOOP
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', k.child, k.conname);
  END LOOP;
END
$$;

ALTER TABLE repositories ADD CONSTRAINT repositories_account_id_id_key UNIQUE (account_id, id);
ALTER TABLE analyses ADD CONSTRAINT analyses_account_id_id_key UNIQUE (account_id, id);

ALTER TABLE commits DROP CONSTRAINT commits_pkey,
  ADD CONSTRAINT commits_pkey PRIMARY KEY (account_id, repository_id, id);
ALTER TABLE commit_files DROP CONSTRAINT commit_files_pkey,
  ADD CONSTRAINT commit_files_pkey PRIMARY KEY (account_id, repository_id, commit_id, seq);
ALTER TABLE commit_batches DROP CONSTRAINT commit_batches_pkey,
  ADD CONSTRAINT commit_batches_pkey PRIMARY KEY (account_id, analysis_id, batch);
ALTER TABLE phases DROP CONSTRAINT phases_pkey,
  ADD CONSTRAINT phases_pkey PRIMARY KEY (account_id, analysis_id, seq);
ALTER TABLE artifacts DROP CONSTRAINT artifacts_pkey,
  ADD CONSTRAINT artifacts_pkey PRIMARY KEY (account_id, analysis_id, name);
ALTER TABLE run_logs DROP CONSTRAINT run_logs_pkey,
  ADD CONSTRAINT run_logs_pkey PRIMARY KEY (account_id, analysis_id, attempt, seq);

-- Each is served by an index leading with its columns (the keys above, or analyses_by_repository),
-- so deleting a parent finds its children without a scan; commits and progress events by their
-- analysis through commits_by_analysis and progress_by_analysis.
ALTER TABLE analyses ADD CONSTRAINT analyses_account_id_repository_id_fkey
  FOREIGN KEY (account_id, repository_id) REFERENCES repositories (account_id, id) ON DELETE CASCADE;
ALTER TABLE commits ADD CONSTRAINT commits_account_id_repository_id_fkey
  FOREIGN KEY (account_id, repository_id) REFERENCES repositories (account_id, id) ON DELETE CASCADE;
ALTER TABLE commits ADD CONSTRAINT commits_account_id_analysis_id_fkey
  FOREIGN KEY (account_id, analysis_id) REFERENCES analyses (account_id, id) ON DELETE CASCADE;
ALTER TABLE commit_files ADD CONSTRAINT commit_files_account_id_repository_id_commit_id_fkey
  FOREIGN KEY (account_id, repository_id, commit_id) REFERENCES commits (account_id, repository_id, id)
  ON DELETE CASCADE;
ALTER TABLE commit_batches ADD CONSTRAINT commit_batches_account_id_analysis_id_fkey
  FOREIGN KEY (account_id, analysis_id) REFERENCES analyses (account_id, id) ON DELETE CASCADE;
ALTER TABLE phases ADD CONSTRAINT phases_account_id_analysis_id_fkey
  FOREIGN KEY (account_id, analysis_id) REFERENCES analyses (account_id, id) ON DELETE CASCADE;
ALTER TABLE artifacts ADD CONSTRAINT artifacts_account_id_analysis_id_fkey
  FOREIGN KEY (account_id, analysis_id) REFERENCES analyses (account_id, id) ON DELETE CASCADE;
ALTER TABLE progress_events ADD CONSTRAINT progress_events_account_id_analysis_id_fkey
  FOREIGN KEY (account_id, analysis_id) REFERENCES analyses (account_id, id) ON DELETE CASCADE;
ALTER TABLE run_logs ADD CONSTRAINT run_logs_account_id_analysis_id_fkey
  FOREIGN KEY (account_id, analysis_id) REFERENCES analyses (account_id, id) ON DELETE CASCADE;

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['repositories', 'analyses', 'commits', 'commit_files', 'commit_batches',
                           'phases', 'artifacts', 'progress_events', 'run_logs'] LOOP
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
  END LOOP;
END
$$;
