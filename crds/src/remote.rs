//! One canonical form of a repository's remote URL, and the fingerprint that names a
//! repository and branch everywhere: in the operator (trackers), the runner and the gateway
//! (its `repositories` table). Two spellings of one remote — `git@github.com:Org/Repo.git`,
//! `ssh://git@GitHub.com/Org/Repo`, `https://user@github.com/Org/Repo.git/` — share one
//! history only if they canonicalise alike.
//!
//! The canonical form:
//! * scp-style `[user@]host:path` becomes `ssh://host/path`;
//! * scheme and host are lowercased (paths are case-sensitive on most forges and stay as
//!   they are), userinfo (user names, tokens, passwords) is dropped, and so is the scheme's
//!   default port;
//! * one trailing `/` and then one trailing `.git` are stripped, as are `?query` and
//!   `#fragment`;
//! * `http` and `https` stay distinct (they may be different servers).
//!
//! The fingerprint is the hex SHA-256 of `canonical URL` + `\n` + `branch`.

use sha2::{Digest, Sha256};

/// Why a URL has no canonical form.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    #[error("the repository URL is empty")]
    Empty,
    #[error("the repository URL {0:?} has no host")]
    NoHost(String),
    #[error("the repository URL {0:?} has no path")]
    NoPath(String),
    #[error("the repository URL contains whitespace or control characters")]
    BadCharacters,
}

/// The canonical form of a remote URL (see the module docs).
pub fn canonical_url(url: &str) -> Result<String, CanonicalError> {
    let url = url.trim();
    if url.is_empty() {
        return Err(CanonicalError::Empty);
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(CanonicalError::BadCharacters);
    }
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest.to_owned()),
        None => match url.split_once(':') {
            // scp-style `[user@]host:path`.
            Some((host, path)) if !host.is_empty() && !host.contains('/') => {
                let path = path.trim_start_matches('/');
                ("ssh".to_owned(), format!("{host}/{path}"))
            }
            _ => return Err(CanonicalError::NoHost(strip_userinfo(url))),
        },
    };
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let host_port = host_port.to_ascii_lowercase();
    let host_port = match (scheme.as_str(), host_port.rsplit_once(':')) {
        ("https", Some((host, "443")))
        | ("http", Some((host, "80")))
        | ("ssh", Some((host, "22")))
        | ("git", Some((host, "9418"))) => host.to_owned(),
        _ => host_port,
    };
    if host_port.is_empty() || host_port.starts_with(':') {
        return Err(CanonicalError::NoHost(strip_userinfo(&format!(
            "{scheme}://{rest}"
        ))));
    }
    let mut path = path.strip_suffix('/').unwrap_or(path);
    path = path.strip_suffix(".git").unwrap_or(path);
    if path.is_empty() {
        return Err(CanonicalError::NoPath(format!("{scheme}://{host_port}")));
    }
    Ok(format!("{scheme}://{host_port}/{path}"))
}

/// The fingerprint of a repository and branch: hex SHA-256 of the canonical URL, a newline and
/// the branch.
pub fn fingerprint(url: &str, branch: &str) -> Result<String, CanonicalError> {
    let canonical = canonical_url(url)?;
    let mut hasher = Sha256::new();
    hasher.update(canonical.as_bytes());
    hasher.update(b"\n");
    hasher.update(branch.as_bytes());
    Ok(hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect())
}

/// `url` with any `user[:password]@` removed, for messages.
pub fn strip_userinfo(url: &str) -> String {
    let (prefix, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    let end = rest.find('/').unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((_, host)) => format!("{prefix}{host}{}", &rest[end..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(url: &str) -> String {
        canonical_url(url).unwrap_or_else(|err| panic!("{url}: {err}"))
    }

    #[test]
    fn spellings_of_one_remote_agree() {
        let expected = "ssh://github.com/Org/Repo";
        for url in [
            "git@github.com:Org/Repo.git",
            "git@github.com:/Org/Repo",
            "ssh://git@GitHub.com/Org/Repo.git",
            "ssh://github.com:22/Org/Repo/",
        ] {
            assert_eq!(canon(url), expected, "{url}");
        }
        let https = "https://github.com/Org/Repo";
        for url in [
            "https://github.com/Org/Repo.git",
            "HTTPS://GITHUB.COM/Org/Repo/",
            "https://user:secret@github.com:443/Org/Repo.git",
            "https://x-access-token@github.com/Org/Repo?foo=bar#frag",
        ] {
            assert_eq!(canon(url), https, "{url}");
        }
    }

    #[test]
    fn what_differs_stays_different() {
        assert_ne!(canon("https://h/org/repo"), canon("https://h/Org/Repo"));
        assert_ne!(canon("http://h/org/repo"), canon("https://h/org/repo"));
        assert_eq!(canon("https://h:8443/r"), "https://h:8443/r");
        assert_eq!(canon("git://127.0.0.1:9418/r.git"), "git://127.0.0.1/r");
        assert_eq!(canon("git://127.0.0.1:9419/r"), "git://127.0.0.1:9419/r");
    }

    #[test]
    fn no_canonical_form_without_host_or_path() {
        assert_eq!(canonical_url(""), Err(CanonicalError::Empty));
        assert!(matches!(
            canonical_url("/local/path"),
            Err(CanonicalError::NoHost(_))
        ));
        assert!(matches!(
            canonical_url("https:///x"),
            Err(CanonicalError::NoHost(_))
        ));
        assert!(matches!(
            canonical_url("https://host"),
            Err(CanonicalError::NoPath(_))
        ));
        assert!(matches!(
            canonical_url("https://host/.git"),
            Err(CanonicalError::NoPath(_))
        ));
        assert_eq!(
            canonical_url("https://h/a b"),
            Err(CanonicalError::BadCharacters)
        );
    }

    #[test]
    fn errors_never_echo_credentials() {
        let err = canonical_url("https://user:hunter2@/x").expect_err("no host");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn fingerprints_name_url_and_branch() {
        let a = fingerprint("git@github.com:Org/Repo.git", "main").expect("valid");
        assert_eq!(
            a,
            fingerprint("ssh://github.com/Org/Repo", "main").expect("valid")
        );
        assert_ne!(
            a,
            fingerprint("ssh://github.com/Org/Repo", "dev").expect("valid")
        );
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn userinfo_is_stripped_for_messages() {
        assert_eq!(strip_userinfo("https://u:p@h/x@y"), "https://h/x@y");
        assert_eq!(strip_userinfo("git@h:org/r"), "h:org/r");
        assert_eq!(strip_userinfo("https://h/x"), "https://h/x");
    }
}
