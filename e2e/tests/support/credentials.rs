//! Private repositories: a tracker whose token sits under a key of its own choosing in the
//! credentials Secret (`credentialsSecret.key`) polls with it, as an Analysis fetches with it.
//!
//! The repository is served over HTTPS with basic auth (`gitview_git::testing::HttpsGit`:
//! `git http-backend` as a CGI behind a small TLS server, as in the runner's fetch tests): gix sends basic auth only
//! over TLS. Its certificate is issued by the suite's own CA ([`SuiteCa`]), which the
//! operators the suite starts trust through `SSL_CERT_FILE`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use gitview_crds::labels;
use gitview_crds::v1alpha1::{Analysis, RepositoryTracker};
use gitview_git::testing::{HttpsGit, Tls};
use kube::ResourceExt as _;
use kube::api::{Api, ListParams};
use kube::runtime::wait::await_condition;

use super::{Env, image};

/// The suite's certificate authority, with a server certificate it issued for 127.0.0.1.
#[derive(Debug)]
pub struct SuiteCa {
    /// Where the CA certificate is, as PEM: the operators' `SSL_CERT_FILE`.
    pub ca_file: PathBuf,
    pub tls: Tls,
}

impl SuiteCa {
    /// A new CA, its certificate written to `dir/suite-ca.pem`.
    pub fn generate(dir: &Path) -> anyhow::Result<Self> {
        let tls = Tls::generate()?;
        let ca_file = dir.join("suite-ca.pem");
        std::fs::write(&ca_file, &tls.ca_pem)?;
        Ok(Self { ca_file, tls })
    }
}

/// The user name gix sends with a token when the Secret has no `username`
/// (`gitview_git::fetch::DEFAULT_TOKEN_USERNAME`).
const TOKEN_USER: &str = "x-access-token";

pub async fn a_tracker_polls_a_private_repository_with_the_token_under_its_key(
    env: Arc<Env>,
    ns: String,
) -> anyhow::Result<()> {
    let repo = env.git.create(&ns, 3)?;
    let head = env.git.git(&repo, &["rev-parse", "HEAD"])?;
    let root = repo.parent().context("repositories have a parent")?;
    let token = format!("pat-{ns}");
    let server = HttpsGit::start(root, &env.ca.tls, TOKEN_USER, &token)?;
    let url = server.url(&ns);

    // The token under a key of the user's choosing: no `token`, `password` or `username`.
    env.apply(&format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: forge, namespace: {ns}}}\nstringData:\n  deploy-pat: \"{token}\"\n"
    ))?;
    env.apply(&format!(
        "apiVersion: gitview.dev/v1alpha1\nkind: AnalysisProfile\nmetadata: {{name: {ns}-ok}}\nspec:\n  runner: {{image: \"{}\"}}\n",
        image::OK
    ))?;
    env.apply(&format!(
        "apiVersion: gitview.dev/v1alpha1\nkind: RepositoryTracker\nmetadata: {{name: repo, namespace: {ns}}}\nspec:\n  \
         repository: {{url: \"{url}\", credentialsSecret: {{name: forge, key: deploy-pat}}}}\n  branches: [main]\n  \
         poll: {{minIntervalSeconds: 10, maxIntervalSeconds: 20}}\n  template:\n    spec: {{profile: {ns}-ok}}\n"
    ))?;

    // The first poll lists the branch with the token, and the head gets its Analysis.
    let trackers: Api<RepositoryTracker> = Api::namespaced(env.client.clone(), &ns);
    let want = head.clone();
    let tracking = move |t: Option<&RepositoryTracker>| {
        t.and_then(|t| t.status.as_ref()).is_some_and(|s| {
            s.branches.iter().any(|b| {
                b.name == "main"
                    && b.head_commit.as_deref() == Some(want.as_str())
                    && b.last_analysis.is_some()
            })
        })
    };
    let timeout = Duration::from_secs(60);
    let polled =
        tokio::time::timeout(timeout, await_condition(trackers.clone(), "repo", tracking)).await;
    let tracker = match polled {
        Ok(found) => found?.context("the tracker vanished")?,
        Err(_) => {
            let status = trackers.get_opt("repo").await?.and_then(|t| t.status);
            bail!(
                "the tracker did not poll the private repository within {timeout:?} \
                 (requests with the token: {}, without: {}); status: {}",
                server.requests.load(Ordering::SeqCst),
                server.refused.load(Ordering::SeqCst),
                serde_json::to_string(&status)?
            )
        }
    };
    let ready = tracker
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .context("Ready")?;
    ensure!(ready.status == "True", "{ready:?}");
    ensure!(
        server.requests.load(Ordering::SeqCst) > 0,
        "no request carried the token"
    );

    // The Analysis exists, for the head, with the tracker's credentials reference as it is.
    let analyses: Api<Analysis> = Api::namespaced(env.client.clone(), &ns);
    let owned = analyses
        .list(&ListParams::default().labels(labels::TRACKER))
        .await?
        .items;
    let run = owned
        .iter()
        .find(|a| a.annotations().get(labels::HEAD_COMMIT) == Some(&head))
        .with_context(|| format!("no Analysis for {head} among {} owned", owned.len()))?;
    let reference = run
        .spec
        .repository
        .source
        .credentials_secret
        .as_ref()
        .context("the Analysis has no credentialsSecret")?;
    ensure!(
        reference.name == "forge" && reference.key.as_deref() == Some("deploy-pat"),
        "{reference:?}"
    );
    Ok(())
}
