//! `GET /v1/runs/{analysis}/history/stream`: the repository's whole stored history in one
//! response — the commits [`super::history`] pages, in the same order (oldest committer time
//! first, undated last, id as the tie-break) — as NDJSON (`application/x-ndjson`): one line
//! per commit, `{"record":…,"enrichment":…}` ([`StoredCommit`]), then the line
//! `{"end":{"commits":N}}` ([`StoredHistoryEnd`]). A stream without that last line, or with
//! another count, was cut off: the client must not take it for a shorter history.
//!
//! An incremental run reads every stored commit before it tells the story, so this route is
//! built for that one reader: one index range scan on `commits_by_repository_time` (migration
//! `0011`) streamed from PostgreSQL to the socket a chunk at a time (the history is never held
//! whole in memory), and each row's `record` and `enrichment` passed through as the JSON text
//! PostgreSQL prints, unparsed. When the account's policy scrubs PII, a row stored clean under
//! today's scrub rules (`clean_under`, migration `0014`: what the account's runners upload) is
//! passed through too, and any other row is parsed and scrubbed exactly as the paged route
//! does, in batches on blocking threads while the read goes on (a history stored before the
//! policy was turned on is scrubbed whole, which is then most of the work).
//!
//! The header `gitview-scrubbed` ([`SCRUBBED_HEADER`]) says whether the lines come scrubbed,
//! so a runner whose account scrubs does not scrub them a second time.
//!
//! The authorization, tenancy and errors before the first byte are the paged route's. Once the
//! answer has begun, its status is sent: a database error then ends the body before the last
//! line (the connection is closed mid-body, and the error logged), and a client that goes away
//! ends the read and its transaction.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::{BufMut as _, Bytes, BytesMut};
use futures::stream::FuturesOrdered;
use futures::{StreamExt as _, TryStreamExt as _};
use gitview_core::records::CommitRecord;
use gitview_core::results::{SCRUBBED_HEADER, StoredCommit, StoredHistoryCount, StoredHistoryEnd};
use gitview_core::scrub;
use sqlx::{Postgres, Transaction};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::db::{self, SCRUB_PII};
use crate::error::{ApiError, REQUEST_ID};
use crate::kit::extract::ApiPath;
use crate::kit::guard::Runner;
use crate::kit::state::AppState;
use crate::store::attempts::repository_of;

/// The media type of the answer.
pub const NDJSON: &str = "application/x-ndjson";

/// About how many bytes go to the socket at a time.
const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks read ahead of the socket: the database keeps streaming while the client reads a
/// little behind, and a slow client holds back at most this much.
const CHUNKS_AHEAD: usize = 4;
/// Rows scrubbed together on a blocking thread, when the policy scrubs.
const SCRUB_BATCH: usize = 512;
/// Batches being scrubbed at once. Parsing, scrubbing and printing a row again costs several
/// times what reading it does (most of the stream's time for git/git's history when the
/// account scrubs), so batches are scrubbed on blocking threads, several at a time, while the
/// read goes on.
const SCRUB_IN_FLIGHT: usize = 3;

/// The whole history, oldest first: the order of `commits_by_repository_time` (`committed_at`
/// ascending puts NULLs last, then `id`), so the rows come in index order, no sort.
/// `$3`: today's scrub rules version; the last column says the row is clean under it.
const HISTORY: &str = "SELECT c.record::text, c.enrichment::text, \
     coalesce(c.clean_under = $3, false) FROM commits c \
     WHERE c.account_id = $1 AND c.repository_id = $2 \
     ORDER BY c.committed_at, c.id";

/// For the read's transaction only. When one repository is most of the table, the planner
/// prefers a sequential scan and a sort to the index; that sort (of every row's JSON text,
/// 100 MB for git/git's history, spilled to disk) took 0.9 s before the first row, where the
/// index scan streams the first row at once. `SET LOCAL` ends with the transaction.
const NO_SORT: &str = "SET LOCAL enable_sort = off";

pub(crate) async fn stream(
    State(state): State<AppState>,
    ApiPath(analysis): ApiPath<String>,
    runner: Runner,
) -> Result<Response, ApiError> {
    let claims = runner.for_analysis(&analysis)?;
    let account = state.account_id(&claims.account).await?;
    let mut tx = db::tenant(&state.pool, account).await?;
    let repository = repository_of(&mut tx, &analysis).await?;
    let scrub_pii: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT {SCRUB_PII}")))
        .bind(account)
        .fetch_one(&mut *tx)
        .await?;
    let (sender, chunks) = mpsc::channel(CHUNKS_AHEAD);
    let request_id = REQUEST_ID.try_with(Clone::clone).unwrap_or_default();
    // The transaction moves into the task that feeds the body, so it lives as long as the
    // stream does; the task ends when the rows do, on an error, or when the body is dropped
    // (the client went away).
    tokio::spawn(async move {
        let feed = Feed {
            sender,
            buffer: BytesMut::with_capacity(CHUNK_BYTES * 2),
            scrub_pii,
        };
        match feed.run(tx, account, repository).await {
            Ok(()) | Err(Ended::ClientGone) => {}
            Err(Ended::Failed { sender, error }) => {
                tracing::error!(
                    request_id = %request_id,
                    analysis = %analysis,
                    error = %error,
                    "streaming the stored history failed; the stream ends without its last line"
                );
                // The body fails, so the server closes the connection mid-body.
                let _gone = sender
                    .send(Err(std::io::Error::other(
                        "the stored history's read failed",
                    )))
                    .await;
            }
        }
    });
    let body = Body::from_stream(futures::stream::unfold(chunks, |mut chunks| async move {
        chunks.recv().await.map(|chunk| (chunk, chunks))
    }));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    headers.insert(
        SCRUBBED_HEADER,
        HeaderValue::from_static(if scrub_pii { "true" } else { "false" }),
    );
    Ok(response)
}

/// How a feed ended short of the last line.
enum Ended {
    /// The body was dropped: nobody reads any more.
    ClientGone,
    /// The database (or a stored row) failed; the body is told through `sender`.
    Failed {
        sender: mpsc::Sender<Result<Bytes, std::io::Error>>,
        error: String,
    },
}

/// A batch of rows being scrubbed into their lines.
type Scrubbing = JoinHandle<Result<BytesMut, String>>;

/// Writes the rows into the body, a chunk at a time.
struct Feed {
    sender: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buffer: BytesMut,
    scrub_pii: bool,
}

impl Feed {
    async fn run(
        mut self,
        mut tx: Transaction<'static, Postgres>,
        account: i64,
        repository: i64,
    ) -> Result<(), Ended> {
        if let Err(error) = sqlx::query(NO_SORT).execute(&mut *tx).await {
            return Err(self.failed(error.to_string()));
        }
        let mut commits: u64 = 0;
        {
            let mut rows = sqlx::query_as::<_, (String, String, bool)>(HISTORY)
                .bind(account)
                .bind(repository)
                .bind(scrub::RULES_VERSION)
                .fetch(&mut *tx);
            let mut batch = Vec::new();
            let mut scrubbing = FuturesOrdered::new();
            loop {
                let row = tokio::select! {
                    // A client that went away ends the read now, not at the next full chunk.
                    () = self.sender.closed() => return Err(Ended::ClientGone),
                    row = rows.try_next() => row,
                };
                match row {
                    Ok(Some((record, enrichment, clean))) => {
                        commits += 1;
                        let scrub = self.scrub_pii && !clean;
                        if scrub || !(batch.is_empty() && scrubbing.is_empty()) {
                            // In order: behind the rows being scrubbed, a clean row waits its
                            // turn in the batch (passed through there, unparsed).
                            batch.push(Row {
                                record,
                                enrichment,
                                scrub,
                            });
                            if batch.len() == SCRUB_BATCH {
                                scrubbing.push_back(scrub_batch(std::mem::take(&mut batch)));
                                if scrubbing.len() >= SCRUB_IN_FLIGHT {
                                    self.send_scrubbed(&mut scrubbing).await?;
                                }
                            }
                        } else {
                            pass_through(&mut self.buffer, &record, &enrichment);
                            if self.buffer.len() >= CHUNK_BYTES {
                                self.flush().await?;
                            }
                        }
                    }
                    Ok(None) => break,
                    Err(error) => return Err(self.failed(error.to_string())),
                }
            }
            if !batch.is_empty() {
                scrubbing.push_back(scrub_batch(batch));
            }
            while !scrubbing.is_empty() {
                self.send_scrubbed(&mut scrubbing).await?;
            }
        }
        // A read-only transaction: committing only returns the connection clean.
        if let Err(error) = tx.commit().await {
            return Err(self.failed(error.to_string()));
        }
        let end = StoredHistoryEnd {
            end: StoredHistoryCount { commits },
        };
        if let Err(error) = serde_json::to_writer((&mut self.buffer).writer(), &end) {
            return Err(self.failed(error.to_string()));
        }
        self.buffer.put_u8(b'\n');
        self.flush().await
    }

    /// Sends the oldest batch being scrubbed, once it is done.
    async fn send_scrubbed(
        &mut self,
        scrubbing: &mut FuturesOrdered<Scrubbing>,
    ) -> Result<(), Ended> {
        let lines = match scrubbing.next().await {
            Some(Ok(Ok(lines))) => lines,
            Some(Ok(Err(error))) => return Err(self.failed_here(error)),
            Some(Err(error)) => return Err(self.failed_here(error.to_string())),
            None => return Ok(()),
        };
        self.buffer.unsplit(lines);
        self.flush().await
    }

    /// Sends what is buffered.
    async fn flush(&mut self) -> Result<(), Ended> {
        let chunk = self.buffer.split().freeze();
        self.sender
            .send(Ok(chunk))
            .await
            .map_err(|_| Ended::ClientGone)
    }

    fn failed(self, error: String) -> Ended {
        Ended::Failed {
            sender: self.sender,
            error,
        }
    }

    fn failed_here(&self, error: String) -> Ended {
        Ended::Failed {
            sender: self.sender.clone(),
            error,
        }
    }
}

/// Appends one commit's line with its stored JSON as it is. PostgreSQL prints `jsonb` as one
/// line of JSON: strings escape their newlines.
fn pass_through(buffer: &mut BytesMut, record: &str, enrichment: &str) {
    buffer.put_slice(b"{\"record\":");
    buffer.put_slice(record.as_bytes());
    buffer.put_slice(b",\"enrichment\":");
    buffer.put_slice(enrichment.as_bytes());
    buffer.put_slice(b"}\n");
}

/// A stored row in a batch, as PostgreSQL printed it.
struct Row {
    record: String,
    enrichment: String,
    /// Not clean under today's rules, and the account scrubs.
    scrub: bool,
}

/// Makes `rows` into their lines on a blocking thread, each row to scrub parsed and scrubbed
/// exactly as the paged route does, the others passed through.
fn scrub_batch(rows: Vec<Row>) -> Scrubbing {
    tokio::task::spawn_blocking(move || {
        let bytes = rows
            .iter()
            .map(|row| row.record.len() + row.enrichment.len() + 32)
            .sum();
        let mut lines = BytesMut::with_capacity(bytes);
        for Row {
            record,
            enrichment,
            scrub,
        } in rows
        {
            if !scrub {
                pass_through(&mut lines, &record, &enrichment);
                continue;
            }
            let mut record: CommitRecord = serde_json::from_str(&record)
                .map_err(|err| format!("a stored commit record does not parse: {err}"))?;
            let mut enrichment: serde_json::Value = serde_json::from_str(&enrichment)
                .map_err(|err| format!("a stored enrichment does not parse: {err}"))?;
            scrub::scrub_record(&mut record);
            scrub::scrub_json(&mut enrichment);
            let line = StoredCommit { record, enrichment };
            serde_json::to_writer((&mut lines).writer(), &line).map_err(|err| err.to_string())?;
            lines.put_u8(b'\n');
        }
        Ok(lines)
    })
}
