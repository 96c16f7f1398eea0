//! A tracker's poll: `git ls-remote --heads` of its repository with `gitview-git`
//! (one ls-remote, not a second git client), authenticated with its `credentialsSecret` read
//! as an Analysis's is ([`crate::credentials`]), under the egress policy of the profile its
//! runs use. What the observe step learns from the remote.

use std::collections::BTreeMap;

use gitview_crds::v1alpha1::{AnalysisProfile, RepositoryTracker};
use gitview_crds::wire::keys;
use gitview_git::fetch::{Credentials, FetchError, Secret as GitSecret};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::{Client, ResourceExt};

use super::decide::PollError;

/// What a poll authenticates with: http(s) basic auth or a token, and an ssh key with its
/// `known_hosts`, as read from the tracker's `credentialsSecret`.
#[derive(Default)]
struct PollCredentials {
    basic: Credentials,
    ssh_key: Option<Vec<u8>>,
    known_hosts: Option<Vec<u8>>,
}

/// Reads the tracker's `credentialsSecret` as an Analysis's is read ([`crate::credentials`]):
/// `username`, `password` or `token` (or the value under its `key`), `ssh-privatekey`,
/// `known_hosts`.
async fn credentials(
    client: &Client,
    tracker: &RepositoryTracker,
) -> Result<PollCredentials, PollError> {
    let Some(reference) = &tracker.spec.repository.credentials_secret else {
        return Ok(PollCredentials::default());
    };
    let namespace = tracker.namespace().unwrap_or_default();
    let secret = match Api::<Secret>::namespaced(client.clone(), &namespace)
        .get_opt(&reference.name)
        .await
    {
        Ok(Some(secret)) => secret,
        Ok(None) => {
            return Err(PollError::Stalled(format!(
                "credentials Secret {namespace}/{} not found",
                reference.name
            )));
        }
        Err(err) => {
            return Err(PollError::Transient(format!(
                "cannot read the credentials Secret: {err}"
            )));
        }
    };
    let data = secret.data.unwrap_or_default();
    let git = crate::credentials::git(reference, &data)
        .map_err(|err| PollError::Stalled(err.to_string()))?;
    Ok(poll_credentials(git))
}

/// The poll's credentials from the runner-named git credentials of [`crate::credentials::git`].
fn poll_credentials(mut git: BTreeMap<String, ByteString>) -> PollCredentials {
    let text = |key: &str| {
        git.get(key)
            .map(|v| {
                String::from_utf8_lossy(&v.0)
                    .trim_end_matches(['\r', '\n'])
                    .to_owned()
            })
            .filter(|v| !v.is_empty())
    };
    let basic = Credentials {
        username: text(keys::GIT_USERNAME),
        password: text(keys::GIT_PASSWORD).map(GitSecret::new),
        token: text(keys::GIT_TOKEN).map(GitSecret::new),
        ..Credentials::default()
    };
    let mut bytes = |key: &str| git.remove(key).map(|v| v.0).filter(|v| !v.is_empty());
    PollCredentials {
        basic,
        ssh_key: bytes(keys::SSH_PRIVATE_KEY),
        known_hosts: bytes(keys::SSH_KNOWN_HOSTS),
    }
}

/// Writes the ssh key (0600: `ssh` refuses anything looser) and `known_hosts` into `dir`, for
/// the duration of one poll; returns the credentials that name them.
fn with_ssh_files(
    dir: &std::path::Path,
    credentials: PollCredentials,
) -> std::io::Result<Credentials> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut basic = credentials.basic;
    let write = |name: &str, bytes: &[u8], mode: u32| -> std::io::Result<std::path::PathBuf> {
        let path = dir.join(name);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)?;
        file.write_all(bytes)?;
        Ok(path)
    };
    if let Some(key) = &credentials.ssh_key {
        basic.ssh_private_key = Some(write("ssh-privatekey", key, 0o600)?);
    }
    if let Some(known_hosts) = &credentials.known_hosts {
        basic.ssh_known_hosts = Some(write("known_hosts", known_hosts, 0o644)?);
    }
    Ok(basic)
}

/// `git ls-remote --heads` of the tracker's repository, on a blocking thread, through a
/// throwaway scratch directory (the scratch repository, and an ssh key while the poll runs:
/// on the operator's memory-backed `/tmp` in the chart, so never on a disk).
///
/// The poll connects on the tenant's behalf, so it is held to the egress policy of the profile
/// the tracker's runs use (the default profile when its template names none:
/// [`crate::settings::profile_for`]) (`repositoryPolicy.allowLinkLocal`; restricted while that profile
/// does not exist): a refused address is never dialled, and the refusal stalls the tracker.
pub(super) async fn poll(
    client: &Client,
    tracker: &RepositoryTracker,
    default_profile: &str,
) -> Result<Vec<(String, String)>, PollError> {
    let egress = egress_policy(client, tracker, default_profile).await?;
    let credentials = credentials(client, tracker).await?;
    let url = tracker.spec.repository.url.clone();
    let listed = tokio::task::spawn_blocking(move || {
        let scratch = tempfile::Builder::new()
            .prefix("gitview-ls-remote-")
            .tempdir()
            .map_err(|e| PollError::Transient(format!("no scratch directory: {e}")))?;
        let credentials = with_ssh_files(scratch.path(), credentials).map_err(|e| {
            PollError::Transient(format!("cannot write the ssh key for the poll: {e}"))
        })?;
        gitview_git::fetch::list_branches(
            &url,
            &credentials,
            &scratch.path().join("repo"),
            Some(egress),
        )
        .map_err(|err: FetchError| {
            if err.is_invalid_input() {
                PollError::Stalled(err.to_string())
            } else {
                PollError::Transient(err.to_string())
            }
        })
    })
    .await
    .map_err(|e| PollError::Transient(format!("the poll panicked: {e}")))??;
    Ok(listed
        .into_iter()
        .map(|(branch, id)| (branch, id.to_string()))
        .collect())
}

/// The egress policy of the profile the tracker's Analyses run with.
async fn egress_policy(
    client: &Client,
    tracker: &RepositoryTracker,
    default_profile: &str,
) -> Result<gitview_egress::Policy, PollError> {
    let name = crate::settings::profile_for(&tracker.spec.template.spec.profile, default_profile);
    match Api::<AnalysisProfile>::all(client.clone())
        .get_opt(name)
        .await
    {
        Ok(profile) => {
            Ok(gitview_egress::Policy::new(profile.is_some_and(|p| {
                p.spec.repository_policy.allow_link_local
            })))
        }
        Err(err) => Err(PollError::Transient(format!(
            "cannot read AnalysisProfile {name:?} for its repository policy: {err}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn a_poll_authenticates_with_the_token_under_the_references_key() {
        let data = BTreeMap::from([
            ("deploy-pat".to_owned(), ByteString(b"pat-1\n".to_vec())),
            ("username".to_owned(), ByteString(b"ci".to_vec())),
        ]);
        let reference = gitview_crds::v1alpha1::SecretReference {
            name: "forge".to_owned(),
            key: Some("deploy-pat".to_owned()),
        };
        let polled = poll_credentials(crate::credentials::git(&reference, &data).unwrap());
        let (user, token) = polled.basic.basic_account().unwrap();
        assert_eq!((user.as_str(), token.expose()), ("ci", "pat-1"));
        // Without the key, the poll would have gone out anonymously: it is said instead.
        let mut without = data.clone();
        without.remove("deploy-pat");
        assert!(crate::credentials::git(&reference, &without).is_err());
    }

    #[test]
    fn the_ssh_key_is_written_owner_only_for_the_poll() {
        let dir = tempfile::tempdir().unwrap();
        let credentials = PollCredentials {
            basic: Credentials {
                username: Some("git".to_owned()),
                ..Credentials::default()
            },
            ssh_key: Some(b"-----BEGIN OPENSSH PRIVATE KEY-----\n".to_vec()),
            known_hosts: Some(b"[127.0.0.1]:2222 ssh-ed25519 AAAA\n".to_vec()),
        };
        let written = with_ssh_files(dir.path(), credentials).unwrap();
        let key = written.ssh_private_key.clone().unwrap();
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::read(&key).unwrap(),
            b"-----BEGIN OPENSSH PRIVATE KEY-----\n"
        );
        assert!(
            written
                .ssh_known_hosts
                .is_some_and(|p| p.starts_with(dir.path()))
        );
        assert_eq!(written.username.as_deref(), Some("git"));
        // Without ssh material nothing is written.
        let none = with_ssh_files(dir.path(), PollCredentials::default()).unwrap();
        assert!(none.ssh_private_key.is_none() && none.ssh_known_hosts.is_none());
    }
}
