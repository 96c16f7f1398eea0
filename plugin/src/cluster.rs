//! The cluster side: the kubeconfig's client, creating Analyses and RepositoryTrackers,
//! listing and following Analyses, and asking a tracker to poll.

use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use futures::StreamExt as _;
use gitview_crds::labels;

use crate::config::KubeTarget;
use gitview_crds::v1alpha1::{Analysis, AnalysisPhase, RepositoryTracker};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, ResourceExt as _};

/// The kubeconfig's client and namespace (`-n` over the context's).
pub async fn connect(
    namespace: Option<&str>,
    target: &KubeTarget,
) -> anyhow::Result<(Client, String)> {
    let config = load_config(target).await?;
    let default_namespace = config.default_namespace.clone();
    let client = Client::try_from(config).context("cannot build a client for the cluster")?;
    Ok((client, namespace.map_or(default_namespace, str::to_owned)))
}

/// The client configuration `target` names: with neither a kubeconfig nor a context named,
/// what kubectl would use (`$KUBECONFIG`, `~/.kube/config`, or inside a pod its service
/// account).
pub async fn load_config(target: &KubeTarget) -> anyhow::Result<kube::Config> {
    if target.kubeconfig.is_none() && target.context.is_none() {
        return kube::Config::infer().await.map_err(|err| {
            anyhow!(
                "cannot load a kubeconfig ({err}): set KUBECONFIG, pass --kubeconfig, or run `kubectl config use-context`"
            )
        });
    }
    let kubeconfig = match &target.kubeconfig {
        Some(path) => Kubeconfig::read_from(path)
            .map_err(|err| anyhow!("cannot read the kubeconfig {path} ({err})"))?,
        None => Kubeconfig::read().map_err(|err| {
            anyhow!("cannot load a kubeconfig ({err}): set KUBECONFIG or pass --kubeconfig")
        })?,
    };
    let options = KubeConfigOptions {
        context: target.context.clone(),
        ..KubeConfigOptions::default()
    };
    kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|err| match &target.context {
            Some(context) => anyhow!(
                "cannot use the context {context:?} ({err}): `kubectl config get-contexts` lists them"
            ),
            None => anyhow!("cannot use the kubeconfig's current context ({err})"),
        })
}

/// A name for an object about the remote at `url`: its last path segment, as a DNS label.
pub fn name_for(url: &str) -> String {
    let last = url
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or_default()
        .trim_end_matches(".git");
    let mut name: String = last
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() { c } else { '-' }
        })
        .collect();
    name = name.trim_matches('-').chars().take(40).collect();
    let name = name.trim_end_matches('-').to_owned();
    if name.is_empty() {
        "repository".to_owned()
    } else {
        name
    }
}

/// Creates an Analysis of `url` (a full run); `name` or a generated one after the remote.
pub async fn create_analysis(
    client: &Client,
    namespace: &str,
    url: &str,
    git_ref: Option<&str>,
    profile: Option<&str>,
    name: Option<&str>,
) -> anyhow::Result<Analysis> {
    let mut spec = serde_json::json!({
        "repository": {"url": url},
        "mode": {"type": "Full"},
    });
    if let Some(git_ref) = git_ref {
        spec["repository"]["ref"] = git_ref.into();
    }
    if let Some(profile) = profile {
        spec["profile"] = profile.into();
    }
    let metadata = match name {
        Some(name) => serde_json::json!({"name": name, "namespace": namespace}),
        None => {
            serde_json::json!({"generateName": format!("{}-", name_for(url)), "namespace": namespace})
        }
    };
    let analysis: Analysis = serde_json::from_value(serde_json::json!({
        "apiVersion": "gitview.dev/v1alpha1",
        "kind": "Analysis",
        "metadata": metadata,
        "spec": spec,
    }))
    .context("the Analysis does not build")?;
    let api: Api<Analysis> = Api::namespaced(client.clone(), namespace);
    api.create(&PostParams::default(), &analysis)
        .await
        .map_err(|err| refused("Analysis", err))
}

/// Creates a RepositoryTracker of `url`.
pub async fn create_tracker(
    client: &Client,
    namespace: &str,
    url: &str,
    branches: &[String],
    profile: Option<&str>,
    clone_cache: Option<&str>,
    name: Option<&str>,
) -> anyhow::Result<RepositoryTracker> {
    let mut spec = serde_json::json!({
        "repository": {"url": url},
        "branches": branches,
    });
    if let Some(profile) = profile {
        spec["template"] = serde_json::json!({"spec": {"profile": profile}});
    }
    if let Some(size) = clone_cache {
        spec["cloneCache"] = serde_json::json!({"size": size});
    }
    let name = name.map_or_else(|| name_for(url), str::to_owned);
    let tracker: RepositoryTracker = serde_json::from_value(serde_json::json!({
        "apiVersion": "gitview.dev/v1alpha1",
        "kind": "RepositoryTracker",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }))
    .context("the RepositoryTracker does not build")?;
    let api: Api<RepositoryTracker> = Api::namespaced(client.clone(), namespace);
    api.create(&PostParams::default(), &tracker)
        .await
        .map_err(|err| refused("RepositoryTracker", err))
}

/// An API error as a person reads it, with what to do about the common ones.
fn refused(kind: &str, err: kube::Error) -> anyhow::Error {
    match err {
        kube::Error::Api(status) => match status.code {
            404 => anyhow!(
                "the cluster does not know {kind}s ({}): is gitview installed? (helm install gitview charts/gitview)",
                status.message
            ),
            403 => anyhow!(
                "you may not create {kind}s here ({}): ask for the gitview edit role in this namespace",
                status.message
            ),
            409 => anyhow!("{} (pick another --name)", status.message),
            _ => anyhow!("the API server refused the {kind}: {}", status.message),
        },
        other => anyhow!("cannot reach the cluster: {other}"),
    }
}

/// One Analysis by name.
pub async fn analysis(client: &Client, namespace: &str, name: &str) -> anyhow::Result<Analysis> {
    let api: Api<Analysis> = Api::namespaced(client.clone(), namespace);
    api.get_opt(name)
        .await
        .map_err(|err| refused("Analysis", err))?
        .ok_or_else(|| {
            anyhow!("there is no Analysis {name:?} in namespace {namespace:?} (kubectl gitview get lists them)")
        })
}

/// The namespace's Analyses, oldest first.
pub async fn analyses(client: &Client, namespace: &str) -> anyhow::Result<Vec<Analysis>> {
    let api: Api<Analysis> = Api::namespaced(client.clone(), namespace);
    let mut items = api
        .list(&ListParams::default())
        .await
        .map_err(|err| refused("Analysis", err))?
        .items;
    items.sort_by_key(|a| a.creation_timestamp().map(|t| t.0));
    Ok(items)
}

/// Whether an Analysis is finished.
pub fn finished(an: &Analysis) -> bool {
    matches!(
        an.status.as_ref().and_then(|s| s.phase),
        Some(AnalysisPhase::Succeeded | AnalysisPhase::Failed)
    )
}

/// Follows an Analysis until it finishes (or `timeout` passes), calling `seen` with each state.
pub async fn follow(
    client: &Client,
    namespace: &str,
    name: &str,
    timeout: Duration,
    mut seen: impl FnMut(&Analysis),
) -> anyhow::Result<Analysis> {
    let api: Api<Analysis> = Api::namespaced(client.clone(), namespace);
    let watch = kube::runtime::watcher::watch_object(api, name);
    let mut watch = std::pin::pin!(watch);
    let until = tokio::time::Instant::now() + timeout;
    loop {
        let next = tokio::time::timeout_at(until, watch.next()).await.map_err(|_| {
            anyhow!("the Analysis {name:?} did not finish within {timeout:?} (it goes on: kubectl gitview get {name})")
        })?;
        match next {
            Some(Ok(Some(an))) => {
                seen(&an);
                if finished(&an) {
                    return Ok(an);
                }
            }
            Some(Ok(None)) => bail!("the Analysis {name:?} was deleted"),
            Some(Err(err)) => bail!("watching the Analysis {name:?} failed: {err}"),
            None => bail!("the watch of the Analysis {name:?} ended"),
        }
    }
}

/// Asks a tracker to poll now and waits until its status says it has.
pub async fn reconcile_tracker(
    client: &Client,
    namespace: &str,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<RepositoryTracker> {
    let api: Api<RepositoryTracker> = Api::namespaced(client.clone(), namespace);
    let requested = jiff::Timestamp::now().to_string();
    let patch = serde_json::json!({"metadata": {"annotations": {labels::REQUESTED_AT: requested}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|err| match err {
            kube::Error::Api(status) if status.code == 404 => {
                anyhow!("there is no RepositoryTracker {name:?} in namespace {namespace:?}")
            }
            other => refused("RepositoryTracker", other),
        })?;
    let handled = |tracker: &RepositoryTracker| {
        tracker
            .status
            .as_ref()
            .and_then(|s| s.last_handled_requested_at.as_deref())
            == Some(requested.as_str())
    };
    let condition = move |tracker: Option<&RepositoryTracker>| tracker.is_some_and(handled);
    let waited = tokio::time::timeout(
        timeout,
        kube::runtime::wait::await_condition(api, name, condition),
    )
    .await
    .map_err(|_| anyhow!("the tracker {name:?} did not poll within {timeout:?}: is the operator running? (kubectl -n gitview-system logs deploy/gitview-operator)"))?
    .context("waiting for the tracker")?;
    waited.ok_or_else(|| anyhow!("the tracker {name:?} was deleted"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_remote() {
        assert_eq!(name_for("https://github.com/kube-rs/kube.git"), "kube");
        assert_eq!(name_for("git@github.com:git/Git.git"), "git");
        assert_eq!(name_for("git://127.0.0.1:9418/my_repo.git/"), "my-repo");
        assert_eq!(name_for("https://example.com/"), "example-com");
        assert_eq!(name_for("https://x/---"), "repository");
        assert!(name_for(&format!("https://x/{}", "a".repeat(100))).len() <= 40);
    }
}

#[cfg(test)]
mod kubeconfig_tests {
    use super::*;

    /// A kubeconfig of two clusters and a context each, the current one `a`.
    const KUBECONFIG: &str = "apiVersion: v1
kind: Config
current-context: a
clusters:
- name: a
  cluster: {server: 'https://a.example:6443'}
- name: b
  cluster: {server: 'https://b.example:6443'}
users:
- name: u
  user: {token: t}
contexts:
- name: a
  context: {cluster: a, user: u, namespace: team-a}
- name: b
  context: {cluster: b, user: u, namespace: team-b}
";

    #[tokio::test]
    async fn the_kubeconfig_and_context_named_are_the_ones_used() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, KUBECONFIG).unwrap();
        let path = path.to_string_lossy().into_owned();
        let target = |context: Option<&str>| KubeTarget {
            kubeconfig: Some(path.clone()),
            context: context.map(str::to_owned),
        };
        let current = load_config(&target(None)).await.unwrap();
        assert_eq!(current.cluster_url.to_string(), "https://a.example:6443/");
        assert_eq!(current.default_namespace, "team-a");
        let other = load_config(&target(Some("b"))).await.unwrap();
        assert_eq!(other.cluster_url.to_string(), "https://b.example:6443/");
        assert_eq!(other.default_namespace, "team-b");
        let err = load_config(&target(Some("c"))).await.unwrap_err();
        assert!(
            err.to_string().contains("cannot use the context \"c\""),
            "{err}"
        );
        assert!(
            err.to_string().contains("kubectl config get-contexts"),
            "{err}"
        );
        let missing = KubeTarget {
            kubeconfig: Some(dir.path().join("nowhere").to_string_lossy().into_owned()),
            context: None,
        };
        let err = load_config(&missing).await.unwrap_err();
        assert!(
            err.to_string().contains("cannot read the kubeconfig"),
            "{err}"
        );
    }
}
