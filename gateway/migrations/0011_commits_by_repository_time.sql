-- A repository's stored history is read in committer-time order, keyset-paginated on
-- (committed_at, id): oldest first by runners (`GET /v1/runs/{analysis}/history`, an
-- incremental run telling the whole history's story) and newest first by readers (a file's
-- history). `commits_by_time` had no id, so a page of ~100k commits sorted what it read; this
-- index serves both directions (a backward scan is the newest-first order, NULLs first as
-- DESC puts them) and replaces it, so ingest maintains no more indexes than before.
CREATE INDEX commits_by_repository_time ON commits (account_id, repository_id, committed_at, id);
DROP INDEX commits_by_time;
