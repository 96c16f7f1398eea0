//! `POST /v1/runs/{analysis}/commits`: a numbered batch of commits with their file stats,
//! stored once per repository; a batch sent again answers what it stored the first time.

use axum::extract::State;
use gitview_core::records::FileStatus;
use gitview_core::results::{BatchStored, CommitBatch};
use gitview_core::scrub;
use gitview_core::time::epoch_seconds;
use serde_json::{Value, json};

use crate::db::{self, SCRUB_PII};
use crate::error::ApiError;
use crate::kit::audit::audit;
use crate::kit::check::{contains_nul, is_object_id};
use crate::kit::extract::{ApiJson, ApiPath};
use crate::kit::guard::Runner;
use crate::kit::state::AppState;
use crate::store;
use crate::store::attempts::current_attempt;
use crate::store::commits::FileColumns;

/// The sum of a commit's line counts, as `bigint`.
fn line_total(
    index: usize,
    what: &str,
    mut counts: impl Iterator<Item = u64>,
) -> Result<i64, ApiError> {
    counts
        .try_fold(0i64, |sum, n| sum.checked_add(i64::try_from(n).ok()?))
        .ok_or_else(|| {
            ApiError::bad_request(format!("commits[{index}]: lines {what} are too large"))
        })
}

/// A batch's commits as the rows `store::commits::insert_commits` takes (a JSON array),
/// checked: full object ids, line totals as `bigint`, no NUL.
fn commit_rows(batch: &CommitBatch) -> Result<Value, ApiError> {
    let mut rows = Vec::with_capacity(batch.commits.len());
    for (index, upload) in batch.commits.iter().enumerate() {
        let record = &upload.record;
        if !is_object_id(&record.id) || !record.parents.iter().all(|p| is_object_id(p)) {
            return Err(ApiError::bad_request(format!(
                "commits[{index}]: id and parents must be full hex object ids"
            )));
        }
        let added = line_total(index, "added", record.files.iter().filter_map(|f| f.added))?;
        let deleted = line_total(
            index,
            "deleted",
            record.files.iter().filter_map(|f| f.deleted),
        )?;
        rows.push(json!({
            "id": record.id, "parents": record.parents,
            "author_name": record.author.name, "author_email": record.author.email,
            "authored_at": epoch_seconds(&record.author.time),
            "committer_name": record.committer.name, "committer_email": record.committer.email,
            "committed_at": epoch_seconds(&record.committer.time),
            "message": record.message, "lines_added": added, "lines_deleted": deleted,
            "files_changed": record.files.len(), "renames": record.renames,
            "enrichment": upload.enrichment, "record": record,
        }));
    }
    let rows = Value::Array(rows);
    // PostgreSQL text cannot hold NUL: refuse it by name rather than with a database error.
    if contains_nul(&rows) {
        return Err(ApiError::bad_request(
            "a commit contains a NUL character, which cannot be stored",
        ));
    }
    Ok(rows)
}

/// Marks each row whose commit scrubbing would not change as clean under today's rules
/// (`clean_under`, migration `0014`), so reads for an account that scrubs pass it through as
/// stored. For an account that scrubs: its runners upload scrubbed commits, so almost every
/// row is marked, and a read of the whole history scrubs almost nothing.
fn mark_clean(rows: &mut Value, batch: &CommitBatch) {
    let Value::Array(rows) = rows else { return };
    for (row, upload) in rows.iter_mut().zip(&batch.commits) {
        if scrub::is_clean(&upload.record, &upload.enrichment) {
            row["clean_under"] = json!(scrub::RULES_VERSION);
        }
    }
}

/// The batch's number as `bigint`.
fn batch_number(batch: u64) -> Result<i64, ApiError> {
    i64::try_from(batch).map_err(|_| ApiError::bad_request("batch is too large"))
}

/// The `commit_files` rows of a batch's newly `inserted` commits, checked: line counts as
/// `bigint`, file numbers as `integer`.
fn file_columns<'a>(
    batch: &'a CommitBatch,
    inserted: &[String],
) -> Result<FileColumns<'a>, ApiError> {
    let inserted: std::collections::HashSet<&str> = inserted.iter().map(String::as_str).collect();
    let mut columns = FileColumns::default();
    let lines = |n: Option<u64>| {
        n.map(i64::try_from)
            .transpose()
            .map_err(|_| ApiError::bad_request("a file's line count is too large"))
    };
    for upload in &batch.commits {
        let record = &upload.record;
        if !inserted.contains(record.id.as_str()) {
            continue;
        }
        for (index, file) in record.files.iter().enumerate() {
            columns.commit_id.push(&record.id);
            columns.seq.push(
                i32::try_from(index + 1)
                    .map_err(|_| ApiError::bad_request("a commit has too many files"))?,
            );
            columns.path.push(&file.path);
            columns.added.push(lines(file.added)?);
            columns.deleted.push(lines(file.deleted)?);
            columns.status.push(match file.status {
                FileStatus::Added => "A",
                FileStatus::Deleted => "D",
                FileStatus::Modified => "M",
                FileStatus::TypeChanged => "T",
            });
        }
    }
    Ok(columns)
}

pub(crate) async fn commits(
    State(state): State<AppState>,
    ApiPath(analysis): ApiPath<String>,
    runner: Runner,
    ApiJson(body): ApiJson<CommitBatch>,
) -> Result<axum::Json<BatchStored>, ApiError> {
    let claims = runner.for_analysis(&analysis)?;
    // Checked before anything is read, so bad input is refused by name.
    let mut rows = commit_rows(&body)?;
    let account = state.account_id(&claims.account).await?;
    let mut tx = db::tenant(&state.pool, account).await?;
    let scrub_pii: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT {SCRUB_PII}")))
        .bind(account)
        .fetch_one(&mut *tx)
        .await?;
    if scrub_pii {
        mark_clean(&mut rows, &body);
    }
    // Before the batch's stored answer too: a superseded attempt learns nothing either.
    let repository = current_attempt(&mut tx, &analysis, claims.attempt).await?;
    let batch = batch_number(body.batch)?;
    if let Some((inserted, existing)) =
        store::commits::stored_batch(&mut tx, account, &analysis, batch).await?
    {
        return Ok(axum::Json(BatchStored {
            inserted: inserted as u64,
            existing: existing as u64,
        }));
    }
    let inserted =
        store::commits::insert_commits(&mut tx, account, repository, &analysis, &rows).await?;
    let mut files_inserted = 0;
    if !inserted.is_empty() {
        let files = file_columns(&body, &inserted)?;
        files_inserted = store::commits::insert_files(&mut tx, account, repository, &files).await?;
    }
    let stored = BatchStored {
        inserted: inserted.len() as u64,
        existing: (body.commits.len() - inserted.len()) as u64,
    };
    store::commits::record_batch(&mut tx, account, &analysis, batch, &stored).await?;
    audit(
        &mut tx,
        account,
        &runner.actor(),
        "commits.upsert",
        &analysis,
        json!({"batch": body.batch, "inserted": stored.inserted, "existing": stored.existing}),
    )
    .await?;
    tx.commit().await?;
    state.metrics.rows_written("commits", stored.inserted);
    state.metrics.rows_written("commit_files", files_inserted);
    Ok(axum::Json(stored))
}

#[cfg(test)]
mod tests {
    use gitview_core::records::{CommitRecord, FileStat, Person};
    use gitview_core::results::CommitUpload;

    use super::*;

    fn upload(id: &str, files: Vec<FileStat>) -> CommitUpload {
        let person = Person {
            name: "ada".into(),
            email: "ada@example.com".into(),
            time: "2024-05-01T09:30:00+02:00".into(),
            canonical: None,
        };
        CommitUpload {
            record: CommitRecord {
                id: id.into(),
                parents: vec![],
                author: person.clone(),
                committer: person,
                message: "Start\n".into(),
                files,
                renames: vec![],
            },
            enrichment: Value::Null,
        }
    }

    fn file(path: &str, added: Option<u64>) -> FileStat {
        FileStat {
            path: path.into(),
            added,
            deleted: Some(0),
            status: FileStatus::Modified,
        }
    }

    #[test]
    fn rows_carry_line_totals_and_refuse_bad_ids_and_nul() {
        let id = "a1".repeat(20);
        let batch = CommitBatch {
            batch: 0,
            commits: vec![upload(&id, vec![file("a", Some(2)), file("b", Some(3))])],
        };
        let rows = commit_rows(&batch).expect("valid");
        assert_eq!(rows[0]["lines_added"], 5);
        assert_eq!(rows[0]["files_changed"], 2);

        let bad_id = CommitBatch {
            batch: 0,
            commits: vec![upload(&id, vec![]), upload("abc", vec![])],
        };
        let err = commit_rows(&bad_id).expect_err("short id");
        assert!(err.message.starts_with("commits[1]: "), "{err:?}");

        let mut nul = upload(&id, vec![]);
        nul.record.message = "a\0b".into();
        let err = commit_rows(&CommitBatch {
            batch: 0,
            commits: vec![nul],
        })
        .expect_err("NUL");
        assert!(err.message.contains("NUL"), "{err:?}");

        let huge = upload(&id, vec![file("a", Some(u64::MAX))]);
        let err = commit_rows(&CommitBatch {
            batch: 0,
            commits: vec![huge],
        })
        .expect_err("too large");
        assert_eq!(err.message, "commits[0]: lines added are too large");
    }

    #[test]
    fn file_columns_hold_only_inserted_commits_numbered_from_one() {
        let (new, old) = ("a1".repeat(20), "b2".repeat(20));
        let batch = CommitBatch {
            batch: 0,
            commits: vec![
                upload(&new, vec![file("a", Some(1)), file("b", None)]),
                upload(&old, vec![file("c", Some(1))]),
            ],
        };
        let columns = file_columns(&batch, std::slice::from_ref(&new)).expect("valid");
        assert_eq!(columns.commit_id, [new.as_str(), new.as_str()]);
        assert_eq!(columns.seq, [1, 2]);
        assert_eq!(columns.added, [Some(1), None]);
        assert_eq!(columns.status, ["M", "M"]);
        assert!(batch_number(u64::MAX).is_err());
        assert_eq!(batch_number(7).ok(), Some(7));
    }
}
