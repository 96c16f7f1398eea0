//! The times of commit records ([`Person::time`](crate::records::Person::time)): how the
//! runner writes them, how the runner and the gateway read them back, and the UTC calendar
//! the story and the timeline count in.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::{Offset, TimeZone};

/// A commit time as records hold it: RFC 3339 in the recorded offset (git's `%aI`), or git's
/// raw `@<seconds> <+hhmm>` for times RFC 3339 cannot express (years outside 0000–9999, or an
/// offset out of range). `offset` is in seconds east of UTC, as git records it.
pub fn format_recorded(seconds: i64, offset: i32) -> String {
    let rfc3339 = Offset::from_seconds(offset)
        .ok()
        .zip(Timestamp::from_second(seconds).ok())
        .and_then(|(offset, timestamp)| {
            let civil = offset.to_datetime(timestamp);
            (0..=9999)
                .contains(&civil.year())
                .then(|| timestamp.display_with_offset(offset).to_string())
        });
    rfc3339.unwrap_or_else(|| {
        let sign = if offset < 0 { '-' } else { '+' };
        let minutes = offset.unsigned_abs() / 60;
        format!("@{seconds} {sign}{:02}{:02}", minutes / 60, minutes % 60)
    })
}

/// Seconds since the epoch of a recorded time (RFC 3339, or git's raw `@<seconds> <tz>`).
pub fn epoch_seconds(recorded: &str) -> Option<i64> {
    if let Some(raw) = recorded.strip_prefix('@') {
        return raw.split_whitespace().next()?.parse().ok();
    }
    recorded.parse::<Timestamp>().ok().map(|t| t.as_second())
}

/// The calendar day in UTC of `seconds` since the epoch; 1970-01-01 for a time outside what
/// [`Timestamp`] holds (years -9999 to 9999).
pub fn utc_date(seconds: i64) -> Date {
    Timestamp::from_second(seconds)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned(TimeZone::UTC)
        .date()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_keep_their_offset() {
        let time = format_recorded;
        assert_eq!(time(0, 0), "1970-01-01T00:00:00+00:00");
        assert_eq!(time(1_700_000_000, 2 * 3600), "2023-11-15T00:13:20+02:00");
        assert_eq!(
            time(1_700_000_000, -(5 * 3600 + 30 * 60)),
            "2023-11-14T16:43:20-05:30"
        );
        assert_eq!(
            time(300_000_000_000, 3600),
            "@300000000000 +0100",
            "year 11476 has no RFC 3339 form"
        );
    }

    #[test]
    fn recorded_times_read_back_as_they_were_written() {
        for (seconds, offset) in [
            (0, 0),
            (1_714_548_600, 2 * 3600),
            (-5, 0),
            (300_000_000_000, -3600),
        ] {
            assert_eq!(
                epoch_seconds(&format_recorded(seconds, offset)),
                Some(seconds)
            );
        }
        assert_eq!(epoch_seconds("@-5 +0000"), Some(-5));
        assert_eq!(
            epoch_seconds("2024-05-01T09:30:00+02:00"),
            Some(1_714_548_600)
        );
        assert_eq!(epoch_seconds("yesterday"), None);
    }

    #[test]
    fn days_are_utc_days() {
        // 2024-05-01T01:30:00+02:00 is still April 30th in UTC.
        assert_eq!(utc_date(1_714_519_800).to_string(), "2024-04-30");
        assert_eq!(utc_date(0).to_string(), "1970-01-01");
        assert_eq!(utc_date(i64::MAX).to_string(), "1970-01-01");
    }
}
