//! The repository's tags, peeled to the commits they name, and which of them look like
//! releases.
//!
//! [`read_tags`] is the git edge (gix: every `refs/tags/*`, lightweight or annotated, peeled
//! through tag objects; tags of trees or blobs are skipped). [`parse_release`] is pure: it
//! decides from the name alone whether a tag is a release.
//!
//! A release name is an optional prefix — `v`, `V`, `release-`, `release/`, `release_`, `rel-`,
//! or a package name followed by `-v`, `@` or `/v` (monorepo tags such as `serde-v1.0.1`,
//! `pkg@1.2.3`) — then `MAJOR.MINOR[.PATCH]` (or `MAJOR` alone after a `v`/`release` prefix),
//! optionally followed by a semver pre-release (`-rc.1`, `-beta`, also `rc1` glued on) and
//! build metadata (`+build.5`). Anything else (`latest`, `1`, `deploy-2024-05-01`) is not a
//! release.

use std::collections::HashMap;

use gix::bstr::ByteSlice;
use serde::{Deserialize, Serialize};

/// Errors reading tags.
#[derive(Debug, thiserror::Error)]
pub enum TagError {
    #[error("could not list the tags of {git_dir:?}")]
    List {
        git_dir: std::path::PathBuf,
        #[source]
        source: gix::Error,
    },
    #[error("could not peel tag {name:?}")]
    Peel {
        name: String,
        #[source]
        source: gix::Error,
    },
}

/// One tag that names a commit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tag {
    /// The short name (`v1.2.3`, not `refs/tags/v1.2.3`).
    pub name: String,
    /// The commit it names, full hex id.
    pub commit: String,
    /// True for a tag object, false for a lightweight tag.
    pub annotated: bool,
    /// Set when the name looks like a release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<Release>,
}

/// A version read from a release tag's name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Release {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    /// The semver pre-release part (`rc.1`, `beta`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre: Option<String>,
}

impl Release {
    /// True for `-rc.1`, `-beta` and the like.
    pub fn is_prerelease(&self) -> bool {
        self.pre.is_some()
    }

    /// True for `x.0.0` and `x.y.0` (not a patch release).
    pub fn is_major_or_minor(&self) -> bool {
        self.patch == 0 && self.pre.is_none()
    }
}

/// Reads every tag that names a commit, sorted by name.
pub fn read_tags(repo: &gix::Repository) -> Result<Vec<Tag>, TagError> {
    let list = |source: gix::Error| TagError::List {
        git_dir: repo.git_dir().to_owned(),
        source,
    };
    let references = repo.references().map_err(list)?;
    let mut tags = Vec::new();
    for reference in references.tags().map_err(list)? {
        let mut reference = reference.map_err(|err| list(gix::Error::from_error(err)))?;
        let name = reference.name().shorten().to_str_lossy().into_owned();
        let direct = reference.try_id().map(|id| id.detach());
        let peeled = reference
            .peel_to_id()
            .map_err(|source| TagError::Peel {
                name: name.clone(),
                source,
            })?
            .detach();
        let is_commit = repo
            .find_header(peeled)
            .map(|header| header.kind() == gix::object::Kind::Commit)
            .map_err(|source| TagError::Peel {
                name: name.clone(),
                source,
            })?;
        if !is_commit {
            continue;
        }
        tags.push(Tag {
            release: parse_release(&name),
            annotated: direct.is_some_and(|direct| direct != peeled),
            commit: peeled.to_string(),
            name,
        });
    }
    tags.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(tags)
}

/// The tags of each commit (full hex id → tags, in name order).
#[derive(Clone, Debug, Default)]
pub struct TagIndex {
    by_commit: HashMap<String, Vec<Tag>>,
}

impl TagIndex {
    /// Indexes `tags` by commit.
    pub fn new(tags: &[Tag]) -> Self {
        let mut by_commit: HashMap<String, Vec<Tag>> = HashMap::new();
        for tag in tags {
            by_commit
                .entry(tag.commit.clone())
                .or_default()
                .push(tag.clone());
        }
        Self { by_commit }
    }

    /// The tags naming commit `id` (empty if none).
    pub fn of(&self, id: &str) -> &[Tag] {
        self.by_commit.get(id).map_or(&[], Vec::as_slice)
    }
}

/// Reads a release version from a tag name, or `None` if the name does not look like one.
pub fn parse_release(name: &str) -> Option<Release> {
    let (rest, prefixed) = strip_prefix(name);
    // Build metadata (`+build.7`) says nothing about the version.
    let core = match rest.split_once('+') {
        Some((core, build)) if !build.is_empty() => core,
        Some(_) => return None,
        None => rest,
    };
    // The numeric part ends at the first character that is neither a digit nor a dot.
    let end = core
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(core.len());
    let (numbers, suffix) = core.split_at(end);
    let parts: Vec<&str> = numbers.split('.').collect();
    if parts.iter().any(|part| part.is_empty()) || parts.len() > 3 {
        return None;
    }
    if parts.len() == 1 && !prefixed {
        return None;
    }
    let number = |i: usize| -> Option<u64> { parts.get(i).map_or(Some(0), |p| p.parse().ok()) };
    let (major, minor, patch) = (number(0)?, number(1)?, number(2)?);
    let pre = match suffix {
        "" => None,
        _ => {
            let pre = suffix.strip_prefix(['-', '.', '_']).unwrap_or(suffix);
            let valid = !pre.is_empty()
                && pre.starts_with(|c: char| c.is_ascii_alphabetic())
                && pre
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
            if !valid {
                return None;
            }
            Some(pre.to_owned())
        }
    };
    Some(Release {
        major,
        minor,
        patch,
        pre,
    })
}

/// Strips a release prefix; the flag says whether one was present.
fn strip_prefix(name: &str) -> (&str, bool) {
    for prefix in ["release-", "release/", "release_", "rel-", "v", "V"] {
        if let Some(rest) = name.strip_prefix(prefix)
            && rest.starts_with(|c: char| c.is_ascii_digit())
        {
            return (rest, true);
        }
    }
    // Monorepo tags: `name-v1.2.3`, `name/v1.2.3`, `name@1.2.3`.
    for separator in ["-v", "/v", "@"] {
        if let Some((package, rest)) = name.rsplit_once(separator)
            && !package.is_empty()
            && rest.starts_with(|c: char| c.is_ascii_digit())
        {
            return (rest, true);
        }
    }
    (name, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(major: u64, minor: u64, patch: u64, pre: Option<&str>) -> Option<Release> {
        Some(Release {
            major,
            minor,
            patch,
            pre: pre.map(str::to_owned),
        })
    }

    #[test]
    fn release_names() {
        let cases = [
            ("v1.2.3", release(1, 2, 3, None)),
            ("1.2", release(1, 2, 0, None)),
            ("v1", release(1, 0, 0, None)),
            ("V2.0", release(2, 0, 0, None)),
            ("release-4.1", release(4, 1, 0, None)),
            ("release/5.0.1", release(5, 0, 1, None)),
            ("v1.0.0-rc.1", release(1, 0, 0, Some("rc.1"))),
            ("2.0.0-beta", release(2, 0, 0, Some("beta"))),
            ("v3.1rc1", release(3, 1, 0, Some("rc1"))),
            ("v1.2.3+build.7", release(1, 2, 3, None)),
            ("serde-v1.0.1", release(1, 0, 1, None)),
            ("pkg@0.3.0", release(0, 3, 0, None)),
            ("tools/v0.2", release(0, 2, 0, None)),
        ];
        for (name, expected) in cases {
            assert_eq!(parse_release(name), expected, "{name}");
        }
    }

    #[test]
    fn names_that_are_not_releases() {
        for name in [
            "latest",
            "1",
            "stable",
            "deploy-2024-05-01x",
            "v",
            "v1..2",
            "v1.2.3.4",
            "1.2.3-",
            "1.2.3+",
            "v1.2-!",
            "release-",
        ] {
            assert_eq!(parse_release(name), None, "{name}");
        }
    }

    #[test]
    fn prerelease_and_minor_flags() {
        let rc = parse_release("v2.0.0-rc.2").expect("a release");
        assert!(rc.is_prerelease() && !rc.is_major_or_minor());
        let minor = parse_release("v2.1").expect("a release");
        assert!(!minor.is_prerelease() && minor.is_major_or_minor());
        let patch = parse_release("v2.1.3").expect("a release");
        assert!(!patch.is_major_or_minor());
    }
}
