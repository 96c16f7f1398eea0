//! CHECK constraints answer a client in words, never in the database's own text: a real
//! violation through `ApiError::from`, and every CHECK constraint of the migrated schema that a
//! client's values can reach has its own message.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

mod common;

use gitview_gateway::error::{ApiError, check_violation_message};
use sqlx::Connection as _;

/// Constraints only the gateway's own values can break (ids it makes, digests, the inline or
/// stored artifact rule): the generic message is right for them.
const INTERNAL: &[&str] = &[
    "api_keys_public_id_check",
    "api_keys_key_sha256_check",
    "ui_sessions_token_sha256_check",
    "artifacts_check",
];

#[tokio::test]
async fn check_violations_are_named_by_meaning_not_by_the_database() {
    let pg = common::migrated_postgres().await;
    let mut conn = sqlx::PgConnection::connect(&pg.url("postgres", "gitview"))
        .await
        .unwrap();

    // A real violation, converted as a handler would.
    let err = sqlx::query("INSERT INTO accounts (name, retention_days) VALUES ('a', 0)")
        .execute(&mut conn)
        .await
        .expect_err("retention_days 0 breaks the CHECK");
    let api = ApiError::from(err);
    assert_eq!(api.status.as_u16(), 400);
    assert_eq!(api.message, "retention days must be a positive number");

    // Every CHECK constraint of the schema is mapped, or known to be internal.
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT conname::text FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
         WHERE c.contype = 'c' AND n.nspname = 'public' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(names.len() > INTERNAL.len(), "{names:?}");
    let generic = check_violation_message(None);
    let unmapped: Vec<&String> = names
        .iter()
        .filter(|name| {
            !INTERNAL.contains(&name.as_str()) && check_violation_message(Some(name)) == generic
        })
        .collect();
    assert!(
        unmapped.is_empty(),
        "CHECK constraints without a message in error.rs: {unmapped:?}"
    );
}
