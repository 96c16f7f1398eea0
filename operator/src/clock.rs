//! The clock every controller reads "now" from, injected so tests control time.

use std::sync::Arc;

use jiff::Timestamp;

/// A source of the current time.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// The system clock.
pub fn system() -> Clock {
    Arc::new(Timestamp::now)
}
