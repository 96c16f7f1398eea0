-- The account's summary cache: what the runner's model wrote for a chunk of history, keyed by
-- the runner's hash of the chunk, prompt version and model (64 lower-case hex digits). A
-- summary stored by one run is found by every later run of the same account, and by no other
-- account: the key leads with the account and row-level security holds it to the
-- transaction's, like every tenant table. `used_at` is when a run last found or stored it;
-- the retention janitor deletes summaries unused for longer than the account's retention.

CREATE TABLE summaries (
  account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  key text NOT NULL CHECK (key ~ '^[0-9a-f]{64}$'),
  document jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  used_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, key)
);
-- The janitor deletes an account's summaries by `used_at`.
CREATE INDEX summaries_by_use ON summaries (account_id, used_at);

ALTER TABLE summaries ENABLE ROW LEVEL SECURITY;
ALTER TABLE summaries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON summaries USING (account_id = gitview_current_account())
  WITH CHECK (account_id = gitview_current_account());

GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE summaries TO gitview_app;
