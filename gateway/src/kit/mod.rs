//! The shared kit every routes module stands on; nothing here imports a handler.
//!
//! * [`state`]: [`AppState`](state::AppState), what the handlers share, and the artifact size
//!   limits.
//! * [`extract`]: the path, query and JSON extractors whose rejections answer in the one error
//!   shape.
//! * [`table`]: `Routes`, the route table each routes module adds its routes to.
//! * [`guard`]: who may call: runner tokens, API keys, the admin token, operator tokens.
//! * [`keys`]: the API keys' format and the admin token.
//! * [`limits`]: per-API-key rate limits and their headers.
//! * [`auth_proxy`]: whom the web UI's authenticating proxy signs in, from where.
//! * `graphs`: the web UI's commit graphs in memory, windows of rows cut from them.
//! * `stories`: whether an analysis' story tells the whole history, remembered.
//! * [`paging`]: `limit`, cursors and the time window every list shares.
//! * `accounts`: account names on the admin path.
//! * `audit`: the audit row every mutation writes.
//! * `check`: pure checks of the values runners write (object ids, `bigint` counts, NUL).

pub(crate) mod accounts;
pub(crate) mod audit;
pub mod auth_proxy;
pub(crate) mod check;
pub mod extract;
pub(crate) mod graphs;
pub mod guard;
pub mod keys;
pub mod limits;
pub mod paging;
pub mod state;
pub(crate) mod stories;
pub mod table;
