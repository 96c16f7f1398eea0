//! Which repository addresses a run may reach, beyond what the API server's schema checks.
//! The schema can see one object; whether a link-local or metadata address is allowed depends
//! on the AnalysisProfile, so the operator checks it before starting an attempt.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a repository URL is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefusal {
    #[error("repository url has no host")]
    NoHost,
    #[error("repository host {0} is a link-local or cloud metadata address; the profile does not allow it (spec.repositoryPolicy.allowLinkLocal)")]
    LinkLocal(String),
}

/// Host names that resolve to cloud metadata services.
const METADATA_HOSTS: &[&str] = &["metadata.google.internal", "metadata", "metadata.azure.internal", "instance-data"];

/// Checks a repository URL (already schema-valid) against the profile's policy.
pub fn check_repository_url(url: &str, allow_link_local: bool) -> Result<(), UrlRefusal> {
    let host = host_of(url).ok_or(UrlRefusal::NoHost)?;
    if allow_link_local {
        return Ok(());
    }
    let lowered = host.trim_end_matches('.').to_ascii_lowercase();
    let bracketless = lowered.trim_start_matches('[').trim_end_matches(']');
    let link_local = match bracketless.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => is_link_local_v4(ip),
        Ok(IpAddr::V6(ip)) => is_link_local_v6(ip),
        Err(_) => METADATA_HOSTS.contains(&lowered.as_str()),
    };
    if link_local { Err(UrlRefusal::LinkLocal(host.to_owned())) } else { Ok(()) }
}

fn is_link_local_v4(ip: Ipv4Addr) -> bool {
    ip.is_link_local()
}

fn is_link_local_v6(ip: Ipv6Addr) -> bool {
    // fe80::/10, the AWS IMDS address fd00:ec2::254, and v4-mapped link-local addresses.
    (ip.segments()[0] & 0xffc0) == 0xfe80
        || ip == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254)
        || ip.to_ipv4_mapped().is_some_and(is_link_local_v4)
}

/// The host of `scheme://[userinfo@]host[:port]/path`.
pub fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host_port.starts_with('[') {
        host_port.split_inclusive(']').next()?
    } else {
        host_port.split(':').next()?
    };
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_extracted() {
        assert_eq!(host_of("https://github.com/a/b"), Some("github.com"));
        assert_eq!(host_of("ssh://git@github.com:22/a/b"), Some("github.com"));
        assert_eq!(host_of("http://[fe80::1]:8080/r"), Some("[fe80::1]"));
        assert_eq!(host_of("https:///r"), None);
    }

    #[test]
    fn link_local_and_metadata_are_refused_unless_allowed() {
        for url in [
            "http://169.254.169.254/latest/meta-data",
            "http://[fe80::1]/r",
            "http://[fd00:ec2::254]/r",
            "http://metadata.google.internal/computeMetadata",
            "http://METADATA.google.internal./x",
            "http://[::ffff:169.254.1.1]/r",
        ] {
            assert!(matches!(check_repository_url(url, false), Err(UrlRefusal::LinkLocal(_))), "{url}");
            assert_eq!(check_repository_url(url, true), Ok(()), "{url}");
        }
    }

    #[test]
    fn ordinary_hosts_pass() {
        for url in ["https://github.com/a/b", "git://127.0.0.1:9418/r", "http://[::1]/r", "ssh://git@10.0.0.5/r"] {
            assert_eq!(check_repository_url(url, false), Ok(()), "{url}");
        }
    }
}
