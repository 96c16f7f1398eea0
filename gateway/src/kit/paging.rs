//! Paging and the filters every list shares: `limit`, opaque cursors, and the `since`/`until`
//! window.
//!
//! Lists are keyset-paginated: a page ends with an opaque `nextCursor` (base64url of the last
//! row's sort key), and the next page starts strictly after that key, so rows are never
//! skipped or repeated while others are added, and a deep page costs what the first does (the
//! indexes are on the sort keys).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sqlx::{Postgres, QueryBuilder};

use crate::error::ApiError;

/// Page size when the request names none.
pub const DEFAULT_LIMIT: i64 = 50;
/// The largest page.
pub const MAX_LIMIT: i64 = 500;

/// The answer to a cursor that no list returned (every list route).
pub(crate) fn invalid_cursor() -> ApiError {
    ApiError::bad_request("cursor is not a nextCursor this list returned; start again without it")
}

/// A cursor's text: every list encodes its cursors as unpadded URL-safe base64 of UTF-8.
pub(crate) fn cursor_text(value: &str) -> Result<String, ApiError> {
    URL_SAFE_NO_PAD
        .decode(value)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(invalid_cursor)
}

/// `limit`: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when absent (every list route but the
/// runner's history).
pub(crate) fn limit(value: Option<&str>) -> Result<i64, ApiError> {
    limit_within(value, DEFAULT_LIMIT, MAX_LIMIT)
}

/// `limit`: 1 to `max`, `default` when absent.
pub(crate) fn limit_within(value: Option<&str>, default: i64, max: i64) -> Result<i64, ApiError> {
    let Some(value) = value else {
        return Ok(default);
    };
    value
        .parse::<i64>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "limit must be a whole number from 1 to {max}, not {value:?}"
            ))
        })
}

/// A time parameter, RFC 3339 with an offset; normalised to UTC for `$n::timestamptz`.
fn time(name: &str, value: Option<&str>) -> Result<Option<String>, ApiError> {
    value
        .map(|value| {
            value
                .parse::<jiff::Timestamp>()
                .map(|t| t.to_string())
                .map_err(|_| {
                    ApiError::bad_request(format!(
                        "{name} must be an RFC 3339 time with an offset, such as 2024-05-01T00:00:00Z, not {value:?}"
                    ))
                })
        })
        .transpose()
}

/// `since` (inclusive) and `until` (exclusive), in order.
pub(crate) fn window(since: Option<&str>, until: Option<&str>) -> Result<Window, ApiError> {
    let window = Window {
        since: time("since", since)?,
        until: time("until", until)?,
    };
    if let (Some(since), Some(until)) = (since, until)
        && since.parse::<jiff::Timestamp>().ok() >= until.parse::<jiff::Timestamp>().ok()
    {
        return Err(ApiError::bad_request("since must be before until"));
    }
    Ok(window)
}

#[derive(Debug, Default)]
pub(crate) struct Window {
    pub(crate) since: Option<String>,
    pub(crate) until: Option<String>,
}

impl Window {
    pub(crate) fn push(&self, sql: &mut QueryBuilder<Postgres>, column: &str) {
        if let Some(since) = &self.since {
            sql.push(format_args!(" AND {column} >= "))
                .push_bind(since.clone())
                .push("::timestamptz");
        }
        if let Some(until) = &self.until {
            sql.push(format_args!(" AND {column} < "))
                .push_bind(until.clone())
                .push("::timestamptz");
        }
    }
}

/// Which list a cursor belongs to: a cursor from one list is refused by the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum List {
    Analyses,
    Commits,
    Progress,
    /// A repository's stored history, oldest first (the runner's).
    History,
    /// One path's commits, newest first.
    FileHistory,
}

impl List {
    fn tag(self) -> &'static str {
        match self {
            Self::Analyses => "a",
            Self::Commits => "c",
            Self::Progress => "p",
            Self::History => "h",
            Self::FileHistory => "f",
        }
    }
}

/// The sort key of the last row of a page: its time (RFC 3339, exact to the microsecond;
/// `None` for a commit without a committer time) and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub(crate) time: Option<String>,
    pub(crate) id: String,
}

impl Cursor {
    pub(crate) fn encode(&self, list: List) -> String {
        let raw = format!(
            "{}\n{}\n{}",
            list.tag(),
            self.time.as_deref().unwrap_or_default(),
            self.id
        );
        URL_SAFE_NO_PAD.encode(raw)
    }

    pub(crate) fn decode(list: List, value: Option<&str>) -> Result<Option<Self>, ApiError> {
        let Some(value) = value else {
            return Ok(None);
        };
        let invalid = invalid_cursor;
        let raw = cursor_text(value)?;
        let mut parts = raw.splitn(3, '\n');
        let (Some(tag), Some(time), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(invalid());
        };
        if tag != list.tag() || id.is_empty() {
            return Err(invalid());
        }
        // Checked here so that a forged time never reaches the database's cast.
        let time = match time {
            "" => None,
            time if time.parse::<jiff::Timestamp>().is_ok() => Some(time.to_owned()),
            _ => return Err(invalid()),
        };
        Ok(Some(Self {
            time,
            id: id.to_owned(),
        }))
    }
}

impl Cursor {
    /// The condition for the rows after this cursor in newest-first order
    /// (`ORDER BY {time} DESC, {id} DESC`, which puts rows without a time first), as
    /// ` AND …`. `time` and `id` are trusted column names.
    pub(crate) fn push_newest_first(self, sql: &mut QueryBuilder<Postgres>, time: &str, id: &str) {
        match self.time {
            Some(at) => {
                sql.push(format_args!(" AND ({time}, {id}) < ("))
                    .push_bind(at)
                    .push("::timestamptz, ")
                    .push_bind(self.id)
                    .push(")");
            }
            // After an undated row: the rest of the undated ones, then every dated one.
            None => {
                sql.push(format_args!(" AND ({time} IS NOT NULL OR {id} < "))
                    .push_bind(self.id)
                    .push(")");
            }
        }
    }
}

/// Cuts a `limit + 1` fetch to `limit` rows and makes the cursor of the next page.
pub(crate) fn page<T>(
    mut rows: Vec<T>,
    limit: i64,
    list: List,
    key: impl Fn(&T) -> Cursor,
) -> (Vec<T>, Option<String>) {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if rows.len() <= limit {
        return (rows, None);
    }
    rows.truncate(limit);
    let next = rows.last().map(|row| key(row).encode(list));
    (rows, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_and_stay_in_range() {
        assert_eq!(limit(None).ok(), Some(DEFAULT_LIMIT));
        assert_eq!(limit(Some("1")).ok(), Some(1));
        assert_eq!(limit(Some("500")).ok(), Some(MAX_LIMIT));
        for bad in ["0", "501", "-1", "ten", "", "1.5"] {
            let err = limit(Some(bad)).expect_err(bad);
            assert!(err.message.starts_with("limit"), "{err:?}");
        }
        assert_eq!(limit_within(None, 500, 2000).ok(), Some(500));
        assert_eq!(limit_within(Some("2000"), 500, 2000).ok(), Some(2000));
        let err = limit_within(Some("2001"), 500, 2000).expect_err("over");
        assert!(err.message.contains("1 to 2000"), "{err:?}");
    }

    #[test]
    fn cursors_round_trip_and_belong_to_one_list() {
        let cursor = Cursor {
            time: Some("2024-05-01T07:30:00.000001Z".into()),
            id: "uid\nwith:odd/characters".into(),
        };
        let encoded = cursor.encode(List::Analyses);
        assert_eq!(
            Cursor::decode(List::Analyses, Some(&encoded)).ok(),
            Some(Some(cursor.clone()))
        );
        assert!(Cursor::decode(List::Commits, Some(&encoded)).is_err());
        let undated = Cursor {
            time: None,
            id: "ab".repeat(20),
        };
        assert_eq!(
            Cursor::decode(List::Commits, Some(&undated.encode(List::Commits))).ok(),
            Some(Some(undated))
        );
        let forged = URL_SAFE_NO_PAD.encode("a\n2024-13-01'; DROP TABLE x\nid");
        for bad in ["!!", "", &URL_SAFE_NO_PAD.encode("a\n\n"), &forged] {
            let err = Cursor::decode(List::Analyses, Some(bad)).expect_err(bad);
            assert!(err.message.starts_with("cursor"), "{err:?}");
        }
    }

    #[test]
    fn times_name_their_parameter_and_keep_order() {
        assert_eq!(
            time("since", Some("2024-05-01T09:30:00+02:00")).ok(),
            Some(Some("2024-05-01T07:30:00Z".into()))
        );
        let err = time("until", Some("yesterday")).expect_err("not a time");
        assert!(err.message.starts_with("until"), "{err:?}");
        assert!(window(Some("2024-05-02T00:00:00Z"), Some("2024-05-01T00:00:00Z")).is_err());
        assert!(window(Some("2024-05-01T00:00:00Z"), Some("2024-05-02T00:00:00Z")).is_ok());
    }

    #[test]
    fn a_page_has_a_cursor_only_when_more_rows_follow() {
        let key = |n: &i32| Cursor {
            time: None,
            id: n.to_string(),
        };
        let (rows, next) = page(vec![1, 2, 3], 3, List::Progress, key);
        assert_eq!((rows, next), (vec![1, 2, 3], None));
        let (rows, next) = page(vec![1, 2, 3], 2, List::Progress, key);
        assert_eq!(rows, vec![1, 2]);
        assert_eq!(
            Cursor::decode(List::Progress, next.as_deref())
                .ok()
                .flatten()
                .map(|c| c.id),
            Some("2".to_owned())
        );
    }
}
