-- The retention janitor runs as the gateway's role, bound by row-level security like every
-- request: it opens one tenant transaction per account. To know the accounts and how long each
-- keeps its results it may list their ids and retention, and nothing else of them.
CREATE FUNCTION gitview_account_retention()
  RETURNS TABLE (account_id bigint, retention_days integer)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
  AS $$ SELECT id, retention_days FROM accounts ORDER BY id $$;
REVOKE ALL ON FUNCTION gitview_account_retention() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gitview_account_retention() TO gitview_app;

-- The janitor deletes an account's audit rows older than its retention; analyses have their
-- index on (account_id, created_at) already.
CREATE INDEX audit_log_by_account_time ON audit_log (account_id, at);
