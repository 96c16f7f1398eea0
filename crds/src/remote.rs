//! One canonical form of a repository's remote URL, and the fingerprint that names a
//! repository and branch everywhere: in the operator (trackers), the runner and the gateway
//! (its `repositories` table). Two trackers of one remote share one history only if their
//! URLs canonicalise alike, whichever way each spells it: `https://github.com/Org/Repo`,
//! `https://GitHub.com/Org/Repo.git/`, `git@github.com:Org/Repo.git` and
//! `ssh://git@github.com/Org/Repo` are one repository.
//!
//! [`canonical`] parses a URL into a [`CanonicalUrl`]:
//! * `scheme://[userinfo@]host[:port]/path` with scheme `https`, `http`, `ssh` (also spelt
//!   `git+ssh` or `ssh+git`) or `git`; scp-style `[user@]host:path` (git's rule: a `:` before
//!   any `/`) is `ssh://host/path`, its path taken from the root as the forges do
//!   (`host:org/repo` and `ssh://host/org/repo` are one repository);
//! * an absolute path or a `file:///path` URL is a local repository, `file:///path`; `.` and
//!   `..` segments are resolved lexically (no I/O: relative paths are refused, the caller
//!   knows what they are relative to);
//! * scheme and host are lowercased (and a host's trailing `.` dropped); paths keep their
//!   case, which matters on most forges;
//! * userinfo (user names, tokens, passwords), `?query` and `#fragment` are dropped, and so
//!   is the scheme's default port (443, 80, 22, 9418);
//! * runs of `/` collapse into one, and trailing `/` and `.git` are stripped (`repo`,
//!   `repo.git`, `repo/` and `repo/.git` are one repository); a canonical form is its own
//!   canonical form.
//!
//! Its [`remote`](CanonicalUrl::remote) is what names the repository whatever the transport:
//! `host[:port]/path` (`github.com/Org/Repo`), or the absolute path of a local one. The user
//! name is not part of it (`git@` is how one reaches GitHub over ssh, not which repository),
//! nor is the scheme: `http`, `https`, `ssh` and `git` on one host are taken to serve one set
//! of repositories. A non-default port is, because nothing says two ports of one host serve
//! the same repositories: `ssh://host:2222/org/repo` and `https://host/org/repo` stay
//! distinct (two histories, never one history of two different repositories).
//! [`CanonicalUrl::as_str`] is `scheme://remote`, which keeps the transport for display.
//!
//! The fingerprint of a repository and branch is the hex SHA-256 of `remote` + `\n` + `branch`.
//!
//! Credentials never survive: not in the canonical form, and not in an error, which names
//! what is wrong and never echoes the input. A URL git would read with a credential in its
//! path (`https://user:123/secret@host/repo`, a password with an unescaped `/`) is refused:
//! no repository path of a forge holds an `@`.

use std::fmt;
use std::net::Ipv6Addr;

use sha2::{Digest, Sha256};

/// Why a URL has no canonical form. No variant carries any part of the URL.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    #[error("the repository URL is empty")]
    Empty,
    #[error("the repository URL contains whitespace or control characters")]
    BadCharacters,
    #[error(
        "the repository URL is neither scheme://host/path, scp-style host:path nor an absolute path"
    )]
    NotAUrl,
    #[error("the repository URL's scheme is not one of https, http, ssh, git or file")]
    UnsupportedScheme,
    #[error("the repository URL has no valid host")]
    BadHost,
    #[error("the repository URL has an invalid port")]
    BadPort,
    #[error(
        "the repository URL has an '@' after its host: credentials belong in a Secret, and an '@' in a path is written %40"
    )]
    AtInPath,
    #[error("a file:// repository URL names a local path (file:///path), not a host")]
    FileHost,
}

/// A repository URL in canonical form (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CanonicalUrl {
    /// `scheme://remote`.
    url: String,
    /// Where the remote starts in `url` (after `://`).
    remote_at: usize,
}

impl CanonicalUrl {
    /// `scheme://host[:port]/path`, or `file:///path`.
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// What names the repository whatever the transport: `host[:port]/path`, or the absolute
    /// path of a local repository (which, unlike a host, starts with `/`).
    pub fn remote(&self) -> &str {
        &self.url[self.remote_at..]
    }

    /// `https`, `http`, `ssh`, `git` or `file`.
    pub fn scheme(&self) -> &str {
        &self.url[..self.remote_at - "://".len()]
    }

    /// Whether this is a local path rather than a remote host.
    pub fn is_local(&self) -> bool {
        self.scheme() == "file"
    }

    /// The fingerprint of this repository and `branch`: hex SHA-256 of the remote, a newline
    /// and the branch.
    pub fn fingerprint(&self, branch: &str) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.remote().as_bytes());
        hasher.update(b"\n");
        hasher.update(branch.as_bytes());
        hasher
            .finalize()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}

impl fmt::Display for CanonicalUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

/// The canonical form of a repository URL (see the module docs).
pub fn canonical(url: &str) -> Result<CanonicalUrl, CanonicalError> {
    let url = url.trim();
    if url.is_empty() {
        return Err(CanonicalError::Empty);
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(CanonicalError::BadCharacters);
    }
    if let Some((scheme, rest)) = url.split_once("://") {
        let scheme = scheme_of(scheme)?;
        if scheme == "file" {
            // `file:///path` or `file://localhost/path`; `file://host/share` is not local.
            let path = rest.strip_prefix("localhost").unwrap_or(rest);
            if !path.starts_with('/') {
                return Err(CanonicalError::FileHost);
            }
            return Ok(local(path));
        }
        // The authority ends at the first `/`, `?` or `#` (as git and RFC 3986 read it).
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
        let (host, port) = host_and_port(host_port)?;
        let port = port.filter(|port| Some(*port) != default_port(scheme));
        let path = path.split(['?', '#']).next().unwrap_or_default();
        return network(scheme, &host, port, path);
    }
    if url.starts_with('/') {
        return Ok(local(url));
    }
    // scp-style: `[user@]host:path`, a `:` before any `/` (git's rule), or `[user@][host]:path`.
    let colon = scp_colon(url).ok_or(CanonicalError::NotAUrl)?;
    let (authority, path) = (&url[..colon], &url[colon + 1..]);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        // git reads `[host:port]:path`, and `[v6]:path`.
        Some(inside) if inside.parse::<Ipv6Addr>().is_err() => host_and_port(inside)?,
        _ => (host_of(host)?, None),
    };
    let port = port.filter(|port| Some(*port) != default_port("ssh"));
    network("ssh", &host, port, &format!("/{path}"))
}

/// The fingerprint of a repository URL (any spelling) and branch; see
/// [`CanonicalUrl::fingerprint`].
pub fn fingerprint(url: &str, branch: &str) -> Result<String, CanonicalError> {
    Ok(canonical(url)?.fingerprint(branch))
}

/// `url` with anything that may be a credential removed, for messages about URLs that may
/// have no canonical form: everything before the last `@` of what follows the scheme (for an
/// scp-style address, of the whole). It removes more than userinfo when a path or query holds
/// an `@`, never less.
pub fn strip_userinfo(url: &str) -> String {
    let (prefix, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    match rest.rsplit_once('@') {
        Some((_, after)) => format!("{prefix}{after}"),
        None => url.to_owned(),
    }
}

/// The lowercased scheme, aliases resolved; only the schemes git fetches repositories over.
fn scheme_of(scheme: &str) -> Result<&'static str, CanonicalError> {
    let valid = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c));
    if !valid {
        return Err(CanonicalError::NotAUrl);
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Ok("https"),
        "http" => Ok("http"),
        "ssh" | "git+ssh" | "ssh+git" => Ok("ssh"),
        "git" => Ok("git"),
        "file" => Ok("file"),
        _ => Err(CanonicalError::UnsupportedScheme),
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "https" => Some(443),
        "http" => Some(80),
        "ssh" => Some(22),
        "git" => Some(9418),
        _ => None,
    }
}

/// Where an scp-style address's host ends: the first `:` if no `/` comes before it, or the
/// `:` right after a bracketed host.
fn scp_colon(url: &str) -> Option<usize> {
    let colon = url.find(':')?;
    let slash = url.find('/').unwrap_or(url.len());
    let bracket = url[..colon].find('[');
    match bracket {
        Some(open) => {
            let close = open + url[open..].find(']')?;
            (url[close + 1..].starts_with(':') && close < slash).then_some(close + 1)
        }
        None => (colon < slash && colon > 0).then_some(colon),
    }
}

/// `host[:port]` or `[v6][:port]`: the lowercased host and the port, if any.
fn host_and_port(host_port: &str) -> Result<(String, Option<u16>), CanonicalError> {
    let (host, port) = if host_port.starts_with('[') {
        let close = host_port.find(']').ok_or(CanonicalError::BadHost)?;
        let (host, after) = host_port.split_at(close + 1);
        match after {
            "" => (host, None),
            after => (
                host,
                Some(after.strip_prefix(':').ok_or(CanonicalError::BadPort)?),
            ),
        }
    } else {
        match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    let port = port.map(parse_port).transpose()?;
    Ok((host_of(host)?, port))
}

fn parse_port(port: &str) -> Result<u16, CanonicalError> {
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CanonicalError::BadPort);
    }
    port.parse::<u16>()
        .ok()
        .filter(|port| *port != 0)
        .ok_or(CanonicalError::BadPort)
}

/// A host name or a bracketed IPv6 literal, lowercased, without a trailing `.`.
fn host_of(host: &str) -> Result<String, CanonicalError> {
    if let Some(inside) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let ip: Ipv6Addr = inside.parse().map_err(|_| CanonicalError::BadHost)?;
        return Ok(format!("[{ip}]"));
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    let valid = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        && !host.starts_with('.');
    if !valid {
        return Err(CanonicalError::BadHost);
    }
    Ok(host.to_ascii_lowercase())
}

/// A remote repository: `scheme://host[:port]` and the path, normalised.
fn network(
    scheme: &str,
    host: &str,
    port: Option<u16>,
    path: &str,
) -> Result<CanonicalUrl, CanonicalError> {
    if path.contains('@') {
        return Err(CanonicalError::AtInPath);
    }
    let mut url = format!("{scheme}://");
    let remote_at = url.len();
    url.push_str(host);
    if let Some(port) = port {
        url.push_str(&format!(":{port}"));
    }
    url.push_str(&repository_path(path.split('/')));
    Ok(CanonicalUrl { url, remote_at })
}

/// A local repository, `file:///path`, with `.` and `..` resolved.
fn local(path: &str) -> CanonicalUrl {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            segment => segments.push(segment),
        }
    }
    let path = repository_path(segments.into_iter());
    let url = format!("file://{}", if path.is_empty() { "/" } else { &path });
    CanonicalUrl {
        url,
        remote_at: "file://".len(),
    }
}

/// `/seg/seg/...` from path segments: empty segments (runs of `/`) dropped, then every
/// trailing `.git` (a bare repository's suffix, or a working tree's `.git` directory) stripped,
/// so that a canonical form is its own canonical form.
fn repository_path<'a>(segments: impl Iterator<Item = &'a str>) -> String {
    let mut segments: Vec<&str> = segments.filter(|s| !s.is_empty()).collect();
    while let Some(stem) = segments.last().and_then(|last| last.strip_suffix(".git")) {
        segments.pop();
        if !stem.is_empty() {
            segments.push(stem);
        }
    }
    segments.iter().map(|s| format!("/{s}")).collect()
}

#[cfg(test)]
mod tests;
