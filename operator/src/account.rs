//! The gateway account of a namespace — its `gitview.dev/account` label, else its name — and
//! a cache of it. Runs write under it (starting an attempt reads the Namespace afresh, since
//! the account scopes the token it signs); reads the operator makes itself (a running
//! attempt's progress, a tracker's last analyzed commit) take it from the cache.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use gitview_crds::labels;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;
use kube::{Client, ResourceExt};

/// How long a cached account is used before the Namespace is read again.
pub const TTL: Duration = Duration::from_secs(300);

/// The account of a namespace, by the rule runs write under.
pub fn of(namespace: &Namespace) -> String {
    namespace
        .labels()
        .get(labels::ACCOUNT)
        .cloned()
        .unwrap_or_else(|| namespace.name_any())
}

/// Accounts by namespace: one Namespace read per namespace every [`TTL`], not one per read.
#[derive(Debug)]
pub struct Accounts {
    ttl: Duration,
    cached: Mutex<HashMap<String, (String, Instant)>>,
}

impl Default for Accounts {
    fn default() -> Self {
        Self::new(TTL)
    }
}

impl Accounts {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            cached: Mutex::default(),
        }
    }

    /// The account of `namespace`, from the cache while fresh, else read.
    pub async fn get(&self, client: &Client, namespace: &str) -> Result<String, kube::Error> {
        if let Some(account) = self.fresh(namespace) {
            return Ok(account);
        }
        let ns = Api::<Namespace>::all(client.clone()).get(namespace).await?;
        let account = of(&ns);
        self.remember(namespace, &account);
        Ok(account)
    }

    fn fresh(&self, namespace: &str) -> Option<String> {
        self.cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(namespace)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(account, _)| account.clone())
    }

    fn remember(&self, namespace: &str, account: &str) {
        self.cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(namespace.to_owned(), (account.to_owned(), Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn namespace(name: &str, account: Option<&str>) -> Namespace {
        let mut ns = Namespace::default();
        ns.metadata.name = Some(name.to_owned());
        if let Some(account) = account {
            ns.metadata.labels = Some([(labels::ACCOUNT.to_owned(), account.to_owned())].into());
        }
        ns
    }

    #[test]
    fn the_label_names_the_account_else_the_namespace_does() {
        assert_eq!(of(&namespace("team-a", Some("acme"))), "acme");
        assert_eq!(of(&namespace("team-a", None)), "team-a");
    }

    #[test]
    fn a_cached_account_is_used_until_it_expires() {
        let accounts = Accounts::new(Duration::from_secs(60));
        assert_eq!(accounts.fresh("team-a"), None);
        accounts.remember("team-a", "acme");
        assert_eq!(accounts.fresh("team-a").as_deref(), Some("acme"));
        let expired = Accounts::new(Duration::ZERO);
        expired.remember("team-a", "acme");
        assert_eq!(expired.fresh("team-a"), None);
    }
}
