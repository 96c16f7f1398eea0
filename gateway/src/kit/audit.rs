//! The audit log: every mutation writes one row (who, what, on what, with detail) in the
//! mutation's own transaction, so a change and its audit row commit or roll back together.

use serde_json::Value;

/// The actor of audit rows the admin path writes.
pub(crate) const ADMIN_ACTOR: &str = "admin";

/// Writes the audit row of a mutation, in the mutation's transaction.
pub(crate) async fn audit(
    tx: &mut sqlx::PgConnection,
    account: i64,
    actor: &str,
    action: &str,
    target: &str,
    detail: Value,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO audit_log (account_id, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)")
        .bind(account)
        .bind(actor)
        .bind(action)
        .bind(target)
        .bind(detail)
        .execute(tx)
        .await?;
    Ok(())
}
