//! Reading the gateway's stored-history stream (`GET /v1/runs/{analysis}/history/stream`):
//! NDJSON, a line `{"record":…,"enrichment":…}` per commit, oldest first, then
//! `{"end":{"commits":N}}`. Each line is parsed straight into the runner's [`CommitRecord`]
//! and [`Enrichment`] (no `serde_json::Value` between): the enrichment is kept as the raw text
//! of its line until it is parsed, so one that no longer reads as today's [`Enrichment`]
//! becomes `None` (enriched again from its record) without failing the line.
//!
//! [`Enrichment`]: crate::enrich::Enrichment
//!
//! A stream is whole only when its last line is the end line and counts the commit lines
//! before it; anything else (the connection cut, the gateway's read failing mid-stream, a
//! partial last line) is a [`HistoryStreamError`], never a shorter history.

use std::io::BufRead;

use gitview_core::results::StoredHistoryCount;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::enrich::Enrichment;
use crate::record::CommitRecord;

/// One commit from before a run's range, as an earlier run stored it ([`crate::earlier`]).
#[derive(Clone, Debug)]
pub struct EarlierCommit {
    pub record: CommitRecord,
    /// As stored; `None` when it no longer reads (enriched again from the record).
    pub enrichment: Option<Enrichment>,
}

/// Why a stored-history stream cannot be taken as the history.
#[derive(Debug, thiserror::Error)]
pub enum HistoryStreamError {
    #[error("the stream broke off after {commits} commits: {source}")]
    Read {
        commits: u64,
        #[source]
        source: std::io::Error,
    },
    #[error("the stream ended after {commits} commits without its end line: it was cut off")]
    Cut { commits: u64 },
    #[error("the stream's end line counts {said} commits, but {got} came before it")]
    Count { said: u64, got: u64 },
    #[error("the stream goes on after its end line")]
    AfterEnd,
    #[error("line {line} of the stream is neither a commit nor the end: {reason}")]
    Line { line: u64, reason: String },
}

/// One line: a commit (`record`, `enrichment`) or the end (`end`).
#[derive(Deserialize)]
struct Line<'a> {
    record: Option<CommitRecord>,
    #[serde(borrow)]
    enrichment: Option<&'a RawValue>,
    end: Option<StoredHistoryCount>,
}

/// Reads a whole stored-history stream: its commits, oldest first.
pub fn read_history(mut stream: impl BufRead) -> Result<Vec<EarlierCommit>, HistoryStreamError> {
    let mut commits = Vec::new();
    let mut buffer = Vec::with_capacity(64 * 1024);
    let mut got: u64 = 0;
    loop {
        buffer.clear();
        let read =
            stream
                .read_until(b'\n', &mut buffer)
                .map_err(|source| HistoryStreamError::Read {
                    commits: got,
                    source,
                })?;
        // End of input, or a last line that never ended: cut off either way.
        if read == 0 || buffer.last() != Some(&b'\n') {
            return Err(HistoryStreamError::Cut { commits: got });
        }
        let line: Line<'_> =
            serde_json::from_slice(&buffer).map_err(|err| HistoryStreamError::Line {
                line: got + 1,
                reason: err.to_string(),
            })?;
        match line {
            Line {
                record: Some(record),
                enrichment,
                end: None,
            } => {
                commits.push(EarlierCommit {
                    record,
                    enrichment: enrichment.and_then(|raw| serde_json::from_str(raw.get()).ok()),
                });
                got += 1;
            }
            Line {
                record: None,
                enrichment: None,
                end: Some(StoredHistoryCount { commits: said }),
            } => {
                if said != got {
                    return Err(HistoryStreamError::Count { said, got });
                }
                buffer.clear();
                let more = stream.read_until(b'\n', &mut buffer).map_err(|source| {
                    HistoryStreamError::Read {
                        commits: got,
                        source,
                    }
                })?;
                if more > 0 {
                    return Err(HistoryStreamError::AfterEnd);
                }
                return Ok(commits);
            }
            _ => {
                return Err(HistoryStreamError::Line {
                    line: got + 1,
                    reason: "it has neither a record nor an end, or both".to_owned(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use gitview_core::records::Person;
    use gitview_core::results::{StoredCommit, StoredHistoryEnd};

    use super::*;
    use crate::enrich::enrich;

    fn record(n: u8) -> CommitRecord {
        let person = Person {
            name: "ada".into(),
            email: "ada@example.com".into(),
            time: "2024-01-01T10:00:00+00:00".into(),
            canonical: None,
        };
        CommitRecord {
            id: format!("{n:02x}").repeat(20),
            parents: vec![],
            author: person.clone(),
            committer: person,
            message: format!("fix: change {n}\n\nline two\n"),
            files: vec![],
            renames: vec![],
        }
    }

    fn line(record: &CommitRecord, enrichment: serde_json::Value) -> String {
        let line = StoredCommit {
            record: record.clone(),
            enrichment,
        };
        serde_json::to_string(&line).expect("plain data") + "\n"
    }

    fn end(commits: u64) -> String {
        let end = StoredHistoryEnd {
            end: StoredHistoryCount { commits },
        };
        serde_json::to_string(&end).expect("plain data") + "\n"
    }

    fn read(text: &str) -> Result<Vec<EarlierCommit>, HistoryStreamError> {
        read_history(std::io::BufReader::new(text.as_bytes()))
    }

    #[test]
    fn a_whole_stream_is_its_commits_with_enrichments_that_still_read() {
        let (a, b) = (record(1), record(2));
        let enrichment = enrich(&a, &[]);
        let text = line(&a, serde_json::to_value(&enrichment).expect("plain data"))
            + &line(&b, serde_json::json!({"class": "no longer a class"}))
            + &end(2);
        let commits = read(&text).expect("a whole stream");
        assert_eq!(commits.len(), 2);
        assert_eq!(commits[0].record, a);
        assert_eq!(commits[0].enrichment, Some(enrichment));
        assert_eq!(commits[1].record, b);
        assert_eq!(
            commits[1].enrichment, None,
            "enriched again from its record"
        );
        assert!(read(&end(0)).expect("an empty history").is_empty());
    }

    #[test]
    fn a_stream_without_its_whole_end_is_an_error_not_a_shorter_history() {
        let a = line(&record(1), serde_json::json!({}));
        let b = line(&record(2), serde_json::json!({}));
        let whole = a.clone() + &b + &end(2);
        let cases = [
            (String::new(), "without its end line"),
            (a.clone(), "after 1 commits without its end line"),
            (a.clone() + &b[..b.len() / 2], "without its end line"),
            (whole[..whole.len() - 1].to_owned(), "without its end line"),
            (a.clone() + &end(2), "counts 2 commits, but 1"),
            (a.clone() + &b + &end(1), "counts 1 commits, but 2"),
            (whole.clone() + &b, "goes on after its end line"),
            (a.clone() + "{\"neither\":1}\n", "line 2"),
            (a + "not json\n", "line 2"),
        ];
        for (text, says) in cases {
            let err = read(&text).expect_err(&text).to_string();
            assert!(err.contains(says), "{text:?}: {err}");
        }
    }
}
