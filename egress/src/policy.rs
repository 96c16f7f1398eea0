//! The address policy itself: which addresses a connection made on a tenant's behalf may
//! reach. Pure: no I/O, no resolution (see [`crate::resolve`] for that).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What kind of refused address an address is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// `169.254.0.0/16` or `fe80::/10`: reaches the node's own link, where cloud metadata
    /// services and node-local agents listen.
    LinkLocal,
    /// A cloud instance-metadata or platform address (AWS, GCP, Azure, Alibaba, Oracle), or a
    /// host name that names one.
    Metadata,
    /// `0.0.0.0/8` or `::`: not a destination; connecting to it reaches the local host.
    Unspecified,
}

impl Class {
    /// Whether an AnalysisProfile's `repositoryPolicy.allowLinkLocal` lifts the refusal.
    pub fn is_allowable(self) -> bool {
        matches!(self, Self::LinkLocal | Self::Metadata)
    }

    fn describe(self) -> &'static str {
        match self {
            Self::LinkLocal => "a link-local address",
            Self::Metadata => "a cloud metadata address",
            Self::Unspecified => "the unspecified address, which reaches the local host",
        }
    }
}

/// Cloud metadata and platform services on IPv4 addresses. Most are link-local anyway; the
/// ones that are not (Alibaba's, Azure's WireServer, Oracle's legacy one) are why the list
/// exists.
const METADATA_V4: [Ipv4Addr; 6] = [
    Ipv4Addr::new(169, 254, 169, 254), // AWS, GCP, Azure, OpenStack, Oracle, DigitalOcean
    Ipv4Addr::new(169, 254, 170, 2),   // AWS ECS task metadata and credentials
    Ipv4Addr::new(169, 254, 170, 23),  // AWS EKS Pod Identity agent
    Ipv4Addr::new(100, 100, 100, 200), // Alibaba Cloud
    Ipv4Addr::new(168, 63, 129, 16),   // Azure WireServer
    Ipv4Addr::new(192, 0, 0, 192),     // Oracle Cloud (legacy)
];

/// The IPv6 ones: AWS IMDS and the EKS Pod Identity agent.
const METADATA_V6: [Ipv6Addr; 2] = [
    Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254),
    Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0023),
];

/// Host names of metadata services, refused before any lookup (they resolve to a refused
/// address anyway where they resolve at all; refusing the name also keeps the query off DNS).
const METADATA_NAMES: [&str; 6] = [
    "metadata.google.internal",
    "metadata.goog",
    "metadata",
    "metadata.azure.internal",
    "instance-data",
    "instance-data.ec2.internal",
];

/// What kind of refused address `ip` is, if it is one. IPv6 addresses that carry an IPv4
/// address (v4-mapped, v4-compatible, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are what the
/// IPv4 address is.
pub fn classify(ip: IpAddr) -> Option<Class> {
    match ip {
        IpAddr::V4(ip) => classify_v4(ip),
        IpAddr::V6(ip) => classify_v6(ip),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Class> {
    if ip.octets()[0] == 0 {
        Some(Class::Unspecified)
    } else if METADATA_V4.contains(&ip) {
        Some(Class::Metadata)
    } else if ip.is_link_local() {
        Some(Class::LinkLocal)
    } else {
        None
    }
}

fn classify_v6(ip: Ipv6Addr) -> Option<Class> {
    if ip.is_unspecified() {
        return Some(Class::Unspecified);
    }
    if ip.is_loopback() {
        return None;
    }
    if METADATA_V6.contains(&ip) {
        return Some(Class::Metadata);
    }
    if ip.segments()[0] & 0xffc0 == 0xfe80 {
        return Some(Class::LinkLocal);
    }
    embedded_v4(ip).and_then(classify_v4)
}

/// The IPv4 address an IPv6 address carries, in the forms a connection can reach it by.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated but still parsed).
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0, 0, _, _] => Some(low()),
        // NAT64's well-known prefix: a NAT64 gateway forwards to the IPv4 address.
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low()),
        // 6to4: 2002:AABB:CCDD::/48 carries AA.BB.CC.DD.
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

/// The address a host names without any lookup: a bracketed or bare IPv6 address (a zone
/// suffix `%eth0` is ignored), or an IPv4 address in any spelling the C library's
/// `inet_aton` accepts and the URL parsers under gix and reqwest normalise: dotted decimal,
/// hexadecimal (`0xa9fea9fe`), octal (`0251.0376.0251.0376`), a single 32-bit number
/// (`2852039166`) and the 2- and 3-part forms (`169.254.43518`). A trailing `.` is ignored.
pub fn literal_address(host: &str) -> Option<IpAddr> {
    let host = host.strip_suffix('.').unwrap_or(host);
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let without_zone = bare.split('%').next().unwrap_or(bare);
    if let Ok(ip) = without_zone.parse::<Ipv6Addr>() {
        return Some(IpAddr::V6(ip));
    }
    inet_aton(host).map(IpAddr::V4)
}

/// `inet_aton(3)`: one to four parts, each decimal, `0x` hexadecimal or `0` octal; the last
/// part fills the bytes the others leave.
fn inet_aton(text: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut values = Vec::with_capacity(parts.len());
    for part in &parts {
        values.push(number(part)?);
    }
    let (last, leading) = values.split_last()?;
    if leading.iter().any(|&v| v > 255) {
        return None;
    }
    let room = 8 * (4 - leading.len() as u32);
    if room < 32 && *last >= 1u64 << room {
        return None;
    }
    if *last > u64::from(u32::MAX) {
        return None;
    }
    let mut address = *last as u32;
    for (i, &v) in leading.iter().enumerate() {
        address |= (v as u32) << (24 - 8 * i as u32);
    }
    Some(Ipv4Addr::from(address))
}

fn number(part: &str) -> Option<u64> {
    let (digits, radix) =
        if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            (hex, 16)
        } else if part.len() > 1 && part.starts_with('0') {
            (&part[1..], 8)
        } else {
            (part, 10)
        };
    if digits.is_empty() && radix != 16 {
        return None;
    }
    if digits.is_empty() {
        // `0x` alone is 0 to inet_aton.
        return Some(0);
    }
    if digits.len() > 20 || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// Which addresses a connection made on a tenant's behalf may reach.
///
/// Refused: link-local addresses and cloud metadata addresses and host names, unless
/// `allow_link_local` (an AnalysisProfile's `spec.repositoryPolicy.allowLinkLocal`); and the
/// unspecified address always. Everything else is allowed here, loopback and private ranges
/// included (in-cluster git servers and model endpoints live there); which of those a pod can
/// actually reach is the NetworkPolicy's business.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    allow_link_local: bool,
}

impl Policy {
    /// The policy that refuses link-local and metadata addresses: the default.
    pub const fn restricted() -> Self {
        Self {
            allow_link_local: false,
        }
    }

    /// A policy that allows link-local and metadata addresses when `allow_link_local`.
    pub const fn new(allow_link_local: bool) -> Self {
        Self { allow_link_local }
    }

    /// Whether link-local and metadata addresses are allowed.
    pub const fn allows_link_local(&self) -> bool {
        self.allow_link_local
    }

    /// Checks a host before any lookup: a metadata host name, or an address literal (in any
    /// spelling, see [`literal_address`]) that is refused.
    pub fn check_host(&self, host: &str) -> Result<(), Refusal> {
        if let Some(ip) = literal_address(host) {
            return self.check_address(host, ip);
        }
        let name = host.trim_end_matches('.').to_ascii_lowercase();
        if !self.allow_link_local && METADATA_NAMES.contains(&name.as_str()) {
            return Err(Refusal {
                host: host.to_owned(),
                address: None,
                class: Class::Metadata,
            });
        }
        Ok(())
    }

    /// Checks one address `host` resolved to (or is).
    pub fn check_address(&self, host: &str, ip: IpAddr) -> Result<(), Refusal> {
        match classify(ip) {
            None => Ok(()),
            Some(class) if class.is_allowable() && self.allow_link_local => Ok(()),
            Some(class) => Err(Refusal {
                host: host.to_owned(),
                address: Some(ip),
                class,
            }),
        }
    }
}

/// A connection the policy refused, before it was made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The host as the URL spelt it (userinfo never reaches here: hosts only).
    pub host: String,
    /// The refused address, unless a host name was refused by name.
    pub address: Option<IpAddr>,
    pub class: Class,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bare = self.host.trim_start_matches('[').trim_end_matches(']');
        let spelt_as_address = self.address.is_some_and(|ip| bare == ip.to_string());
        match self.address {
            Some(ip) if spelt_as_address => write!(
                f,
                "connection to {ip} refused: it is {}",
                self.class.describe()
            )?,
            Some(ip) if literal_address(&self.host).is_some() => write!(
                f,
                "connection to {} refused: it is {ip}, {}",
                self.host,
                self.class.describe()
            )?,
            Some(ip) => write!(
                f,
                "connection to {} refused: it resolves to {ip}, {}",
                self.host,
                self.class.describe()
            )?,
            None => write!(
                f,
                "connection to {} refused: it names {}",
                self.host,
                self.class.describe()
            )?,
        }
        if self.class.is_allowable() {
            f.write_str(
                " (an AnalysisProfile with spec.repositoryPolicy.allowLinkLocal: true allows link-local and metadata addresses)",
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for Refusal {}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> Option<IpAddr> {
        Some(IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
    }

    #[test]
    fn every_spelling_of_an_ipv4_address_is_read_like_inet_aton() {
        let metadata = v4(169, 254, 169, 254);
        for spelling in [
            "169.254.169.254",
            "169.254.169.254.",
            "0xa9fea9fe",
            "0XA9FEA9FE",
            "2852039166",
            "0251.0376.0251.0376",
            "0xa9.0xfe.0xa9.0xfe",
            "169.254.43518",
            "169.16689662",
            "0251.0xfe.43518",
        ] {
            assert_eq!(literal_address(spelling), metadata, "{spelling}");
        }
        assert_eq!(literal_address("127.1"), v4(127, 0, 0, 1));
        assert_eq!(literal_address("0"), v4(0, 0, 0, 0));
        for not_an_address in [
            "github.com",
            "256.1.1.1",
            "1.2.3.4.5",
            "08.1.1.1",
            "4294967296",
            "1.2.3.256",
            "1.2.65536",
            "",
            "1..2",
            "0xg",
            "a9fea9fe",
        ] {
            assert_eq!(literal_address(not_an_address), None, "{not_an_address}");
        }
    }

    #[test]
    fn ipv6_literals_are_read_with_or_without_brackets_and_zones() {
        let ip: Ipv6Addr = "fe80::1".parse().unwrap();
        for spelling in ["fe80::1", "[fe80::1]", "[fe80::1%eth0]", "fe80::1%25eth0"] {
            assert_eq!(
                literal_address(spelling),
                Some(IpAddr::V6(ip)),
                "{spelling}"
            );
        }
    }

    #[test]
    fn link_local_metadata_and_unspecified_addresses_are_classified() {
        let cases: [(&str, Option<Class>); 20] = [
            ("169.254.169.254", Some(Class::Metadata)),
            ("169.254.170.2", Some(Class::Metadata)),
            ("169.254.1.1", Some(Class::LinkLocal)),
            ("100.100.100.200", Some(Class::Metadata)),
            ("168.63.129.16", Some(Class::Metadata)),
            ("0.0.0.0", Some(Class::Unspecified)),
            ("0.1.2.3", Some(Class::Unspecified)),
            ("::", Some(Class::Unspecified)),
            ("fe80::1", Some(Class::LinkLocal)),
            ("febf::1", Some(Class::LinkLocal)),
            ("fd00:ec2::254", Some(Class::Metadata)),
            ("::ffff:169.254.169.254", Some(Class::Metadata)),
            ("::ffff:169.254.1.1", Some(Class::LinkLocal)),
            ("::169.254.169.254", Some(Class::Metadata)),
            ("64:ff9b::a9fe:a9fe", Some(Class::Metadata)),
            ("2002:a9fe:a9fe::1", Some(Class::Metadata)),
            ("127.0.0.1", None),
            ("::1", None),
            ("10.0.0.5", None),
            ("2606:4700::1111", None),
        ];
        for (text, class) in cases {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(classify(ip), class, "{text}");
        }
    }

    #[test]
    fn the_restricted_policy_refuses_and_the_allowing_one_lets_through_all_but_unspecified() {
        let restricted = Policy::restricted();
        let allowing = Policy::new(true);
        for host in [
            "169.254.169.254",
            "0xa9fea9fe",
            "[fd00:ec2::254]",
            "[::ffff:169.254.169.254]",
            "metadata.google.internal",
            "METADATA.google.internal.",
            "[fe80::1]",
        ] {
            assert!(restricted.check_host(host).is_err(), "{host}");
            assert_eq!(allowing.check_host(host), Ok(()), "{host}");
        }
        for host in ["0.0.0.0", "[::]", "0"] {
            assert!(restricted.check_host(host).is_err(), "{host}");
            assert!(allowing.check_host(host).is_err(), "{host}");
        }
        for host in [
            "github.com",
            "127.0.0.1",
            "[::1]",
            "10.1.2.3",
            "git.internal",
        ] {
            assert_eq!(restricted.check_host(host), Ok(()), "{host}");
        }
    }

    #[test]
    fn a_refusal_names_the_host_and_the_address() {
        let refused = |host: &str, ip: &str| {
            Policy::restricted()
                .check_address(host, ip.parse().unwrap())
                .unwrap_err()
                .to_string()
        };
        let literal = refused("169.254.1.1", "169.254.1.1");
        assert!(
            literal.starts_with("connection to 169.254.1.1 refused: it is a link-local address (an AnalysisProfile with spec.repositoryPolicy.allowLinkLocal"),
            "{literal}"
        );
        assert_eq!(
            refused("0xa9fea9fe", "169.254.169.254")
                .split(" (")
                .next()
                .unwrap(),
            "connection to 0xa9fea9fe refused: it is 169.254.169.254, a cloud metadata address"
        );
        assert_eq!(
            refused("evil.example", "fd00:ec2::254")
                .split(" (")
                .next()
                .unwrap(),
            "connection to evil.example refused: it resolves to fd00:ec2::254, a cloud metadata address"
        );
        assert_eq!(
            refused("0.0.0.0", "0.0.0.0"),
            "connection to 0.0.0.0 refused: it is the unspecified address, which reaches the local host"
        );
        let by_name = Policy::restricted()
            .check_host("metadata.google.internal")
            .unwrap_err()
            .to_string();
        assert!(
            by_name.starts_with(
                "connection to metadata.google.internal refused: it names a cloud metadata address"
            ),
            "{by_name}"
        );
    }
}
