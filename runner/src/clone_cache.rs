//! A clone kept between a tracker's runs, so an incremental run fetches only the new commits.
//!
//! A runner pod starts with an empty scratch volume, so every run clones: even a shallow clone
//! of a large repository brings a whole snapshot of its tree (git/git: 3 s for a 97-commit
//! shallow clone with `git` itself, 12 s for gix's depth-64 first round). When the operator
//! mounts a tracker's clone cache (a PersistentVolumeClaim, [`CLONE_CACHE_ENV`] names its mount
//! path), the run fetches into the clone the previous run left there, which costs what the new
//! commits cost.
//!
//! The cache is only ever an optimisation, never a source of truth:
//! * one directory per repository URL (`<sha256(url)>.git`), beside its lock file; the runner
//!   touches nothing else on the volume;
//! * the lock is taken without waiting: a clone another process holds is not used (the run
//!   clones into its scratch volume as it would without a cache);
//! * a clone with more than [`MAX_PACKS`] packs (each fetch adds one, and gix does not repack)
//!   is started afresh, so lookups never degrade without bound;
//! * a fetch into the cached clone that fails for any reason but the input (a corrupt or
//!   half-written clone, a full volume) removes the clone and fetches again into scratch.
//!
//! Nothing secret is written: fetches never store credentials in the repository (see
//! `gitview_git::fetch`).

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use gitview_crds::wire::CLONE_CACHE_ENV;
/// Packs a cached clone may hold before it is started afresh.
pub const MAX_PACKS: usize = 64;

/// A directory of cached clones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloneCache {
    dir: PathBuf,
}

/// One repository's clone in the cache, locked for as long as this value lives.
#[derive(Debug)]
pub struct CachedClone {
    pub path: PathBuf,
    /// Held for the run: released when dropped (or when the process ends).
    _lock: File,
}

impl CloneCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The cache the environment names, if any.
    pub fn from_env() -> Option<Self> {
        std::env::var_os(CLONE_CACHE_ENV)
            .filter(|dir| !dir.is_empty())
            .map(Self::new)
    }

    /// The clone of `url`, locked; `Ok(None)` when another run holds it. A clone with too many
    /// packs is removed first (the fetch then clones afresh).
    pub fn checkout(&self, url: &str) -> std::io::Result<Option<CachedClone>> {
        let key = hex(&Sha256::digest(url.as_bytes())[..16]);
        let path = self.dir.join(format!("{key}.git"));
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(format!("{key}.lock")))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(err)) => return Err(err),
        }
        let packs = count_packs(&path);
        if packs > MAX_PACKS {
            tracing::info!(
                path = %path.display(),
                packs,
                max = MAX_PACKS,
                "the cached clone has too many packs: starting it afresh"
            );
            discard(&path)?;
        }
        Ok(Some(CachedClone { path, _lock: lock }))
    }
}

impl CachedClone {
    /// Removes the clone (keeping the lock): the next fetch into it starts afresh.
    pub fn discard(&self) -> std::io::Result<()> {
        discard(&self.path)
    }
}

fn discard(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

fn count_packs(path: &Path) -> usize {
    std::fs::read_dir(path.join("objects").join("pack")).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "pack"))
            .count()
    })
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clone_is_one_directory_per_url_and_held_by_one_run_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CloneCache::new(dir.path());
        let first = cache
            .checkout("https://example.com/a.git")
            .unwrap()
            .unwrap();
        let path = first.path.clone();
        assert!(path.starts_with(dir.path()));
        // Held: a second run does without.
        assert!(
            cache
                .checkout("https://example.com/a.git")
                .unwrap()
                .is_none()
        );
        // Another repository is another clone.
        let other = cache
            .checkout("https://example.com/b.git")
            .unwrap()
            .unwrap();
        assert_ne!(first.path, other.path);
        drop(first);
        // Released: the next run takes the same clone.
        let again = cache
            .checkout("https://example.com/a.git")
            .unwrap()
            .unwrap();
        assert_eq!(again.path, path);
    }

    #[test]
    fn a_clone_with_too_many_packs_is_started_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CloneCache::new(dir.path());
        let path = cache.checkout("u").unwrap().unwrap().path;
        let packs = path.join("objects").join("pack");
        std::fs::create_dir_all(&packs).unwrap();
        for n in 0..MAX_PACKS {
            std::fs::write(packs.join(format!("pack-{n}.pack")), b"").unwrap();
        }
        assert!(
            cache.checkout("u").unwrap().unwrap().path.exists(),
            "at the limit: kept"
        );
        std::fs::write(packs.join("pack-last.pack"), b"").unwrap();
        let clone = cache.checkout("u").unwrap().unwrap();
        assert!(!clone.path.exists(), "over the limit: removed");
    }
}
