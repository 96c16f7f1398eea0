-- gitview_resolve_api_key in PL/pgSQL. The SQL function of 0002 (a data-modifying CTE, so
-- never inlined) was planned again on every call, that is on every read request; PL/pgSQL
-- caches its statements' plans per session. Same rows, same at-most-once-a-minute touch.
-- Measured with pgbench (one client, 20,000 prepared calls on 10,000 keys, PostgreSQL 15):
-- 0.21-0.22 ms per call as SQL, 0.05-0.07 ms as PL/pgSQL.
CREATE OR REPLACE FUNCTION gitview_resolve_api_key(key_sha256 bytea)
  RETURNS TABLE (account_id bigint, key_id bigint, scopes text[])
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public
  AS $$
  #variable_conflict use_column
  DECLARE
    hit record;
  BEGIN
    SELECT k.id, k.account_id, k.scopes, k.last_used_at INTO hit FROM api_keys k
      WHERE k.key_sha256 = $1 AND k.revoked_at IS NULL;
    IF NOT FOUND THEN
      RETURN;
    END IF;
    IF hit.last_used_at IS NULL OR hit.last_used_at < now() - interval '1 minute' THEN
      UPDATE api_keys k SET last_used_at = now() WHERE k.id = hit.id;
    END IF;
    account_id := hit.account_id;
    key_id := hit.id;
    scopes := hit.scopes;
    RETURN NEXT;
  END
  $$;
