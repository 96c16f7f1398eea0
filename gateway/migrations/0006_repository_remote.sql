-- A repository is named by its remote — `host[:port]/path`, whatever the transport — and its
-- branch, so that runs of `https://github.com/org/repo`, `git@github.com:org/repo.git` and
-- `ssh://git@github.com/org/repo` share one row and one history (gitview_crds::remote). Until
-- now the fingerprint hashed the whole canonical URL, scheme included: one remote reached over
-- https and over ssh had two histories.
--
-- `url` stays the canonical URL of the latest run (`scheme://remote`, credentials dropped);
-- `remote` follows it, and names a repository on every branch for the read API.
ALTER TABLE repositories
  ADD COLUMN remote text GENERATED ALWAYS AS (regexp_replace(url, '^[a-z][a-z0-9+.-]*://', '')) STORED;
CREATE INDEX repositories_by_remote ON repositories (account_id, remote);

-- The rows below are every account's: row-level security, forced for the owner, is lifted for
-- the owner alone until the end of this migration's transaction (the gateway's role stays
-- bound by it throughout).
ALTER TABLE repositories NO FORCE ROW LEVEL SECURITY;
ALTER TABLE analyses NO FORCE ROW LEVEL SECURITY;

-- Stored URLs are canonical by the earlier rules; these are the rules that changed: `git+ssh`
-- and `ssh+git` are `ssh`, runs of `/` collapse, and every trailing `/` and `.git` of the path
-- goes (the earlier rules stripped one of each).
UPDATE repositories SET url = u.url
FROM (
  SELECT id,
    CASE WHEN scheme IN ('git+ssh', 'ssh+git') THEN 'ssh' ELSE scheme END || '://' || authority ||
      regexp_replace(regexp_replace(path, '/{2,}', '/', 'g'), '(/|\.git)+$', '') AS url
  FROM (
    SELECT id, substring(url FROM '^([a-z][a-z0-9+.-]*)://') AS scheme,
           substring(url FROM '^[a-z][a-z0-9+.-]*://([^/]*)') AS authority,
           substring(url FROM '^[a-z][a-z0-9+.-]*://[^/]*(.*)$') AS path
    FROM repositories
  ) parts
  WHERE scheme IS NOT NULL
) u
WHERE repositories.id = u.id AND repositories.url <> u.url;

-- The fingerprint, as gitview_crds::remote computes it: hex SHA-256 of remote, newline, branch.
-- Where one account has one remote and branch under several rows (an https and an ssh tracker
-- of one repository), the row with the newest analysis takes the new fingerprint and new runs
-- continue its history; the others keep theirs and their analyses, which reads by URL still
-- find. Nothing is merged or deleted.
UPDATE repositories SET fingerprint = ranked.fingerprint
FROM (
  SELECT r.id,
    encode(sha256(convert_to(r.remote || E'\n' || r.branch, 'UTF8')), 'hex') AS fingerprint,
    row_number() OVER (
      PARTITION BY r.account_id, r.remote, r.branch
      ORDER BY (SELECT max(a.created_at) FROM analyses a WHERE a.repository_id = r.id) DESC NULLS LAST, r.id
    ) AS n
  FROM repositories r
) ranked
WHERE repositories.id = ranked.id AND ranked.n = 1;

ALTER TABLE repositories FORCE ROW LEVEL SECURITY;
ALTER TABLE analyses FORCE ROW LEVEL SECURITY;
