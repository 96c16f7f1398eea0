//! The policy inside reqwest, the HTTP client under gix's http(s) transport and the model
//! client: every connection reqwest makes — the first request, each redirect hop, each
//! request after — passes two hooks, so none reaches a refused address.
//!
//! * **Names** go through reqwest's DNS resolver, which is ours: [`crate::resolve`] on the
//!   blocking pool, every address checked, and reqwest dials what it returns.
//! * **Address literals** never reach a resolver (hyper dials them as they are), so the
//!   client's proxy choice, which reqwest asks for every destination before it connects, is
//!   ours too: a refused literal is sent to a proxy whose name is reserved and which the
//!   resolver above refuses, so the connection fails before any socket opens. No request
//!   goes through a real proxy: adding ours also turns off reqwest's `HTTP(S)_PROXY`
//!   handling, which would otherwise let a proxy resolve names past the policy.
//!
//! The first refusal is kept in the [`HttpGuard`], so a caller whose error went through
//! layers that flatten it (gix) can report the refusal itself.

use std::sync::{Arc, Mutex, PoisonError};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::policy::{Policy, Refusal};
use crate::resolve::{Error, resolve};

/// The proxy a refused address literal is sent to. `.invalid` is reserved (RFC 2606): even a
/// resolver other than ours would not answer for it.
const REFUSED_PROXY: &str = "http://refused.egress.gitview.invalid";
const REFUSED_PROXY_HOST: &str = "refused.egress.gitview.invalid";

/// The policy's hooks for one HTTP client, and the refusal they recorded.
#[derive(Clone, Debug)]
pub struct HttpGuard {
    policy: Policy,
    refused: Arc<Mutex<Option<Refusal>>>,
}

impl HttpGuard {
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            refused: Arc::default(),
        }
    }

    /// The policy this guard applies.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// A blocking client builder with the policy's resolver and proxy hook.
    pub fn blocking(
        &self,
        builder: reqwest::blocking::ClientBuilder,
    ) -> reqwest::blocking::ClientBuilder {
        builder
            .dns_resolver(Arc::new(self.resolver()))
            .proxy(self.proxy())
    }

    /// An async client builder with the policy's resolver and proxy hook.
    pub fn async_client(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        builder.dns_resolver(self.resolver()).proxy(self.proxy())
    }

    /// The first connection the policy refused through this guard, if any.
    pub fn refusal(&self) -> Option<Refusal> {
        self.refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn resolver(&self) -> PolicyResolver {
        PolicyResolver {
            guard: self.clone(),
        }
    }

    fn record(&self, refusal: &Refusal) {
        let mut slot = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(refusal.clone());
        }
    }

    fn proxy(&self) -> reqwest::Proxy {
        let guard = self.clone();
        reqwest::Proxy::custom(move |url| {
            // The URL parser has normalised an address literal (`0xa9fea9fe` is
            // `169.254.169.254` here); names are the resolver's, and only metadata names are
            // refused here.
            let refused = guard.policy.check_host(url.host_str()?);
            match refused {
                Ok(()) => None,
                Err(refusal) => {
                    crate::resolve::log_refusal(&refusal);
                    guard.record(&refusal);
                    Some(REFUSED_PROXY)
                }
            }
        })
    }
}

/// reqwest's resolver under the policy.
#[derive(Debug)]
struct PolicyResolver {
    guard: HttpGuard,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.guard.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            if host == REFUSED_PROXY_HOST {
                let refusal = guard.refusal().ok_or_else(|| {
                    Box::<dyn std::error::Error + Send + Sync>::from(
                        "an address refused by the egress policy",
                    )
                })?;
                return Err(Box::new(Error::Refused(refusal)) as _);
            }
            let policy = guard.policy;
            let looked_up = {
                let host = host.clone();
                tokio::task::spawn_blocking(move || resolve(&policy, &host, 0)).await
            };
            match looked_up {
                Ok(Ok(addresses)) => Ok(Box::new(addresses.into_iter()) as Addrs),
                Ok(Err(err)) => {
                    if let Some(refusal) = err.refusal() {
                        guard.record(refusal);
                    }
                    Err(Box::new(err) as _)
                }
                Err(join) => Err(Box::new(join) as _),
            }
        })
    }
}
