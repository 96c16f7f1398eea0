//! Run logs: runners write their log lines in batches (`POST /v1/runs/{analysis}/logs`), users
//! read them back in order (`GET /v1/analyses/{id}/logs`); bodies in
//! [`gitview_core::results`]. The lines outlive the runner's pod.
//!
//! A line is named by its analysis, the attempt of the runner token that wrote it, and its
//! `seq` in that attempt; a batch sent again (a retried request) stores nothing twice
//! (`ON CONFLICT DO NOTHING` on that key, which is also the index the read walks). Like
//! progress events, log batches write no audit row: they are the run's own output, not a
//! change to anyone's data, and an audit row per batch would double the writes.
//!
//! The read is keyset-paginated on (attempt, seq), oldest first, in the reader's tenant
//! transaction with the account in every `WHERE`; another account's analysis answers 404.
//! A page's `nextCursor` is given while more lines follow; its `resumeCursor` (the position
//! after its last line) whenever it has lines, so a follower asks only for what came later.
//! An account whose policy scrubs PII reads the lines' messages and fields scrubbed.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gitview_core::results::{LogBatch, LogLevel, LogLine, LogPage, LogRecord, LogsStored};
use gitview_core::scrub;
use serde::Deserialize;
use serde_json::Value;

use crate::db::{self, SCRUB_PII, rfc3339};
use crate::error::ApiError;
use crate::kit::check::contains_nul;
use crate::kit::extract::{ApiJson, ApiPath, ApiQuery};
use crate::kit::guard::{Reader, Runner};
use crate::kit::paging::{cursor_text, invalid_cursor, limit};
use crate::kit::state::AppState;
use crate::kit::table::Routes;
use crate::routes::read::shared::scrub_text;
use crate::store;
use crate::store::attempts::repository_of;
use crate::store::logs::LogColumns;

/// The most lines one batch may hold; more answer 413.
pub const MAX_LINES: usize = gitview_core::results::MAX_LOG_LINES;
/// The longest message, in bytes; longer answer 400.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// The log routes: the runner's write, the reader's list.
pub(crate) fn routes(routes: Routes) -> Routes {
    routes
        .on(Method::POST, "/v1/runs/{analysis}/logs", write)
        .on(Method::GET, "/v1/analyses/{id}/logs", list)
}

/// A batch's rows, column by column (for `UNNEST`), checked: at most [`MAX_LINES`], each
/// with a `seq` of its own, a time, a message of at most [`MAX_MESSAGE_BYTES`], object
/// `fields`, and no NUL.
fn log_columns(lines: &[LogLine]) -> Result<LogColumns<'_>, ApiError> {
    if lines.len() > MAX_LINES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "a log batch holds at most {MAX_LINES} lines, not {}: send the rest in another batch",
                lines.len()
            ),
        ));
    }
    let mut columns = LogColumns::default();
    let mut seen = std::collections::HashSet::with_capacity(lines.len());
    for (index, line) in lines.iter().enumerate() {
        let bad = |what: &str| ApiError::bad_request(format!("lines[{index}]: {what}"));
        let seq = i64::try_from(line.seq).map_err(|_| bad("seq is too large"))?;
        if !seen.insert(seq) {
            return Err(bad("seq appears twice in the batch"));
        }
        let at = line.at.parse::<jiff::Timestamp>().map_err(|_| {
            bad("at must be an RFC 3339 time with an offset, such as 2024-05-01T09:30:00Z")
        })?;
        if line.message.len() > MAX_MESSAGE_BYTES {
            return Err(bad(&format!(
                "message is longer than {MAX_MESSAGE_BYTES} bytes"
            )));
        }
        if !line.fields.is_object() {
            return Err(bad("fields must be a JSON object"));
        }
        // PostgreSQL text and JSONB cannot hold NUL: refuse it by name.
        if line.message.contains('\0') || contains_nul(&line.fields) {
            return Err(bad("a NUL character cannot be stored"));
        }
        columns.seq.push(seq);
        columns.at.push(at.to_string());
        columns.level.push(line.level.as_str());
        columns.message.push(&line.message);
        columns.fields.push(&line.fields);
    }
    Ok(columns)
}

async fn write(
    State(state): State<AppState>,
    ApiPath(analysis): ApiPath<String>,
    runner: Runner,
    ApiJson(body): ApiJson<LogBatch>,
) -> Result<axum::Json<LogsStored>, ApiError> {
    let claims = runner.for_analysis(&analysis)?;
    let columns = log_columns(&body.lines)?;
    let account = state.account_id(&claims.account).await?;
    let mut tx = db::tenant(&state.pool, account).await?;
    // Any attempt's lines are kept, under its own attempt (a superseded pod's last words are
    // worth reading); the read names each line's attempt.
    repository_of(&mut tx, &analysis).await?;
    let inserted =
        store::logs::insert(&mut tx, account, &analysis, claims.attempt, &columns).await?;
    tx.commit().await?;
    state.metrics.rows_written("run_logs", inserted);
    Ok(axum::Json(LogsStored {
        inserted,
        existing: (body.lines.len() as u64).saturating_sub(inserted),
    }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogsQuery {
    attempt: Option<String>,
    level: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// The levels at or above `level` (all when absent).
pub(crate) fn levels(level: Option<&str>) -> Result<Vec<&'static str>, ApiError> {
    let least = match level {
        None => LogLevel::Trace,
        Some(name) => LogLevel::parse(name).ok_or_else(|| {
            ApiError::bad_request(format!(
                "level must be trace, debug, info, warn or error, not {name:?}"
            ))
        })?,
    };
    Ok(LogLevel::ALL
        .into_iter()
        .filter(|level| *level >= least)
        .map(LogLevel::as_str)
        .collect())
}

/// The position after a page's last line: its attempt and seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LogCursor {
    attempt: i32,
    seq: i64,
}

impl LogCursor {
    /// Before every line (seq is never negative).
    pub(crate) const START: Self = Self {
        attempt: i32::MIN,
        seq: -1,
    };

    pub(crate) fn encode(self) -> String {
        URL_SAFE_NO_PAD.encode(format!("l\n{}\n{}", self.attempt, self.seq))
    }

    pub(crate) fn decode(value: Option<&str>) -> Result<Self, ApiError> {
        let Some(value) = value else {
            return Ok(Self::START);
        };
        let invalid = invalid_cursor;
        let raw = cursor_text(value)?;
        let mut parts = raw.split('\n');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("l"), Some(attempt), Some(seq), None) => Ok(Self {
                attempt: attempt.parse().map_err(|_| invalid())?,
                seq: seq
                    .parse()
                    .ok()
                    .filter(|seq| *seq >= 0)
                    .ok_or_else(invalid)?,
            }),
            _ => Err(invalid()),
        }
    }
}

type LogRow = (i32, i64, String, String, String, Value);

async fn list(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    reader: Reader,
    ApiQuery(query): ApiQuery<LogsQuery>,
) -> Result<axum::Json<LogPage>, ApiError> {
    let limit = limit(query.limit.as_deref())?;
    let levels = levels(query.level.as_deref())?;
    let attempt = query
        .attempt
        .as_deref()
        .map(|value| {
            value.parse::<i32>().map_err(|_| {
                ApiError::bad_request(format!("attempt must be a whole number, not {value:?}"))
            })
        })
        .transpose()?;
    let after = LogCursor::decode(query.cursor.as_deref())?;
    let mut tx = db::tenant(&state.pool, reader.account).await?;
    // The analysis, with the account's scrub policy: the lines hold what the runner logged
    // (URLs, refs, paths, errors quoting them), read like every other stored text.
    let scrub_pii: Option<bool> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT {SCRUB_PII} FROM analyses WHERE account_id = $1 AND id = $2"
    )))
    .bind(reader.account)
    .bind(&id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(scrub_pii) = scrub_pii else {
        return Err(ApiError::not_found(format!("no analysis {id:?}")));
    };
    let mut page = lines(
        &mut tx,
        AnalysisOf {
            account: reader.account,
            analysis: &id,
        },
        LinesFilter {
            attempt,
            levels: &levels,
        },
        after,
        limit,
    )
    .await?;
    tx.commit().await?;
    if scrub_pii {
        for record in &mut page.items {
            scrub_text(&mut record.line.message);
            scrub::scrub_json(&mut record.line.fields);
        }
    }
    Ok(axum::Json(page))
}

/// Whose lines: an account's analysis (which the caller has checked exists).
pub(crate) struct AnalysisOf<'a> {
    pub(crate) account: i64,
    pub(crate) analysis: &'a str,
}

/// Which lines: of one attempt (every attempt without), at these levels.
pub(crate) struct LinesFilter<'a> {
    pub(crate) attempt: Option<i32>,
    pub(crate) levels: &'a [&'static str],
}

/// A page of an analysis' log lines, in order, after `after`, in the caller's tenant
/// transaction (the API's list and the web UI's analysis page both read them here), as
/// stored.
pub(crate) async fn lines(
    tx: &mut sqlx::PgConnection,
    of: AnalysisOf<'_>,
    filter: LinesFilter<'_>,
    after: LogCursor,
    limit: i64,
) -> Result<LogPage, ApiError> {
    let mut rows: Vec<LogRow> = sqlx::query_as(concat!(
        "SELECT l.attempt, l.seq, ",
        rfc3339!("l.at"),
        ", l.level, l.message, l.fields FROM run_logs l
         WHERE l.account_id = $1 AND l.analysis_id = $2
           AND ($3::integer IS NULL OR l.attempt = $3) AND l.level = ANY($4)
           AND (l.attempt, l.seq) > ($5, $6)
         ORDER BY l.attempt, l.seq LIMIT $7"
    ))
    .bind(of.account)
    .bind(of.analysis)
    .bind(filter.attempt)
    .bind(filter.levels)
    .bind(after.attempt)
    .bind(after.seq)
    .bind(limit + 1)
    .fetch_all(&mut *tx)
    .await?;
    let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    // After the last line: the next page's cursor while more follow, and always the
    // follower's (the position to ask again from once more lines are stored).
    let resume_cursor = rows.last().map(|(attempt, seq, ..)| {
        LogCursor {
            attempt: *attempt,
            seq: *seq,
        }
        .encode()
    });
    let next_cursor = resume_cursor.clone().filter(|_| more);
    let items = rows
        .into_iter()
        .map(|(attempt, seq, at, level, message, fields)| {
            let level = LogLevel::parse(&level).ok_or_else(|| {
                tracing::error!(level = %level, "a stored log line has an unknown level");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                )
            })?;
            Ok(LogRecord {
                attempt,
                line: LogLine {
                    seq: u64::try_from(seq).unwrap_or_default(),
                    at,
                    level,
                    message,
                    fields,
                },
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(LogPage {
        items,
        next_cursor,
        resume_cursor,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn line(seq: u64) -> LogLine {
        LogLine {
            seq,
            at: "2024-05-01T09:30:00+02:00".into(),
            level: LogLevel::Info,
            message: format!("line {seq}"),
            fields: json!({"stage": "extract"}),
        }
    }

    #[test]
    fn a_batch_becomes_columns_in_utc() {
        let lines = [line(0), line(1)];
        let columns = log_columns(&lines).expect("valid");
        assert_eq!(columns.seq, [0, 1]);
        assert_eq!(columns.at, ["2024-05-01T07:30:00Z"; 2]);
        assert_eq!(columns.level, ["info"; 2]);
    }

    #[test]
    fn bad_batches_are_refused_by_line() {
        let too_many: Vec<LogLine> = (0..=MAX_LINES as u64).map(line).collect();
        let err = log_columns(&too_many).expect_err("too many");
        assert_eq!(err.status, StatusCode::PAYLOAD_TOO_LARGE);
        type Spoil = fn(&mut LogLine);
        let cases: [(Spoil, &str); 5] = [
            (|l| l.seq = u64::MAX, "seq is too large"),
            (|l| l.at = "yesterday".into(), "at must be"),
            (|l| l.message = "x".repeat(MAX_MESSAGE_BYTES + 1), "longer"),
            (|l| l.fields = json!([1]), "fields must be"),
            (|l| l.fields = json!({"k": "a\0b"}), "NUL"),
        ];
        for (spoil, says) in cases {
            let mut lines = vec![line(0), line(1)];
            spoil(&mut lines[1]);
            let err = log_columns(&lines).expect_err(says);
            assert_eq!(err.status, StatusCode::BAD_REQUEST);
            assert!(err.message.starts_with("lines[1]: "), "{err:?}");
            assert!(err.message.contains(says), "{err:?}");
        }
        let err = log_columns(&[line(3), line(3)]).expect_err("twice");
        assert!(err.message.contains("twice"), "{err:?}");
    }

    #[test]
    fn levels_are_the_least_and_above() {
        assert_eq!(levels(Some("warn")).ok(), Some(vec!["warn", "error"]));
        assert_eq!(levels(None).map(|l| l.len()).ok(), Some(5));
        assert!(levels(Some("loud")).is_err());
    }

    #[test]
    fn cursors_round_trip_and_refuse_others() {
        let cursor = LogCursor {
            attempt: 2,
            seq: 41,
        };
        assert_eq!(LogCursor::decode(Some(&cursor.encode())).ok(), Some(cursor));
        assert_eq!(LogCursor::decode(None).ok(), Some(LogCursor::START));
        for bad in [
            "!!",
            &URL_SAFE_NO_PAD.encode("p\n\n5"),
            &URL_SAFE_NO_PAD.encode("l\n1\n-1"),
            &URL_SAFE_NO_PAD.encode("l\n1\n2\n3"),
        ] {
            assert!(LogCursor::decode(Some(bad)).is_err(), "{bad}");
        }
    }
}
