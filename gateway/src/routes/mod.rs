//! The route handlers, one module per resource; each adds its routes to the table
//! ([`crate::kit::table`]) the router is built from, and stands on the kit ([`crate::kit`]).
//!
//! * [`runs`]: the runner's writes (`/v1/runs/{analysis}/…`): start, commits, phases,
//!   artifacts, progress, finish.
//! * [`logs`]: run logs, written by runners and read by users.
//! * [`read`]: the read API for users (`/v1/analyses…`), by resource.
//! * [`tracking`]: what the operator reads (last analyzed commit, latest progress).
//! * [`keys`], [`policy`]: the admin path: accounts' API keys and data policies.

pub mod keys;
pub mod logs;
pub mod policy;
pub mod read;
pub mod runs;
pub mod tracking;
pub mod ui;
