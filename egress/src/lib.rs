//! Where gitview may connect on a tenant's behalf.
//!
//! Every outbound connection gitview makes for a tenant — the operator's RepositoryTracker
//! polls, the runner's fetches, its model calls — goes through this crate's one [`Policy`],
//! **at connect time, on the addresses actually dialled**: a host is resolved once, every
//! address it resolves to is checked, and the connection goes only to an address that was
//! checked (no second lookup). Redirects are re-checked the same way, hop by hop, because each
//! hop is a new connection through the same hooks. A refused connection is never attempted:
//! the error ([`Refusal`]) names the host and the address.
//!
//! * [`resolve`] and [`connect_tcp`]: the blocking resolution and TCP dial (git://, and the
//!   address an `ssh` command is pointed at);
//! * [`HttpGuard`]: the same policy inside reqwest (gix's http(s) transport, the model
//!   client), see [`http`].
//!
//! What the policy refuses is in [`Policy`]; how an address is read, in every spelling the
//! C library and the URL parsers accept, in [`literal_address`].
#![forbid(unsafe_code)]

pub mod http;
mod policy;
mod resolve;
#[cfg(feature = "testing")]
pub mod testing;

pub use http::HttpGuard;
pub use policy::{Class, Policy, Refusal, classify, literal_address};
pub use resolve::{Error, connect_tcp, resolve};
