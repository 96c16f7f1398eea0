-- Run logs: the lines a runner logs, kept with the analysis so they outlive the pod. A line is
-- named by its analysis, the attempt that logged it and its number in that attempt (`seq`):
-- the primary key makes a retried batch store nothing twice, and is the index that reads an
-- analysis' log in order (attempt, then seq).

CREATE TABLE run_logs (
  account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  analysis_id text NOT NULL REFERENCES analyses (id) ON DELETE CASCADE,
  attempt integer NOT NULL,
  seq bigint NOT NULL CHECK (seq >= 0),
  -- When the runner logged the line (not when it arrived).
  at timestamptz NOT NULL,
  level text NOT NULL CHECK (level IN ('trace', 'debug', 'info', 'warn', 'error')),
  message text NOT NULL,
  fields jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(fields) = 'object'),
  PRIMARY KEY (analysis_id, attempt, seq)
);

-- Row-level security like every tenant table.
ALTER TABLE run_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE run_logs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON run_logs USING (account_id = gitview_current_account())
  WITH CHECK (account_id = gitview_current_account());

GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE run_logs TO gitview_app;
