//! The run log: `run`'s own log lines (info and above), kept for the gateway's logs route
//! (`POST /v1/runs/{analysis}/logs`) beside the JSON lines on stderr.
//!
//! [`RunLog::layer`] is a [`tracing_subscriber::Layer`] that records each event at INFO or
//! above as a [`LogLine`] (its time, level, message, and its other fields as a JSON object),
//! numbered by `seq` from 0 in the order logged, into a bounded buffer of
//! [`RunLog::capacity`] lines. When the buffer is full further lines are counted, not kept,
//! and the next [`RunLog::drain`] ends with one warning line saying how many were dropped.
//! [`GatewaySink`](super::gateway::GatewaySink) ships the buffer in batches of at most
//! [`MAX_LOG_LINES`] at stage boundaries and at the end of the run.
//!
//! Shipping is best effort: a batch the gateway does not take (after the client's retries)
//! is reported on stderr only (events with target [`LOCAL_TARGET`] are never recorded, so the
//! report is not shipped in turn), and the run log is switched off for the rest of the run.
//! Messages are cut to [`MAX_MESSAGE_BYTES`] and NUL characters replaced, as the route
//! requires. `analyze` never installs the layer.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

pub use gitview_core::results::MAX_LOG_LINES;
use gitview_core::results::{LogLevel, LogLine};
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;

/// Lines kept in memory before further lines are dropped (and counted).
pub const DEFAULT_CAPACITY: usize = 10_000;
/// The longest message (and string field) the gateway takes, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;
/// Events with this target go to stderr only, never into the run log.
pub const LOCAL_TARGET: &str = "gitview_runner::runlog::local";

#[derive(Debug, Default)]
struct State {
    lines: VecDeque<LogLine>,
    next_seq: u64,
    dropped: u64,
    off: bool,
}

/// The shared buffer of a run's log lines (cheap to clone: one buffer).
#[derive(Clone, Debug)]
pub struct RunLog {
    state: Arc<Mutex<State>>,
    capacity: usize,
}

impl Default for RunLog {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl RunLog {
    /// An empty run log keeping at most `capacity` unshipped lines.
    pub fn new(capacity: usize) -> Self {
        Self {
            state: Arc::default(),
            capacity: capacity.max(1),
        }
    }

    /// A run log that records nothing (for callers that ship no logs).
    pub fn off() -> Self {
        let log = Self::new(1);
        log.switch_off();
        log
    }

    /// How many unshipped lines it keeps.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The layer that records into this run log.
    pub fn layer(&self) -> RunLogLayer {
        RunLogLayer { log: self.clone() }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data: keep going.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records one line (numbered here), or counts it as dropped when the buffer is full.
    pub fn record(&self, level: LogLevel, message: String, fields: Map<String, Value>) {
        let at = jiff::Timestamp::now().to_string();
        let mut state = self.state();
        if state.off {
            return;
        }
        if state.lines.len() >= self.capacity {
            state.dropped += 1;
            return;
        }
        let seq = state.next_seq;
        state.next_seq += 1;
        state.lines.push_back(LogLine {
            seq,
            at,
            level,
            message: clean(message),
            fields: Value::Object(fields),
        });
    }

    /// Takes every unshipped line, oldest first; when lines were dropped, ends with a warning
    /// saying how many.
    pub fn drain(&self) -> Vec<LogLine> {
        let mut state = self.state();
        let mut lines: Vec<LogLine> = state.lines.drain(..).collect();
        if state.dropped > 0 {
            let dropped = std::mem::take(&mut state.dropped);
            let seq = state.next_seq;
            state.next_seq += 1;
            let mut fields = Map::new();
            fields.insert("dropped".into(), dropped.into());
            lines.push(LogLine {
                seq,
                at: jiff::Timestamp::now().to_string(),
                level: LogLevel::Warn,
                message: format!(
                    "{dropped} log lines were dropped: the run log's buffer of {} lines was full",
                    self.capacity
                ),
                fields: Value::Object(fields),
            });
        }
        lines
    }

    /// Stops recording and forgets the unshipped lines (shipping failed, or nothing ships).
    pub fn switch_off(&self) {
        let mut state = self.state();
        state.off = true;
        state.lines.clear();
        state.dropped = 0;
    }

    /// Whether it still records.
    pub fn is_on(&self) -> bool {
        !self.state().off
    }
}

/// Cuts `text` to [`MAX_MESSAGE_BYTES`] (on a character boundary) and replaces NUL, which
/// the gateway cannot store.
fn clean(mut text: String) -> String {
    if text.contains('\0') {
        text = text.replace('\0', "\u{FFFD}");
    }
    if text.len() > MAX_MESSAGE_BYTES {
        let mut keep = MAX_MESSAGE_BYTES - '…'.len_utf8();
        while !text.is_char_boundary(keep) {
            keep -= 1;
        }
        text.truncate(keep);
        text.push('…');
    }
    text
}

fn level_of(level: Level) -> LogLevel {
    match level {
        Level::ERROR => LogLevel::Error,
        Level::WARN => LogLevel::Warn,
        Level::INFO => LogLevel::Info,
        Level::DEBUG => LogLevel::Debug,
        _ => LogLevel::Trace,
    }
}

/// Records events at INFO and above into a [`RunLog`].
#[derive(Debug)]
pub struct RunLogLayer {
    log: RunLog,
}

impl<S: Subscriber> tracing_subscriber::Layer<S> for RunLogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let metadata = event.metadata();
        // Levels compare by verbosity: INFO and above are those not more verbose than INFO.
        if *metadata.level() > Level::INFO || metadata.target() == LOCAL_TARGET {
            return;
        }
        let mut visitor = Fields::default();
        event.record(&mut visitor);
        self.log.record(
            level_of(*metadata.level()),
            visitor.message.unwrap_or_default(),
            visitor.fields,
        );
    }
}

/// An event's message and other fields.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    fields: Map<String, Value>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        // The event's own message comes first; a `message = …` field besides it is a field.
        if field.name() == "message" && self.message.is_none() {
            self.message = Some(match value {
                Value::String(text) => text,
                other => other.to_string(),
            });
        } else {
            self.fields.insert(field.name().to_owned(), value);
        }
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, Value::String(clean(format!("{value:?}"))));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(clean(value.to_owned())));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::String(clean(value.to_string())));
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    fn logged(log: &RunLog, f: impl FnOnce()) {
        let subscriber = tracing_subscriber::registry().with(log.layer());
        tracing::subscriber::with_default(subscriber, f);
    }

    #[test]
    fn events_at_info_and_above_become_numbered_lines_with_their_fields() {
        let log = RunLog::new(100);
        logged(&log, || {
            tracing::debug!("not kept");
            tracing::info!(stage = "extract", done = 3u64, ok = true, "progress");
            tracing::warn!(error = %"boom", "careful");
            tracing::error!(code = -1i64, "failed");
            tracing::warn!(target: LOCAL_TARGET, "stderr only");
            tracing::info!(message = "a field", "the message");
        });
        let lines = log.drain();
        let seqs: Vec<u64> = lines.iter().map(|l| l.seq).collect();
        assert_eq!(seqs, [0, 1, 2, 3]);
        let levels: Vec<LogLevel> = lines.iter().map(|l| l.level).collect();
        assert_eq!(
            levels,
            [
                LogLevel::Info,
                LogLevel::Warn,
                LogLevel::Error,
                LogLevel::Info
            ]
        );
        assert_eq!(lines[3].message, "the message");
        assert_eq!(lines[3].fields, serde_json::json!({"message": "a field"}));
        assert_eq!(lines[0].message, "progress");
        assert_eq!(
            lines[0].fields,
            serde_json::json!({"stage": "extract", "done": 3, "ok": true})
        );
        assert_eq!(lines[1].fields, serde_json::json!({"error": "boom"}));
        assert_eq!(lines[2].fields, serde_json::json!({"code": -1}));
        assert!(
            lines[0].at.parse::<jiff::Timestamp>().is_ok(),
            "{}",
            lines[0].at
        );
        assert!(log.drain().is_empty());
        logged(&log, || tracing::info!("later"));
        assert_eq!(log.drain()[0].seq, 4, "seq goes on across drains");
    }

    #[test]
    fn a_full_buffer_counts_what_it_drops_and_says_so_once() {
        let log = RunLog::new(2);
        logged(&log, || {
            for n in 0..5 {
                tracing::info!(n, "line");
            }
        });
        let lines = log.drain();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2].seq, 2);
        assert_eq!(lines[2].level, LogLevel::Warn);
        assert!(lines[2].message.starts_with("3 log lines were dropped"));
        assert_eq!(lines[2].fields, serde_json::json!({"dropped": 3}));
        logged(&log, || tracing::info!("after"));
        let lines = log.drain();
        assert_eq!(lines.len(), 1, "the drop is reported once");
        assert_eq!(lines[0].seq, 3);
    }

    #[test]
    fn messages_fit_the_route_and_a_switched_off_log_keeps_nothing() {
        let log = RunLog::new(10);
        logged(&log, || {
            tracing::info!(detail = "a\0b", "{}", "é".repeat(MAX_MESSAGE_BYTES));
        });
        let line = &log.drain()[0];
        assert!(line.message.len() <= MAX_MESSAGE_BYTES);
        assert!(line.message.ends_with('…'));
        assert_eq!(line.fields, serde_json::json!({"detail": "a\u{FFFD}b"}));
        log.switch_off();
        logged(&log, || tracing::info!("ignored"));
        assert!(log.drain().is_empty());
        assert!(!log.is_on());
        assert!(RunLog::off().drain().is_empty());
    }
}
