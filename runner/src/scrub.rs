//! The scrub stage: before anything leaves the runner, secrets are removed and emails hashed,
//! when the policy asks for it (`RunConfig.scrub_pii` in a pod, `--scrub` on a laptop).
//!
//! The rules and the hashing live in [`gitview_core::scrub`], shared with the gateway, which
//! scrubs again on read for accounts whose policy is on; this module re-exports them under the
//! runner's own name.

pub use gitview_core::scrub::*;
