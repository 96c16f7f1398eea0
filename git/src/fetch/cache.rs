//! The laptop's clone cache: one bare repository per URL, fetched into on every call.

use std::path::{Path, PathBuf};

use super::{Credentials, FetchError, FetchRequest, Fetched, fetch};

/// Where [`fetch_cached`] keeps the clone of `url` under `cache_root`: a readable slug of
/// host and path plus a hash of the whole URL, so different URLs never share a directory.
pub fn cache_path(cache_root: &Path, url: &str) -> PathBuf {
    let without_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let without_user = match without_scheme.split_once('/') {
        Some((authority, path)) => {
            let host = authority
                .rsplit_once('@')
                .map_or(authority, |(_, host)| host);
            format!("{host}/{path}")
        }
        None => without_scheme.to_owned(),
    };
    let mut slug: String = without_user
        .trim_end_matches('/')
        .trim_end_matches(".git")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    slug.truncate(80);
    // FNV-1a: stable across runs and platforms; only distinguishes directories.
    let hash = url.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    cache_root.join(format!("{slug}-{hash:016x}.git"))
}

/// The laptop's default cache root: `$GITVIEW_CACHE_DIR`, else `$XDG_CACHE_HOME/gitview/repos`,
/// else `~/.cache/gitview/repos`.
pub fn default_cache_root() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("GITVIEW_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("gitview").join("repos"))
}

/// For `gitview-runner analyze <url>`: clones `url` (bare, full history) into its
/// [`cache_path`] under `cache_root` on the first call and fetches into it on later ones.
pub fn fetch_cached(
    cache_root: &Path,
    url: &str,
    git_ref: Option<&str>,
    credentials: Credentials,
) -> Result<Fetched, FetchError> {
    let mut request = FetchRequest::new(url, cache_path(cache_root, url));
    request.git_ref = git_ref.map(str::to_owned);
    request.credentials = credentials;
    fetch(&request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_paths_are_readable_distinct_and_free_of_userinfo() {
        let root = Path::new("/cache");
        let a = cache_path(root, "https://github.com/org/repo.git");
        let b = cache_path(root, "https://github.com/org/repo");
        let c = cache_path(root, "ssh://git@github.com/org/repo.git");
        assert_ne!(a, b);
        assert_ne!(a, c);
        let name = a.file_name().and_then(|n| n.to_str()).expect("a name");
        assert!(name.starts_with("github.com_org_repo-"), "{name}");
        assert!(name.ends_with(".git"), "{name}");
        let name = c.file_name().and_then(|n| n.to_str()).expect("a name");
        assert!(!name.contains("git@"), "{name}");
        assert_eq!(a, cache_path(root, "https://github.com/org/repo.git"));
    }
}
