//! Account names as the admin path takes them: checked, and looked up without creating one
//! (the state's [`AppState::account_id`] creates them for runner writes).

use crate::error::ApiError;
use crate::kit::state::AppState;

pub(crate) fn valid_account(account: &str) -> Result<(), ApiError> {
    if account.is_empty()
        || account.len() > 253
        || account.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ApiError::bad_request(
            "account must be 1 to 253 characters without whitespace",
        ));
    }
    Ok(())
}

/// The id of the account named `account`; 404 when there is none.
pub(crate) async fn existing_account(state: &AppState, account: &str) -> Result<i64, ApiError> {
    valid_account(account)?;
    let id: Option<i64> = sqlx::query_scalar("SELECT gitview_account_id($1)")
        .bind(account)
        .fetch_one(&state.pool)
        .await?;
    id.ok_or_else(|| ApiError::not_found(format!("no account named {account:?}")))
}
