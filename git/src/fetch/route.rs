//! How a fetch or a branch listing reaches its remote under the egress policy
//! ([`gitview_egress`]): the host is resolved once, before any connection, every address is
//! checked, and each transport is made to dial only what was checked.
//!
//! * http(s): gix's reqwest client gets the policy's resolver and proxy hook
//!   ([`gitview_egress::HttpGuard`]), so the first request, each redirect hop and every
//!   request after it are checked where reqwest connects.
//! * git://: the TCP stream is ours ([`gitview_egress::connect_tcp`]), handed to gix's
//!   git-protocol connection; the daemon still sees the URL's host as the virtual host.
//! * ssh://: the `ssh` command is pointed at the checked address (`-o HostName=`), and looks
//!   the host key up under the URL's host as before (`-o HostKeyAlias=`).
//!
//! Without a policy (a laptop run, on the user's own behalf) gix connects as it always does,
//! and `ssh` follows the user's own configuration.

use std::net::{IpAddr, SocketAddr};

use gitview_egress::{HttpGuard, Policy};

use super::FetchError;

/// How long a git:// connection may take to open.
const GIT_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// The way to the remote, decided before anything connects.
#[derive(Debug)]
pub(super) enum Route {
    /// No policy, or a local repository: gix connects as it always does.
    Direct,
    /// http(s) through the guard's hooks.
    Http(HttpGuard),
    /// git:// to these checked addresses only; `host` and `port` as the URL names them (the
    /// daemon's virtual host).
    Git {
        policy: Policy,
        host: String,
        port: Option<u16>,
        addresses: Vec<SocketAddr>,
    },
    /// ssh to a checked address.
    Ssh(SshTarget),
}

/// Where the `ssh` command connects, and the name it checks the host key under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SshTarget {
    pub address: IpAddr,
    /// `host`, or `[host]:port` off port 22: the name `known_hosts` lists the key under.
    pub host_key_alias: String,
}

impl SshTarget {
    /// The options that point `ssh` at the address, quoted for the shell gix runs it with.
    pub fn options(&self) -> String {
        format!(
            " -o HostName={} -o HostKeyAlias={}",
            super::credentials::shell_quote(&self.address.to_string()),
            super::credentials::shell_quote(&self.host_key_alias)
        )
    }
}

impl Route {
    /// Decides the route of `url` (shown as `shown`) under `policy`, resolving its host.
    pub fn of(url: &str, shown: &str, policy: Option<Policy>) -> Result<Self, FetchError> {
        let Some(policy) = policy else {
            return Ok(Self::Direct);
        };
        let parsed = gix::url::parse(url).map_err(|source| FetchError::InvalidUrl {
            url: shown.to_owned(),
            source: gix::Error::from_error(source),
        })?;
        let refused = |source: gitview_egress::Error| match source {
            gitview_egress::Error::Refused(refusal) => FetchError::Refused {
                url: shown.to_owned(),
                refusal,
            },
            other => FetchError::Unreachable {
                url: shown.to_owned(),
                source: other,
            },
        };
        use gix::url::Scheme;
        let host = || {
            parsed
                .host()
                .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_owned())
                .ok_or_else(|| FetchError::InvalidUrl {
                    url: shown.to_owned(),
                    source: gix::Error::from_error(std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        "the URL has no host",
                    )),
                })
        };
        match parsed.scheme {
            Scheme::File => Ok(Self::Direct),
            Scheme::Http | Scheme::Https => {
                // The hooks refuse at connect time; checking the literal here too gives the
                // refusal before gix has opened anything.
                policy
                    .check_host(&host()?)
                    .map_err(|refusal| FetchError::Refused {
                        url: shown.to_owned(),
                        refusal,
                    })?;
                Ok(Self::Http(HttpGuard::new(policy)))
            }
            Scheme::Git => {
                let host = host()?;
                let port = parsed.port_or_default().unwrap_or(9418);
                let addresses = gitview_egress::resolve(&policy, &host, port).map_err(refused)?;
                Ok(Self::Git {
                    policy,
                    host,
                    port: parsed.port,
                    addresses,
                })
            }
            Scheme::Ssh => {
                let host = host()?;
                let port = parsed.port_or_default().unwrap_or(22);
                let addresses = gitview_egress::resolve(&policy, &host, port).map_err(refused)?;
                let address = addresses
                    .first()
                    .map(SocketAddr::ip)
                    .expect("resolve returns at least one address");
                let host_key_alias = if port == 22 {
                    host
                } else {
                    format!("[{host}]:{port}")
                };
                Ok(Self::Ssh(SshTarget {
                    address,
                    host_key_alias,
                }))
            }
            // ext:: and helper transports run programs; the schema never lets them in.
            _ => Err(FetchError::InvalidUrl {
                url: shown.to_owned(),
                source: gix::Error::from_error(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "unsupported transport",
                )),
            }),
        }
    }

    /// The guard of an http(s) route.
    pub fn http_guard(&self) -> Option<&HttpGuard> {
        match self {
            Self::Http(guard) => Some(guard),
            _ => None,
        }
    }

    /// The ssh target of an ssh route.
    pub fn ssh_target(&self) -> Option<&SshTarget> {
        match self {
            Self::Ssh(target) => Some(target),
            _ => None,
        }
    }

    /// Connects `remote` for `direction`: through our own TCP stream for git://, as gix does
    /// for the rest (with the options the route set up).
    pub fn connect<'remote, 'repo>(
        &self,
        remote: &'remote gix::Remote<'repo>,
        direction: gix::remote::Direction,
        shown: &str,
    ) -> Result<
        gix::remote::Connection<
            'remote,
            'static,
            'repo,
            Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>,
        >,
        FetchError,
    > {
        let Self::Git {
            policy,
            host,
            port,
            addresses,
        } = self
        else {
            return remote
                .connect(direction)
                .map_err(|err| self.classify(err, shown));
        };
        use gix::protocol::transport::client::git;
        let (url, version) = remote
            .sanitized_url_and_version(direction)
            .map_err(|err| super::error::classify(err, shown))?;
        let stream =
            connect_checked(policy, host, addresses).map_err(|source| FetchError::Unreachable {
                url: shown.to_owned(),
                source,
            })?;
        let write = stream
            .try_clone()
            .map_err(|source| FetchError::Unreachable {
                url: shown.to_owned(),
                source: gitview_egress::Error::Connect {
                    host: host.clone(),
                    port: port.unwrap_or(9418),
                    source,
                },
            })?;
        let connection = git::blocking_io::Connection::new(
            stream,
            write,
            version,
            url.path.clone(),
            Some((host.clone(), *port)),
            git::ConnectMode::Daemon,
            false,
        );
        let transport: Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send> =
            Box::new(connection);
        Ok(remote.to_connection_with_transport(transport))
    }

    /// Classifies a gix error of this route: a refusal the http hooks recorded comes first,
    /// whatever gix made of the failed connection.
    pub fn classify(&self, err: gix::Error, shown: &str) -> FetchError {
        match self.http_guard().and_then(HttpGuard::refusal) {
            Some(refusal) => FetchError::Refused {
                url: shown.to_owned(),
                refusal,
            },
            None => super::error::classify(err, shown),
        }
    }
}

/// A TCP stream to one of `addresses`, all of which the policy checked when they were
/// resolved: nothing is looked up again.
fn connect_checked(
    policy: &Policy,
    host: &str,
    addresses: &[SocketAddr],
) -> Result<std::net::TcpStream, gitview_egress::Error> {
    let mut last = None;
    for address in addresses {
        // Belt and braces: the addresses came from `resolve`, which checked them.
        policy.check_address(host, address.ip())?;
        match std::net::TcpStream::connect_timeout(address, GIT_CONNECT_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(err) => last = Some(err),
        }
    }
    Err(gitview_egress::Error::Connect {
        host: host.to_owned(),
        port: addresses.first().map_or(9418, SocketAddr::port),
        source: last.unwrap_or_else(|| std::io::Error::other("no address to connect to")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_policy_nothing_is_resolved() {
        let route = Route::of("https://169.254.169.254/r", "u", None).unwrap();
        assert!(matches!(route, Route::Direct));
    }

    #[test]
    fn refused_literals_are_refused_before_any_connection_in_every_scheme() {
        for url in [
            "http://0xa9fea9fe/org/repo",
            "https://2852039166/org/repo",
            "http://0251.0376.0251.0376/r",
            "git://169.254.169.254/r",
            "git://0xa9fea9fe:9418/r",
            "ssh://git@[fd00:ec2::254]/r",
            "git@169.254.169.254:org/repo",
            "http://[::ffff:169.254.169.254]/r",
            "https://metadata.google.internal/computeMetadata/v1",
        ] {
            let err = Route::of(url, "shown", Some(Policy::restricted())).unwrap_err();
            assert!(matches!(err, FetchError::Refused { .. }), "{url}: {err:?}");
            assert!(err.is_invalid_input(), "{url}");
            assert!(
                err.to_string().starts_with("shown: connection to "),
                "{err}"
            );
        }
    }

    #[test]
    fn ssh_is_pointed_at_the_checked_address_and_keeps_its_host_key_name() {
        let route = Route::of(
            "ssh://git@127.0.0.1:2222/org/repo",
            "u",
            Some(Policy::restricted()),
        )
        .unwrap();
        let target = route.ssh_target().unwrap();
        assert_eq!(target.address, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(target.host_key_alias, "[127.0.0.1]:2222");
        assert_eq!(
            target.options(),
            " -o HostName='127.0.0.1' -o HostKeyAlias='[127.0.0.1]:2222'"
        );
        let scp = Route::of("git@127.0.0.1:org/repo", "u", Some(Policy::restricted())).unwrap();
        assert_eq!(scp.ssh_target().unwrap().host_key_alias, "127.0.0.1");
    }
}
