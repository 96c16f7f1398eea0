//! Row-level security through foreign keys (issue finding 3). PostgreSQL checks a foreign key
//! past row-level security, so a child row that named its parent by id alone let one account,
//! scoped by RLS, insert a row naming another account's analysis: an oracle for ids (a missing
//! id failed, another account's did not) and a way to block that account's own later write of
//! the same key. Every child key and foreign key carries the account, so RLS alone keeps
//! tenants apart: as the gateway's role scoped to account A, a row naming B's parent fails
//! exactly as one naming no parent, and B's write of the same key succeeds.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

mod common;

use common::{Gateway, batch, commit, count, migrated_postgres};
use gitview_gateway::db;
use reqwest::StatusCode;
use sqlx::Connection as _;
use sqlx::postgres::{PgDatabaseError, PgPool};

/// One child row of each kind, naming its parents through `p`: `p.account` (the writer's
/// account), `p.analysis`, `p.repository` and `p.commit` (the parents under test), and
/// `p.own_analysis` and `p.own_repository` (the writer's own, for the other parent of a row
/// with two). Every key holds a literal, so the same statement is the same key for both
/// accounts.
const CHILDREN: &[(&str, &str)] = &[
    (
        "commit_batches",
        "INSERT INTO commit_batches (account_id, analysis_id, batch, inserted, existing)
         SELECT p.account, p.analysis, 7, 0, 0 FROM p",
    ),
    (
        "phases",
        "INSERT INTO phases (account_id, analysis_id, seq, document) SELECT p.account, p.analysis, 1, '{}' FROM p",
    ),
    (
        "artifacts",
        "INSERT INTO artifacts (account_id, analysis_id, name, media_type, size, sha256, content)
         SELECT p.account, p.analysis, 'story.md', 'text/markdown', 1, 'x', 'x' FROM p",
    ),
    (
        "progress_events",
        "INSERT INTO progress_events (account_id, analysis_id, attempt, stage, done, total, elapsed_ms)
         SELECT p.account, p.analysis, 1, 'x', 0, 0, 0 FROM p",
    ),
    (
        "run_logs",
        "INSERT INTO run_logs (account_id, analysis_id, attempt, seq, at, level, message)
         SELECT p.account, p.analysis, 1, 0, now(), 'info', 'x' FROM p",
    ),
    (
        "commits by analysis",
        "INSERT INTO commits (account_id, repository_id, id, analysis_id, parents, author_name, author_email,
           committer_name, committer_email, message, lines_added, lines_deleted, files_changed, record)
         SELECT p.account, p.own_repository, repeat('c6', 20), p.analysis, '{}', 'a', 'a@x', 'a', 'a@x', 'm', 0, 0, 0, '{}' FROM p",
    ),
    (
        "commits by repository",
        "INSERT INTO commits (account_id, repository_id, id, analysis_id, parents, author_name, author_email,
           committer_name, committer_email, message, lines_added, lines_deleted, files_changed, record)
         SELECT p.account, p.repository, repeat('c7', 20), p.own_analysis, '{}', 'a', 'a@x', 'a', 'a@x', 'm', 0, 0, 0, '{}' FROM p",
    ),
    (
        "commit_files",
        "INSERT INTO commit_files (account_id, repository_id, commit_id, seq, path, status)
         SELECT p.account, p.repository, p.commit, 99, 'x', 'A' FROM p",
    ),
    (
        "analyses",
        "INSERT INTO analyses (id, account_id, repository_id, namespace, name, attempt, mode, status)
         SELECT 'uid-new', p.account, p.repository, 'ns', 'n', 1, 'Full', 'running' FROM p",
    ),
];

/// The parents a child row names.
#[derive(Debug, Clone)]
struct Parents {
    analysis: String,
    repository: i64,
    commit: String,
}

/// Inserts `statement` in a tenant transaction of `account` (as the gateway does), naming
/// `target`; `own` are the writer's own analysis and repository.
async fn insert(
    pool: &PgPool,
    account: i64,
    statement: &str,
    target: &Parents,
    own: &Parents,
) -> Result<(), sqlx::Error> {
    let mut tx = db::tenant(pool, account).await?;
    let sql = format!(
        "WITH p AS (SELECT $1::bigint AS account, $2::text AS analysis, $3::bigint AS repository,
           $4::text AS commit, $5::text AS own_analysis, $6::bigint AS own_repository) {statement}"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(account)
        .bind(&target.analysis)
        .bind(target.repository)
        .bind(&target.commit)
        .bind(&own.analysis)
        .bind(own.repository)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// What a client could learn from `err`: its code, constraint, message and detail, with the
/// parents' ids in it replaced by placeholders.
fn observable(err: &sqlx::Error, target: &Parents) -> (String, String, String, String) {
    let db = err
        .as_database_error()
        .and_then(|db| db.try_downcast_ref::<PgDatabaseError>())
        .unwrap_or_else(|| panic!("a database error: {err:?}"));
    let neutral = |text: &str| {
        text.replace(&target.analysis, "<analysis>")
            .replace(&target.commit, "<commit>")
            .replace(&target.repository.to_string(), "<repository>")
    };
    (
        db.code().to_owned(),
        db.constraint().unwrap_or_default().to_owned(),
        neutral(db.message()),
        neutral(db.detail().unwrap_or_default()),
    )
}

#[tokio::test]
async fn a_child_row_naming_another_accounts_parent_fails_as_a_missing_one_does() {
    let gw = Gateway::start().await;
    gw.start_run("team-a", "uid-a", "https://h/a").await;
    gw.start_run("team-b", "uid-b", "https://h/b").await;
    let b_commit = commit(2, &[]);
    let (status, body) = gw
        .post(
            &gw.token("team-b", "uid-b"),
            "/v1/runs/uid-b/commits",
            &batch(0, std::slice::from_ref(&b_commit)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut admin = gw.admin().await;
    let ids = |analysis: &'static str| {
        sqlx::query_as::<_, (i64, i64)>(
            "SELECT account_id, repository_id FROM analyses WHERE id = $1",
        )
        .bind(analysis)
    };
    let (a, a_repository) = ids("uid-a").fetch_one(&mut admin).await.unwrap();
    let (b, b_repository) = ids("uid-b").fetch_one(&mut admin).await.unwrap();
    let a_own = Parents {
        analysis: "uid-a".into(),
        repository: a_repository,
        commit: String::new(),
    };
    let b_own = Parents {
        analysis: "uid-b".into(),
        repository: b_repository,
        commit: b_commit.id.clone(),
    };
    let missing = Parents {
        analysis: "uid-missing".into(),
        repository: 9_999_999,
        commit: "f".repeat(40),
    };
    let pool = db::connect(&gw.pg.url("gateway", "gitview"), 2)
        .await
        .unwrap();

    for (child, statement) in CHILDREN {
        // A's row naming B's parent is refused, exactly as one naming no parent.
        let foreign = insert(&pool, a, statement, &b_own, &a_own).await;
        let foreign = foreign
            .err()
            .unwrap_or_else(|| panic!("{child}: account A stored a row naming account B's parent"));
        let absent = insert(&pool, a, statement, &missing, &a_own)
            .await
            .expect_err("a row naming no parent");
        assert_eq!(
            observable(&foreign, &b_own),
            observable(&absent, &missing),
            "{child}: another account's parent and a missing one must look alike"
        );
        assert_eq!(
            foreign
                .as_database_error()
                .and_then(|db| db.code())
                .as_deref(),
            Some("23503"),
            "{child}: a foreign-key violation, not a conflict with B's row: {foreign:?}"
        );
        // B's own write of the same key is not blocked.
        insert(&pool, b, statement, &b_own, &b_own)
            .await
            .unwrap_or_else(|err| panic!("{child}: B's own write failed: {err:?}"));
    }
    assert_eq!(
        count(
            &mut admin,
            &format!("SELECT count(*) FROM phases WHERE account_id = {a}")
        )
        .await,
        0,
        "A stored nothing"
    );
}

/// Every foreign key between tenant tables names the account on both sides, so the catalog
/// keeps it that way for tables added later.
#[tokio::test]
async fn every_foreign_key_between_tenant_tables_carries_the_account() {
    let pg = migrated_postgres().await;
    let mut admin = sqlx::PgConnection::connect(&pg.url("postgres", "gitview"))
        .await
        .unwrap();
    let without: Vec<String> = sqlx::query_scalar(
        "SELECT c.conrelid::regclass::text || '.' || c.conname::text FROM pg_constraint c
         WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
           AND c.confrelid <> 'accounts'::regclass
           AND NOT EXISTS (
             SELECT FROM unnest(c.conkey, c.confkey) AS k(child, parent)
             JOIN pg_attribute ca ON ca.attrelid = c.conrelid AND ca.attnum = k.child
             JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.parent
             WHERE ca.attname = 'account_id' AND pa.attname = 'account_id')
         ORDER BY 1",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(
        without.is_empty(),
        "foreign keys that do not carry the account: {without:?}"
    );
    let keys: i64 = count(
        &mut admin,
        "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace
           AND confrelid <> 'accounts'::regclass",
    )
    .await;
    assert!(keys >= 9, "the child tables' foreign keys exist: {keys}");
}

/// Migration 0009 applies to a database holding rows, keeps every consistent one, and drops a
/// row that named another account's analysis (which only a direct write could have stored),
/// so that account's own write of that key succeeds.
#[tokio::test]
async fn migration_0009_keys_stored_rows_by_account() {
    let (pg, owner) = common::postgres_migrated_to(Some(8)).await;
    let mut admin = sqlx::PgConnection::connect(&pg.url("postgres", "gitview"))
        .await
        .unwrap();
    sqlx::raw_sql(
        "INSERT INTO accounts (id, name) VALUES (1, 'a'), (2, 'b');
         INSERT INTO repositories (id, account_id, fingerprint, url, branch) VALUES
           (1, 1, 'fp-a', 'https://h/a', 'main'), (2, 2, 'fp-b', 'https://h/b', 'main');
         INSERT INTO analyses (id, account_id, repository_id, namespace, name, attempt, mode, status) VALUES
           ('an-a', 1, 1, 'ns', 'an-a', 1, 'Full', 'succeeded'),
           ('an-b', 2, 2, 'ns', 'an-b', 2, 'Full', 'running');
         INSERT INTO commits (account_id, repository_id, id, analysis_id, parents, author_name, author_email,
           committer_name, committer_email, message, lines_added, lines_deleted, files_changed, record)
         SELECT account_id, repository_id, repeat(n::text, 40), id, '{}', 'a', 'a@x', 'a', 'a@x', 'm', 1, 0, 1, '{}'
         FROM analyses, generate_series(1, 3) AS n;
         INSERT INTO commit_files (account_id, repository_id, commit_id, seq, path, added, deleted, status)
         SELECT account_id, repository_id, id, 1, 'f', 1, 0, 'M' FROM commits;
         INSERT INTO commit_batches (account_id, analysis_id, batch, inserted, existing)
         SELECT account_id, id, 0, 3, 0 FROM analyses;
         INSERT INTO phases (account_id, analysis_id, seq, document) SELECT account_id, id, 1, '{}' FROM analyses;
         INSERT INTO artifacts (account_id, analysis_id, name, media_type, size, sha256, content)
         SELECT account_id, id, 'story.md', 'text/markdown', 1, 'x', 'x' FROM analyses;
         INSERT INTO progress_events (account_id, analysis_id, attempt, stage, done, total, elapsed_ms)
         SELECT account_id, id, attempt, 'x', 0, 0, 0 FROM analyses;
         INSERT INTO run_logs (account_id, analysis_id, attempt, seq, at, level, message)
         SELECT account_id, id, attempt, 0, now(), 'info', 'x' FROM analyses;
         -- Rows of account 1 naming account 2's analysis, as the old keys let a direct write store.
         INSERT INTO phases (account_id, analysis_id, seq, document) VALUES (1, 'an-b', 2, '{}');
         INSERT INTO artifacts (account_id, analysis_id, name, media_type, size, sha256, content)
           VALUES (1, 'an-b', 'timeline.json', 'application/json', 1, 'x', 'x');
         INSERT INTO run_logs (account_id, analysis_id, attempt, seq, at, level, message)
           VALUES (1, 'an-b', 3, 0, now(), 'info', 'x');",
    )
    .execute(&mut admin)
    .await
    .unwrap();
    let tables = [
        ("repositories", 2),
        ("analyses", 2),
        ("commits", 6),
        ("commit_files", 6),
        ("commit_batches", 2),
        ("phases", 2),
        ("artifacts", 2),
        ("progress_events", 2),
        ("run_logs", 2),
    ];

    db::migrate(&owner).await.expect("0009 applies");
    for (table, rows) in tables {
        let sql = format!("SELECT count(*) FROM {table}");
        assert_eq!(count(&mut admin, &sql).await, rows, "{table}");
    }
    let foreign = count(
        &mut admin,
        "SELECT (SELECT count(*) FROM phases WHERE account_id = 1 AND analysis_id = 'an-b')
              + (SELECT count(*) FROM artifacts WHERE account_id = 1 AND analysis_id = 'an-b')
              + (SELECT count(*) FROM run_logs WHERE account_id = 1 AND analysis_id = 'an-b')",
    )
    .await;
    assert_eq!(
        foreign, 0,
        "rows naming another account's analysis are gone"
    );
    let unforced = count(
        &mut admin,
        "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'
           AND relrowsecurity AND NOT relforcerowsecurity AND relname NOT IN ('accounts', 'api_keys', 'ui_sessions')",
    )
    .await;
    assert_eq!(unforced, 0, "row-level security is forced again");

    // Account 2 writes the keys account 1's rows held.
    pg.exec("gitview", "CREATE ROLE gateway LOGIN IN ROLE gitview_app")
        .await
        .unwrap();
    let pool = db::connect(&pg.url("gateway", "gitview"), 2).await.unwrap();
    let mut tx = db::tenant(&pool, 2).await.unwrap();
    sqlx::raw_sql(
        "INSERT INTO phases (account_id, analysis_id, seq, document) VALUES (2, 'an-b', 2, '{}');
         INSERT INTO artifacts (account_id, analysis_id, name, media_type, size, sha256, content)
           VALUES (2, 'an-b', 'timeline.json', 'application/json', 1, 'x', 'x');
         INSERT INTO run_logs (account_id, analysis_id, attempt, seq, at, level, message)
           VALUES (2, 'an-b', 3, 0, now(), 'info', 'x');",
    )
    .execute(&mut *tx)
    .await
    .expect("account 2's own writes");
    tx.commit().await.unwrap();

    // Deleting an analysis still takes its rows with it (the new keys cascade).
    sqlx::query("DELETE FROM analyses WHERE id = 'an-a'")
        .execute(&mut admin)
        .await
        .unwrap();
    for table in [
        "commits",
        "commit_files",
        "commit_batches",
        "phases",
        "artifacts",
        "progress_events",
        "run_logs",
    ] {
        let sql = format!("SELECT count(*) FROM {table} WHERE account_id = 1");
        assert_eq!(count(&mut admin, &sql).await, 0, "{table}");
    }

    db::migrate(&owner).await.expect("a second run is a no-op");
}
