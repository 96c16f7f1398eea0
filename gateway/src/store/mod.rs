//! The SQL of the runner's writes, one module per resource, as named functions on a tenant
//! transaction: the routes ([`crate::routes::runs`], [`crate::routes::logs`]) check a request
//! with pure functions, then call these. `summaries` is the account's summary cache, which
//! runs both fill and read. Row-level security scopes every statement to the
//! transaction's account; the attempt checks ([`attempts`]) run in the write's own transaction.

pub mod artifacts;
pub mod attempts;
pub mod commits;
pub mod logs;
pub mod phases;
pub mod progress;
pub mod runs;
pub mod summaries;
