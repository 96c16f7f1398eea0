-- The read API pages an analysis' commits newest first by committer time (NULLs first, as
-- DESC orders them), keyset-paginated on (committed_at, id). Without this index that walk
-- filters the repository's whole history by analysis.
CREATE INDEX commits_by_analysis ON commits (analysis_id, committed_at DESC, id DESC);
