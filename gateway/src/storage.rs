//! Object storage for artifacts above the inline threshold, through the `object_store` crate:
//! a local directory (`file:///var/lib/gitview/artifacts`, the default) or an S3-compatible
//! bucket (`s3://bucket/prefix`, credentials and endpoint from the usual `AWS_*` variables).
//!
//! What is where:
//! * PostgreSQL holds every artifact's row (name, media type, size, sha256) and, for a stored
//!   object, its key; the row is the only way to an object, so tenant scoping and row-level
//!   security guard objects as they guard rows. Keys are made here, never taken from a
//!   request: `<account id>/<analysis id>/<random>-<name>`.
//! * An upload streams into a multipart upload while it is hashed and counted, and the row is
//!   written after the object is complete. A fresh key per upload means a replaced artifact's
//!   old object is deleted only after the new row is committed, and a reader streaming the old
//!   one is never cut off by a writer.
//! * What a crash can leave behind is an object without a row (killed between the upload and
//!   the commit, or before deleting a replaced object). The retention janitor deletes such
//!   orphans once they are older than [`ORPHAN_GRACE`]; nothing a row points at is deleted
//!   before its row.
//!
//! S3 multipart uploads that a killed gateway never completed or aborted stay invisible in the
//! bucket until its lifecycle rule (`AbortIncompleteMultipartUpload`) removes them; the chart's
//! README says to set one.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{BoxStream, TryStreamExt as _};
use object_store::local::LocalFileSystem;
use object_store::path::Path as Key;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt as _, WriteMultipart};

/// The parts of a multipart upload (S3's minimum is 5 MiB, except the last).
pub const PART_SIZE: usize = 8 << 20;
/// Parts in flight at once during an upload.
const PARTS_IN_FLIGHT: usize = 2;
/// How old an object without a row must be before the janitor deletes it: longer than any
/// upload takes between its first byte and its row's commit.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(6 * 3600);

/// A configuration the gateway cannot start with.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--object-store {0:?}: use file:///absolute/dir (the default) or s3://bucket[/prefix]")]
    Scheme(String),
    #[error("--object-store {url}: cannot use {dir}: {source}")]
    Dir {
        url: String,
        dir: String,
        source: std::io::Error,
    },
    #[error("--object-store {url}: {source}")]
    Store {
        url: String,
        source: object_store::Error,
    },
}

/// Where artifacts above the inline threshold go.
#[derive(Clone)]
pub struct ArtifactStore {
    store: Arc<dyn ObjectStore>,
    /// The configured URL (it never holds credentials: they come from the environment).
    url: String,
    /// A local store's directory: its staged uploads are files the store does not list.
    local: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for ArtifactStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactStore")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl ArtifactStore {
    /// The store `url` names: `file:///dir` (created if missing) or `s3://bucket[/prefix]`
    /// (region, endpoint and credentials from `AWS_*` variables, as every S3 client reads them).
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        Self::from_url_with(url, std::iter::empty())
    }

    /// [`ArtifactStore::from_url`], with S3 settings (`aws_endpoint`, `aws_allow_http`, …: the
    /// `AmazonS3ConfigKey` names) applied over the environment's.
    pub fn from_url_with(
        url: &str,
        s3_options: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        if let Some(dir) = url.strip_prefix("file://") {
            if !dir.starts_with('/') {
                return Err(ConfigError::Scheme(url.to_owned()));
            }
            return Self::local(std::path::Path::new(dir)).map_err(|err| match err {
                ConfigError::Dir { dir, source, .. } => ConfigError::Dir {
                    url: url.to_owned(),
                    dir,
                    source,
                },
                other => other,
            });
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(ConfigError::Scheme(url.to_owned()));
            }
            crate::crypto::install_crypto_provider();
            let mut builder = object_store::aws::AmazonS3Builder::from_env();
            for (key, value) in s3_options {
                let key = key.parse().map_err(|source| ConfigError::Store {
                    url: url.to_owned(),
                    source,
                })?;
                builder = builder.with_config(key, value);
            }
            let s3 =
                builder
                    .with_bucket_name(bucket)
                    .build()
                    .map_err(|source| ConfigError::Store {
                        url: url.to_owned(),
                        source,
                    })?;
            let prefix = prefix.trim_matches('/');
            let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                Arc::new(s3)
            } else {
                Arc::new(PrefixStore::new(s3, prefix))
            };
            return Ok(Self {
                store,
                url: url.to_owned(),
                local: None,
            });
        }
        Err(ConfigError::Scheme(url.to_owned()))
    }

    /// A local directory, created if missing.
    pub fn local(dir: &std::path::Path) -> Result<Self, ConfigError> {
        let url = format!("file://{}", dir.display());
        let dir_error = |source| ConfigError::Dir {
            url: url.clone(),
            dir: dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(dir_error)?;
        // Writable? Found now rather than on the first large artifact.
        tempfile_probe(dir).map_err(dir_error)?;
        // fsync'd: an object's row is committed only after the object is, and must not
        // outlive it in a power cut.
        let store = LocalFileSystem::new_with_prefix(dir)
            .map_err(|source| ConfigError::Store {
                url: url.clone(),
                source,
            })?
            .with_fsync(true);
        Ok(Self {
            store: Arc::new(store),
            url,
            local: Some(dir.to_path_buf()),
        })
    }

    /// The configured URL, for logs.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A new key for an upload of `name` in `analysis` of `account`.
    pub(crate) fn new_key(account: i64, analysis: &str, name: &str) -> String {
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).expect("the OS random source works");
        let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        format!("{account}/{analysis}/{nonce}-{name}")
    }

    /// Starts a streamed upload to `key`.
    pub(crate) async fn upload(&self, key: &str) -> Result<Upload, object_store::Error> {
        let key = Key::parse(key).map_err(|err| object_store::Error::Generic {
            store: "artifacts",
            source: Box::new(err),
        })?;
        let upload = self.store.put_multipart(&key).await?;
        Ok(Upload {
            writer: WriteMultipart::new_with_chunk_size(upload, PART_SIZE),
        })
    }

    /// The object at `key`, as a stream of chunks.
    pub(crate) async fn read(
        &self,
        key: &str,
    ) -> Result<BoxStream<'static, Result<Bytes, object_store::Error>>, object_store::Error> {
        let key = Key::parse(key).map_err(|err| object_store::Error::Generic {
            store: "artifacts",
            source: Box::new(err),
        })?;
        Ok(self.store.get(&key).await?.into_stream())
    }

    /// Deletes the object at `key`; one already gone is fine.
    pub(crate) async fn delete(&self, key: &str) -> Result<(), object_store::Error> {
        let key = Key::parse(key).map_err(|err| object_store::Error::Generic {
            store: "artifacts",
            source: Box::new(err),
        })?;
        match self.store.delete(&key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// The keys under `<account>/` last modified before `older_than` ago.
    pub(crate) async fn old_keys(
        &self,
        account: i64,
        older_than: Duration,
    ) -> Result<Vec<String>, object_store::Error> {
        let cutoff = jiff::Timestamp::now()
            .as_second()
            .saturating_sub(i64::try_from(older_than.as_secs()).unwrap_or(i64::MAX));
        let prefix = Key::from(account.to_string());
        self.store
            .list(Some(&prefix))
            .try_filter_map(|meta| async move {
                Ok((meta.last_modified.timestamp() < cutoff).then(|| meta.location.to_string()))
            })
            .try_collect()
            .await
    }

    /// For a local store: deletes the account's staged uploads (`<key>#<n>`, which a killed
    /// gateway leaves and the store does not list) older than `older_than`; how many went.
    pub(crate) fn delete_old_staged(&self, account: i64, older_than: Duration) -> u64 {
        let Some(root) = &self.local else {
            return 0;
        };
        let cutoff = std::time::SystemTime::now()
            .checked_sub(older_than)
            .unwrap_or(std::time::UNIX_EPOCH);
        let mut deleted = 0;
        let mut dirs = vec![root.join(account.to_string())];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let Ok(meta) = entry.metadata() else {
                    continue;
                };
                if meta.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let staged = entry.file_name().to_str().is_some_and(|name| {
                    name.rsplit_once('#').is_some_and(|(_, n)| {
                        !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
                    })
                });
                if staged && meta.modified().is_ok_and(|at| at < cutoff) {
                    match std::fs::remove_file(&path) {
                        Ok(()) => deleted += 1,
                        Err(err) => tracing::warn!(path = %path.display(), error = %err,
                            "cannot delete a staged artifact upload"),
                    }
                }
            }
        }
        deleted
    }

    /// Deletes `keys`, returning how many went; errors are logged and the rest go on (the
    /// next pass retries what is left).
    pub(crate) async fn delete_all(&self, keys: &[String]) -> u64 {
        let mut deleted = 0;
        for key in keys {
            match self.delete(key).await {
                Ok(()) => deleted += 1,
                Err(err) => tracing::warn!(key, error = %err, "cannot delete an artifact object"),
            }
        }
        deleted
    }
}

/// Creates and removes a file in `dir`.
fn tempfile_probe(dir: &std::path::Path) -> std::io::Result<()> {
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(std::io::Error::other)?;
    let probe = dir.join(format!(
        ".probe-{}",
        nonce.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}

/// An upload in progress: [`Upload::put`] the chunks, then [`Upload::finish`], or
/// [`Upload::abort`] on any error (dropping it aborts too, where the store can).
pub(crate) struct Upload {
    writer: WriteMultipart,
}

impl Upload {
    pub(crate) async fn put(&mut self, chunk: Bytes) -> Result<(), object_store::Error> {
        self.writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
        self.writer.put(chunk);
        Ok(())
    }

    pub(crate) async fn finish(self) -> Result<(), object_store::Error> {
        self.writer.finish().await.map(drop)
    }

    pub(crate) async fn abort(self) {
        if let Err(err) = self.writer.abort().await {
            tracing::warn!(error = %err, "cannot abort an artifact upload");
        }
    }
}

/// The keys among `listed` that no row of `account` names (run in its tenant transaction).
pub(crate) async fn orphans(
    tx: &mut sqlx::PgConnection,
    account: i64,
    listed: Vec<String>,
) -> Result<Vec<String>, sqlx::Error> {
    if listed.is_empty() {
        return Ok(listed);
    }
    let known: Vec<String> = sqlx::query_scalar(
        "SELECT storage_key FROM artifacts WHERE account_id = $1 AND storage_key = ANY($2)",
    )
    .bind(account)
    .bind(&listed)
    .fetch_all(&mut *tx)
    .await?;
    let known: HashSet<String> = known.into_iter().collect();
    Ok(listed
        .into_iter()
        .filter(|key| !known.contains(key))
        .collect())
}

/// A stream of chunks that fails with `error` as its item type, for axum bodies.
pub(crate) fn body_stream(
    stream: BoxStream<'static, Result<Bytes, object_store::Error>>,
) -> axum::body::Body {
    axum::body::Body::from_stream(stream.map_err(|err| {
        tracing::warn!(error = %err, "reading an artifact object failed mid-stream");
        std::io::Error::other(err)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_local_dir_or_a_bucket() {
        let dir = tempfile_dir();
        let store = ArtifactStore::from_url(&format!("file://{}", dir.display())).unwrap();
        assert_eq!(store.url(), format!("file://{}", dir.display()));
        for bad in ["file://relative/dir", "gs://bucket", "s3://", "/var/lib/x"] {
            let err = ArtifactStore::from_url(bad).unwrap_err().to_string();
            assert!(err.contains("file:///absolute/dir"), "{bad}: {err}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn keys_are_per_account_and_analysis_and_never_repeat() {
        let a = ArtifactStore::new_key(7, "uid-1", "story.md");
        let b = ArtifactStore::new_key(7, "uid-1", "story.md");
        assert!(a.starts_with("7/uid-1/") && a.ends_with("-story.md"), "{a}");
        assert_ne!(a, b);
        assert!(Key::parse(&a).is_ok());
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).unwrap();
        std::env::temp_dir().join(format!("gitview-storage-{}", u64::from_le_bytes(nonce)))
    }
}
