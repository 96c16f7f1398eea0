//! The web UI behind an authenticating proxy (oauth2-proxy style), off by default: a request
//! that comes **from the configured proxy's addresses** and carries its user header (and, if
//! configured, its groups header) is signed in as the account the mapping names for that user
//! or one of those groups — no cookie, no key. The same header from anywhere else is ignored
//! (the request is treated as signed out), so a client cannot claim a user by sending it.
//!
//! The mapping is a YAML file:
//!
//! ```yaml
//! users: {alice@example.com: team-a}
//! groups: {platform: team-a}
//! ```
//!
//! A user's own entry wins over their groups'; among groups, the first listed in the header
//! that has one.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use axum::http::HeaderMap;
use serde::Deserialize;

/// A network: an address and a prefix length (`10.0.0.0/8`, `fd00::/8`, or one address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Network {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (address, prefix) = text
            .trim()
            .split_once('/')
            .map_or((text.trim(), None), |(a, p)| (a, Some(p)));
        let address: IpAddr = address
            .parse()
            .map_err(|_| format!("{text:?} is not an address or a network such as 10.0.0.0/8"))?;
        let bits = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {bits}"))?,
        };
        Ok(Self { address, prefix })
    }
}

impl Network {
    /// Whether `ip` is in this network (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        let masked = |bits: u128, width: u8| {
            if self.prefix == 0 {
                0
            } else {
                bits >> (width - self.prefix)
            }
        };
        match (self.address, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u128::from(u32::from(net)), 32) == masked(u128::from(u32::from(ip)), 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), 128) == masked(u128::from(ip), 128)
            }
            _ => false,
        }
    }
}

/// Users and groups, each to an account name.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AccountMap {
    #[serde(default)]
    pub users: BTreeMap<String, String>,
    #[serde(default)]
    pub groups: BTreeMap<String, String>,
}

/// The auth-proxy mode's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthProxy {
    /// The header naming the user (`X-Forwarded-Email`).
    pub user_header: String,
    /// The header listing the user's groups, comma-separated (`X-Forwarded-Groups`), if any.
    pub groups_header: Option<String>,
    /// Where the proxy's requests come from.
    pub from: Vec<Network>,
    pub accounts: AccountMap,
}

impl AuthProxy {
    /// Reads the mapping file.
    pub fn read_accounts(path: &Path) -> Result<AccountMap, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        serde_yaml::from_str(&text).map_err(|err| {
            format!(
                "{} is not a map of users and groups to accounts: {err}",
                path.display()
            )
        })
    }

    /// The account name the proxy's headers name, if the request came from the proxy.
    pub fn account(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<String> {
        let peer = peer?;
        if !self.from.iter().any(|network| network.contains(peer)) {
            return None;
        }
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let user = header(&self.user_header)?;
        if let Some(account) = self.accounts.users.get(user) {
            return Some(account.clone());
        }
        let groups = self.groups_header.as_deref().and_then(header)?;
        groups
            .split(',')
            .map(str::trim)
            .find_map(|group| self.accounts.groups.get(group).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn proxy() -> AuthProxy {
        AuthProxy {
            user_header: "x-forwarded-email".into(),
            groups_header: Some("x-forwarded-groups".into()),
            from: vec!["10.1.0.0/16".parse().unwrap(), "fd00::7".parse().unwrap()],
            accounts: serde_yaml::from_str(
                "users: {alice@example.com: team-a}\ngroups: {platform: team-b, dev: team-c}\n",
            )
            .unwrap(),
        }
    }

    fn headers(user: &str, groups: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-email", HeaderValue::from_str(user).unwrap());
        if let Some(groups) = groups {
            headers.insert("x-forwarded-groups", HeaderValue::from_str(groups).unwrap());
        }
        headers
    }

    #[test]
    fn only_the_proxys_requests_are_trusted() {
        let proxy = proxy();
        let inside: IpAddr = "10.1.2.3".parse().unwrap();
        let outside: IpAddr = "10.2.0.1".parse().unwrap();
        let alice = headers("alice@example.com", None);
        assert_eq!(
            proxy.account(Some(inside), &alice).as_deref(),
            Some("team-a")
        );
        assert_eq!(
            proxy.account(Some(outside), &alice),
            None,
            "the header from elsewhere"
        );
        assert_eq!(proxy.account(None, &alice), None, "no peer: not trusted");
        let mapped: IpAddr = "::ffff:10.1.9.9".parse().unwrap();
        assert_eq!(
            proxy.account(Some(mapped), &alice).as_deref(),
            Some("team-a")
        );
        let v6: IpAddr = "fd00::7".parse().unwrap();
        assert_eq!(proxy.account(Some(v6), &alice).as_deref(), Some("team-a"));
        assert_eq!(
            proxy.account(Some("fd00::8".parse().unwrap()), &alice),
            None
        );
    }

    #[test]
    fn users_win_over_groups_and_unknown_people_are_signed_out() {
        let proxy = proxy();
        let at: IpAddr = "10.1.0.1".parse().unwrap();
        let both = headers("alice@example.com", Some("platform"));
        assert_eq!(proxy.account(Some(at), &both).as_deref(), Some("team-a"));
        let bob = headers("bob@example.com", Some("other, dev ,platform"));
        assert_eq!(proxy.account(Some(at), &bob).as_deref(), Some("team-c"));
        let eve = headers("eve@example.com", Some("other"));
        assert_eq!(proxy.account(Some(at), &eve), None);
        assert_eq!(proxy.account(Some(at), &HeaderMap::new()), None);
    }

    #[test]
    fn networks_parse_or_say_why_not() {
        assert!(
            "10.0.0.0/8"
                .parse::<Network>()
                .unwrap()
                .contains("10.200.1.1".parse().unwrap())
        );
        assert!(
            "0.0.0.0/0"
                .parse::<Network>()
                .unwrap()
                .contains("1.2.3.4".parse().unwrap())
        );
        assert!(
            !"10.0.0.1"
                .parse::<Network>()
                .unwrap()
                .contains("10.0.0.2".parse().unwrap())
        );
        assert!(
            "10.0.0.0/33"
                .parse::<Network>()
                .unwrap_err()
                .contains("0 to 32")
        );
        assert!(
            "proxy"
                .parse::<Network>()
                .unwrap_err()
                .contains("not an address")
        );
    }
}
