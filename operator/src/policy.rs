//! The early look at an Analysis' repository address, before a pod exists. The schema can see
//! one object; whether a link-local or metadata address is allowed depends on the
//! AnalysisProfile, so the operator checks the URL's host against the profile's egress policy
//! (`gitview-egress`) before starting an attempt: an address literal in any spelling
//! (`0xa9fea9fe` is 169.254.169.254) and the metadata host names. Names that *resolve* to a
//! refused address are the runner's to refuse, at connect time, on the addresses it dials:
//! this check is for a clear answer without a pod, not the guarantee.

use gitview_core::remote::RepositoryUrl;
use gitview_egress::{Policy, Refusal};

/// Why a repository URL is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefusal {
    #[error("repository url has no host")]
    NoHost,
    #[error("repository {0}")]
    Refused(Refusal),
}

/// Checks a repository URL (already schema-valid) against the profile's policy.
pub fn check_repository_url(url: &str, allow_link_local: bool) -> Result<(), UrlRefusal> {
    let url = RepositoryUrl::parse(url).map_err(|_| UrlRefusal::NoHost)?;
    if url.is_local() {
        return Ok(());
    }
    let host = url.host().ok_or(UrlRefusal::NoHost)?;
    Policy::new(allow_link_local)
        .check_host(host)
        .map_err(UrlRefusal::Refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_local_and_metadata_are_refused_unless_allowed_in_every_spelling() {
        for url in [
            "http://169.254.169.254/latest/meta-data",
            "http://[fe80::1]/r",
            "http://[fd00:ec2::254]/r",
            "http://metadata.google.internal/computeMetadata",
            "http://METADATA.google.internal./x",
            "http://[::ffff:169.254.1.1]/r",
            "http://0xa9fea9fe/r",
            "http://2852039166/r",
            "http://0251.0376.0251.0376/r",
            "git@169.254.169.254:org/repo",
            "ssh://git@0xa9fea9fe/org/repo",
        ] {
            let refused = check_repository_url(url, false);
            assert!(
                matches!(refused, Err(UrlRefusal::Refused(_))),
                "{url}: {refused:?}"
            );
            assert_eq!(check_repository_url(url, true), Ok(()), "{url}");
        }
    }

    #[test]
    fn the_refusal_names_the_address() {
        let refused = check_repository_url("http://0xa9fea9fe/r", false)
            .unwrap_err()
            .to_string();
        assert!(refused.starts_with("repository connection to 0xa9fea9fe refused: it is 169.254.169.254, a cloud metadata address"), "{refused}");
    }

    #[test]
    fn ordinary_hosts_pass() {
        for url in [
            "https://github.com/a/b",
            "git://127.0.0.1:9418/r",
            "http://[::1]/r",
            "ssh://git@10.0.0.5/r",
            "git@github.com:org/repo",
        ] {
            assert_eq!(check_repository_url(url, false), Ok(()), "{url}");
        }
    }
}
