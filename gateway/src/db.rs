//! Connections (over TLS as [`tls`] resolves it), migrations and per-transaction tenancy.

pub mod tls;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

/// The embedded migrations (`gateway/migrations/`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

fn pool(max_connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(std::time::Duration::from_secs(5))
}

/// A connection pool to `url` as sqlx reads it (tests; the binary uses [`connect_to`]).
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    pool(max_connections).connect(url).await
}

/// A connection pool to `target`, whose errors name what failed: the CA file, TLS (and
/// why), or the connection, with the TLS settings asked for.
pub async fn connect_to(
    target: &tls::Target,
    max_connections: u32,
) -> Result<PgPool, tls::ConnectError> {
    target.check_root_cert()?;
    pool(max_connections)
        .connect_with(target.options().clone())
        .await
        .map_err(|err| target.explain(err))
}

/// Whether a connection failure means the database is not up yet (nothing listening, or
/// PostgreSQL starting or shutting down), as opposed to a refusal that waiting cannot fix
/// (authentication, an unknown database, a certificate refused).
pub fn is_not_up_yet(err: &sqlx::Error) -> bool {
    match err {
        // rustls' errors come as the handshake's I/O error.
        sqlx::Error::Io(io) => tls::rustls_error(io).is_none(),
        sqlx::Error::PoolTimedOut => true,
        // 57P03 cannot_connect_now: "the database system is starting up".
        sqlx::Error::Database(db) => db.code().as_deref() == Some("57P03"),
        _ => false,
    }
}

/// Applies the migrations not applied yet (as the schema owner).
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// A transaction in which row-level security sees only `account_id`'s rows.
pub async fn tenant(
    pool: &PgPool,
    account_id: i64,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    // One round trip for both, as one simple query (a read costs a handful of round trips, so
    // this one shows). `account_id` is an integer: formatting it into the SQL injects nothing.
    // `SET LOCAL` is `set_config(…, true)`: the setting ends with the transaction.
    pool.begin_with(sqlx::AssertSqlSafe(format!(
        "BEGIN; SET LOCAL gitview.account_id = '{account_id}'"
    )))
    .await
}

/// The id of the account named `name`, created if new (see `gitview_ensure_account`).
pub async fn ensure_account(pool: &PgPool, name: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT gitview_ensure_account($1)")
        .bind(name)
        .fetch_one(pool)
        .await
}

/// The account's scrub policy as a scalar subquery on the bound account (`$1`); a missing row
/// scrubs. Every route that answers stored text selects it with the rows.
pub(crate) const SCRUB_PII: &str = "coalesce((SELECT scrub_pii FROM accounts WHERE id = $1), true)";

/// SQL for a `timestamptz` column as RFC 3339 in UTC with microseconds,
/// `2024-05-01T07:30:00.000000Z`: exact, so a pagination cursor can carry it back as text and
/// compare with `$n::timestamptz`, and independent of the session's `TimeZone` and `DateStyle`.
/// A literal, for `concat!`.
macro_rules! rfc3339 {
    ($column:literal) => {
        concat!(
            "to_char(",
            $column,
            " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
        )
    };
}
pub(crate) use rfc3339;
