//! Resolution and TCP connections under the policy: resolve once, check every address, dial
//! only the addresses checked.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs as _};
use std::time::Duration;

use crate::policy::{Policy, Refusal, literal_address};

/// Why an outbound connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The policy refused the host or an address it resolved to; nothing was dialled.
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot connect to {host} port {port}: {source}")]
    Connect {
        host: String,
        port: u16,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The refusal, when the policy refused the connection.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Self::Refused(refusal) => Some(refusal),
            _ => None,
        }
    }
}

/// Resolves `host` (a name, or an address literal in any spelling) to the addresses a
/// connection to `port` may use. Every address is checked: if any is refused the host is
/// refused, so a name that answers with a mix of allowed and refused addresses (DNS
/// rebinding's trick) reaches none of them. Blocking (the C library's resolver).
pub fn resolve(policy: &Policy, host: &str, port: u16) -> Result<Vec<SocketAddr>, Error> {
    resolve_checked(policy, host, port).inspect_err(|err| {
        if let Some(refusal) = err.refusal() {
            log_refusal(refusal);
        }
    })
}

/// Every refusal, once, in the log of whoever made it (operator or runner).
pub(crate) fn log_refusal(refusal: &Refusal) {
    tracing::warn!(
        host = %refusal.host,
        address = refusal.address.map(|a| a.to_string()),
        "outbound connection refused by the egress policy"
    );
}

fn resolve_checked(policy: &Policy, host: &str, port: u16) -> Result<Vec<SocketAddr>, Error> {
    policy.check_host(host)?;
    if let Some(ip) = literal_address(host) {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addresses: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|source| Error::Resolve {
            host: host.to_owned(),
            source,
        })?
        .collect();
    if addresses.is_empty() {
        return Err(Error::Resolve {
            host: host.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
        });
    }
    for address in &addresses {
        policy.check_address(host, address.ip())?;
    }
    Ok(addresses)
}

/// A TCP connection to `host:port` through [`resolve`]: the addresses are tried in order,
/// each with `timeout`, and the stream is connected to one of the addresses checked, never to
/// a second lookup's answer.
pub fn connect_tcp(
    policy: &Policy,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<TcpStream, Error> {
    let addresses = resolve(policy, host, port)?;
    let mut last = None;
    for address in addresses {
        match TcpStream::connect_timeout(&address, timeout) {
            Ok(stream) => return Ok(stream),
            Err(err) => last = Some(err),
        }
    }
    Err(Error::Connect {
        host: host.to_owned(),
        port,
        source: last.unwrap_or_else(|| std::io::Error::other("no address to connect to")),
    })
}
