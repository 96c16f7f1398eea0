//! The one repository URL type, [`RepositoryUrl`]: a remote's canonical form, and the
//! fingerprint that names a repository and branch everywhere: in the operator (trackers), the
//! runner and the gateway (its `repositories` table). Two trackers of one remote share one
//! history only if their URLs canonicalise alike, whichever way each spells it:
//! `https://github.com/Org/Repo`, `https://GitHub.com/Org/Repo.git/`,
//! `git@github.com:Org/Repo.git` and `ssh://git@github.com/Org/Repo` are one repository.
//!
//! Every rule about repository URLs is here, one function each:
//! * [`RepositoryUrl::parse`]: the canonical form of any spelling git reads (below);
//! * [`RepositoryUrl::validate`]: what an Analysis may name, checked again where the URL is
//!   used (the runner): the rules of `parse`, and `https`, `http`, `ssh` or `git` spelt
//!   `scheme://` in lower case (no scp-style address, no local path), no password, at most
//!   2048 bytes;
//! * [`RepositoryUrl::host`]: the host a connection goes to, for the egress policy;
//! * [`redact`]: a URL that may hold credentials, for messages and logs.
//!
//! [`RepositoryUrl::parse`] reads:
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
//! Its [`remote`](RepositoryUrl::remote) is what names the repository whatever the transport:
//! `host[:port]/path` (`github.com/Org/Repo`), or the absolute path of a local one. The user
//! name is not part of it (`git@` is how one reaches GitHub over ssh, not which repository),
//! nor is the scheme: `http`, `https`, `ssh` and `git` on one host are taken to serve one set
//! of repositories. A non-default port is, because nothing says two ports of one host serve
//! the same repositories: `ssh://host:2222/org/repo` and `https://host/org/repo` stay
//! distinct (two histories, never one history of two different repositories).
//! [`RepositoryUrl::as_str`] is `scheme://remote`, which keeps the transport for display.
//!
//! The fingerprint of a repository and branch is the hex SHA-256 of `remote` + `\n` + `branch`.
//!
//! Credentials never survive: not in the canonical form, not in [`redact`]'s text, and not in
//! an error, which names what is wrong and never echoes the input (but for a scheme
//! [`validate`](RepositoryUrl::validate) refuses, which holds only letters, digits, `+`, `.`
//! and `-`). A URL git would read with a credential in its path
//! (`https://user:123/secret@host/repo`, a password with an unescaped `/`) is refused: no
//! repository path of a forge holds an `@`.

use std::fmt;
use std::net::Ipv6Addr;

use sha2::{Digest, Sha256};

/// Why a repository URL is refused. No variant carries any part of the URL but
/// [`Scheme`](Self::Scheme), a syntactically valid scheme.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("the repository URL is empty")]
    Empty,
    #[error("the repository URL is longer than {MAX_LEN} bytes")]
    TooLong,
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
    /// [`RepositoryUrl::validate`]: an scp-style address or a local path.
    #[error("no scheme: write scp-style addresses as ssh://user@host/path")]
    NoScheme,
    /// [`RepositoryUrl::validate`]: a scheme other than `https`, `http`, `ssh` or `git`, in
    /// lower case.
    #[error("scheme {0:?} is not allowed (use https, http, ssh or git)")]
    Scheme(String),
    /// [`RepositoryUrl::validate`]: `user:password@`.
    #[error("the URL embeds a password; credentials belong in the credentials Secret")]
    EmbeddedPassword,
}

/// The longest URL [`RepositoryUrl::validate`] accepts (the Analysis CRD's limit).
pub const MAX_LEN: usize = 2048;

/// The schemes an Analysis may use, as [`RepositoryUrl::validate`] accepts them.
pub const ALLOWED_SCHEMES: [&str; 4] = ["https", "http", "ssh", "git"];

/// A repository URL in canonical form (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RepositoryUrl {
    /// `scheme://remote`.
    url: String,
    /// Where the remote starts in `url` (after `://`).
    remote_at: usize,
}

impl RepositoryUrl {
    /// The canonical form of a repository URL, in any spelling git reads (see the module
    /// docs).
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        canonical(url)
    }

    /// A URL as an Analysis may name it, in canonical form: the rules of [`Self::parse`],
    /// and `https`, `http`, `ssh` or `git` spelt `scheme://` in lower case (no scp-style
    /// address, no local path), no password in the user info, at most [`MAX_LEN`] bytes, no
    /// whitespace. The Analysis CRD's rules, checked again where the URL is used.
    pub fn validate(url: &str) -> Result<Self, UrlError> {
        if url.is_empty() {
            return Err(UrlError::Empty);
        }
        if url.len() > MAX_LEN {
            return Err(UrlError::TooLong);
        }
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(UrlError::BadCharacters);
        }
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(UrlError::NoScheme);
        };
        if !ALLOWED_SCHEMES.contains(&scheme) {
            return Err(if is_scheme(scheme) {
                UrlError::Scheme(scheme.to_owned())
            } else {
                UrlError::NotAUrl
            });
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority
            .rsplit_once('@')
            .is_some_and(|(userinfo, _)| userinfo.contains(':'))
        {
            return Err(UrlError::EmbeddedPassword);
        }
        Self::parse(url)
    }

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

    /// The host a connection to the remote goes to, lowercased (an IPv6 literal in brackets,
    /// `[fe80::1]`); `None` for a local repository.
    pub fn host(&self) -> Option<&str> {
        if self.is_local() {
            return None;
        }
        let authority = self.remote().split('/').next()?;
        let host = if authority.starts_with('[') {
            authority.split_inclusive(']').next()?
        } else {
            authority.split(':').next()?
        };
        (!host.is_empty()).then_some(host)
    }

    /// What people call the repository: the last two segments of the remote's path
    /// (`org/repo` of `https://github.com/org/repo.git`), or the last one when there is only
    /// one or the repository is local; without `.git`. Empty for a remote without a path.
    pub fn name(&self) -> String {
        let path = if self.is_local() {
            self.remote()
        } else {
            self.remote().split_once('/').map_or("", |(_, path)| path)
        };
        let segments: Vec<&str> = path
            .split('/')
            .map(|s| s.strip_suffix(".git").unwrap_or(s))
            .filter(|s| !s.is_empty())
            .collect();
        let keep = if self.is_local() { 1 } else { 2 };
        segments[segments.len().saturating_sub(keep)..].join("/")
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

impl fmt::Display for RepositoryUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

/// The canonical form of a repository URL (see the module docs).
fn canonical(url: &str) -> Result<RepositoryUrl, UrlError> {
    let url = url.trim();
    if url.is_empty() {
        return Err(UrlError::Empty);
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(UrlError::BadCharacters);
    }
    if let Some((scheme, rest)) = url.split_once("://") {
        let scheme = scheme_of(scheme)?;
        if scheme == "file" {
            // `file:///path` or `file://localhost/path`; `file://host/share` is not local.
            let path = rest.strip_prefix("localhost").unwrap_or(rest);
            if !path.starts_with('/') {
                return Err(UrlError::FileHost);
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
    let colon = scp_colon(url).ok_or(UrlError::NotAUrl)?;
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
/// [`RepositoryUrl::fingerprint`].
pub fn fingerprint(url: &str, branch: &str) -> Result<String, UrlError> {
    Ok(RepositoryUrl::parse(url)?.fingerprint(branch))
}

/// `url` with anything that may be a credential replaced by `***`, for messages and logs
/// about URLs that may have no canonical form. Of what follows the scheme (for an scp-style
/// address or a path, of the whole), everything before the last `@` becomes `***@`, and a
/// `?query` or `#fragment` after it becomes `?***` or `#***` (GitLab reads a
/// `private_token` there). It removes more than user info when a path holds an `@` (git may
/// read `https://user:pass/word@host/repo` with the password's end in the path), never less.
pub fn redact(url: &str) -> String {
    let (prefix, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    let (userinfo, rest) = match rest.rsplit_once('@') {
        Some((_, after)) => ("***@", after),
        None => ("", rest),
    };
    let (rest, hidden) = match rest.find(['?', '#']) {
        Some(at) => (&rest[..at], format!("{}***", &rest[at..=at])),
        None => (rest, String::new()),
    };
    format!("{prefix}{userinfo}{rest}{hidden}")
}

/// Whether `scheme` is spelt as RFC 3986 allows: a letter, then letters, digits, `+`, `.`, `-`.
fn is_scheme(scheme: &str) -> bool {
    scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
}

/// The lowercased scheme, aliases resolved; only the schemes git fetches repositories over.
fn scheme_of(scheme: &str) -> Result<&'static str, UrlError> {
    if !is_scheme(scheme) {
        return Err(UrlError::NotAUrl);
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Ok("https"),
        "http" => Ok("http"),
        "ssh" | "git+ssh" | "ssh+git" => Ok("ssh"),
        "git" => Ok("git"),
        "file" => Ok("file"),
        _ => Err(UrlError::UnsupportedScheme),
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
fn host_and_port(host_port: &str) -> Result<(String, Option<u16>), UrlError> {
    let (host, port) = if host_port.starts_with('[') {
        let close = host_port.find(']').ok_or(UrlError::BadHost)?;
        let (host, after) = host_port.split_at(close + 1);
        match after {
            "" => (host, None),
            after => (
                host,
                Some(after.strip_prefix(':').ok_or(UrlError::BadPort)?),
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

fn parse_port(port: &str) -> Result<u16, UrlError> {
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UrlError::BadPort);
    }
    port.parse::<u16>()
        .ok()
        .filter(|port| *port != 0)
        .ok_or(UrlError::BadPort)
}

/// A host name or a bracketed IPv6 literal, lowercased, without a trailing `.`.
fn host_of(host: &str) -> Result<String, UrlError> {
    if let Some(inside) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let ip: Ipv6Addr = inside.parse().map_err(|_| UrlError::BadHost)?;
        return Ok(format!("[{ip}]"));
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    let valid = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        && !host.starts_with('.');
    if !valid {
        return Err(UrlError::BadHost);
    }
    Ok(host.to_ascii_lowercase())
}

/// A remote repository: `scheme://host[:port]` and the path, normalised.
fn network(
    scheme: &str,
    host: &str,
    port: Option<u16>,
    path: &str,
) -> Result<RepositoryUrl, UrlError> {
    if path.contains('@') {
        return Err(UrlError::AtInPath);
    }
    let mut url = format!("{scheme}://");
    let remote_at = url.len();
    url.push_str(host);
    if let Some(port) = port {
        url.push_str(&format!(":{port}"));
    }
    url.push_str(&repository_path(path.split('/')));
    Ok(RepositoryUrl { url, remote_at })
}

/// A local repository, `file:///path`, with `.` and `..` resolved.
fn local(path: &str) -> RepositoryUrl {
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
    RepositoryUrl {
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
