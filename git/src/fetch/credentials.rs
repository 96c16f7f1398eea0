//! Credentials for the fetch stage, read from the files the operator mounts beside the run
//! config, and handed to gix only through its credential hook (http(s)) or the `ssh` command
//! line (paths, never contents).

use std::fmt;
use std::path::{Path, PathBuf};

use gitview_crds::wire::keys;
use gix::credentials::helper::Action;
use gix::credentials::protocol::Outcome;
use gix::sec::identity::Account;

use super::FetchError;

/// The user name sent with a token when no `git-username` is mounted. GitHub and Gitea accept
/// any user name with a personal access token and document this one; GitLab accepts any
/// non-empty name with a personal access token.
pub const DEFAULT_TOKEN_USERNAME: &str = "x-access-token";

/// A secret string that never shows in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself. Callers must not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// What the fetch stage may authenticate with. `Debug` shows which parts are present, never a
/// password or token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    /// http(s) basic-auth user name (`git-username`).
    pub username: Option<String>,
    /// http(s) basic-auth password (`git-password`).
    pub password: Option<Secret>,
    /// A token sent as the basic-auth password (`git-token`), with [`Self::username`] or
    /// [`DEFAULT_TOKEN_USERNAME`]. Takes precedence over [`Self::password`].
    pub token: Option<Secret>,
    /// An ssh private key file (`ssh-privatekey`), passed to `ssh -i` where it lies. `ssh`
    /// refuses keys readable by others, so it must be mounted with mode 0400 or 0600.
    pub ssh_private_key: Option<PathBuf>,
    /// An ssh `known_hosts` file (`known_hosts`); with a key, host keys are checked strictly
    /// against it.
    pub ssh_known_hosts: Option<PathBuf>,
}

impl Credentials {
    /// No credentials: anonymous access.
    pub fn none() -> Self {
        Self::default()
    }

    /// Reads the credential files named by [`gitview_crds::wire::keys`] from `dir`, each only if
    /// present. Trailing line breaks are trimmed from user names, passwords and tokens (a
    /// Secret created with `kubectl create secret --from-file` keeps the file's final newline).
    pub fn from_dir(dir: &Path) -> Result<Self, FetchError> {
        let text = |name: &str| -> Result<Option<String>, FetchError> {
            let path = dir.join(name);
            match std::fs::read_to_string(&path) {
                Ok(value) => {
                    let value = value.trim_end_matches(['\r', '\n']).to_owned();
                    Ok((!value.is_empty()).then_some(value))
                }
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(FetchError::CredentialUnreadable { path, source }),
            }
        };
        let file = |name: &str| {
            let path = dir.join(name);
            path.is_file().then_some(path)
        };
        Ok(Self {
            username: text(keys::GIT_USERNAME)?,
            password: text(keys::GIT_PASSWORD)?.map(Secret),
            token: text(keys::GIT_TOKEN)?.map(Secret),
            ssh_private_key: file(keys::SSH_PRIVATE_KEY),
            ssh_known_hosts: file(keys::SSH_KNOWN_HOSTS),
        })
    }

    /// The http(s) basic-auth account: the token (with the user name or
    /// [`DEFAULT_TOKEN_USERNAME`]), else user name and password.
    pub fn basic_account(&self) -> Option<(String, &Secret)> {
        if let Some(token) = &self.token {
            let username = self
                .username
                .clone()
                .unwrap_or_else(|| DEFAULT_TOKEN_USERNAME.to_owned());
            return Some((username, token));
        }
        let password = self.password.as_ref()?;
        Some((self.username.clone().unwrap_or_default(), password))
    }

    /// What the fetch log may say about these credentials.
    pub fn kind(&self) -> &'static str {
        match (self.basic_account(), &self.ssh_private_key) {
            (Some(_), Some(_)) => "basic auth and ssh key",
            (Some(_), None) if self.token.is_some() => "token",
            (Some(_), None) => "username and password",
            (None, Some(_)) => "ssh key",
            (None, None) => "none",
        }
    }

    /// The `core.sshCommand` that uses the mounted key and known_hosts, if a key is mounted:
    /// only that key (`IdentitiesOnly`), strict host key checking, and no prompts (`BatchMode`).
    /// `ssh` writes its diagnostics to `log` (`-E`), where the fetch reads why a connection
    /// failed: gix only recognises some of them on `ssh`'s stderr.
    pub fn ssh_command(&self, log: &Path) -> Option<String> {
        let key = self.ssh_private_key.as_ref()?;
        let mut command = format!(
            "ssh -i {} -E {} -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes",
            shell_quote(&key.to_string_lossy()),
            shell_quote(&log.to_string_lossy())
        );
        if let Some(known_hosts) = &self.ssh_known_hosts {
            command.push_str(" -o UserKnownHostsFile=");
            command.push_str(&shell_quote(&known_hosts.to_string_lossy()));
        }
        Some(command)
    }

    /// The credential hook for gix: answers `get` with the basic-auth account and ignores
    /// `store` and `erase` (nothing is ever persisted). Without an account it answers nothing,
    /// and the server's refusal surfaces as an authentication error.
    pub(crate) fn helper(
        &self,
    ) -> impl FnMut(Action) -> gix::Result<Option<Outcome>> + Send + use<> {
        let account = self
            .basic_account()
            .map(|(username, password)| (username, password.clone()));
        move |action| match (action, &account) {
            (Action::Get(context), Some((username, password))) => Ok(Some(Outcome {
                identity: Account {
                    username: username.clone(),
                    password: password.expose().to_owned(),
                    oauth_refresh_token: None,
                },
                next: context.into(),
            })),
            _ => Ok(None),
        }
    }
}

/// `value` in single quotes for `sh`.
pub(super) fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_wins_over_a_password_and_gets_a_default_user() {
        let mut credentials = Credentials {
            username: None,
            password: Some(Secret::new("pw")),
            token: Some(Secret::new("tok")),
            ..Credentials::default()
        };
        let (user, secret) = credentials.basic_account().expect("an account");
        assert_eq!(
            (user.as_str(), secret.expose()),
            (DEFAULT_TOKEN_USERNAME, "tok")
        );
        credentials.username = Some("ci".into());
        credentials.token = None;
        let (user, secret) = credentials.basic_account().expect("an account");
        assert_eq!((user.as_str(), secret.expose()), ("ci", "pw"));
        assert_eq!(Credentials::none().basic_account(), None);
    }

    #[test]
    fn debug_output_hides_secrets() {
        let credentials = Credentials {
            username: Some("ci".into()),
            password: Some(Secret::new("hunter2")),
            token: Some(Secret::new("ghp_abc")),
            ..Credentials::default()
        };
        let debug = format!("{credentials:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("ghp_abc"),
            "{debug}"
        );
        assert!(debug.contains("ci"), "{debug}");
    }

    #[test]
    fn from_dir_reads_present_files_and_trims_newlines() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(keys::GIT_USERNAME), "ci\n").expect("write");
        std::fs::write(dir.path().join(keys::GIT_PASSWORD), "p w\r\n").expect("write");
        std::fs::write(dir.path().join(keys::SSH_PRIVATE_KEY), "key").expect("write");
        let credentials = Credentials::from_dir(dir.path()).expect("read");
        assert_eq!(credentials.username.as_deref(), Some("ci"));
        assert_eq!(credentials.password, Some(Secret::new("p w")));
        assert_eq!(credentials.token, None);
        assert_eq!(
            credentials.ssh_private_key,
            Some(dir.path().join(keys::SSH_PRIVATE_KEY))
        );
        assert_eq!(credentials.ssh_known_hosts, None);
        assert_eq!(
            Credentials::from_dir(&dir.path().join("absent")).expect("nothing"),
            Credentials::none()
        );
    }

    #[test]
    fn the_ssh_command_quotes_paths_and_checks_hosts_strictly() {
        let credentials = Credentials {
            ssh_private_key: Some("/run/it's/key".into()),
            ssh_known_hosts: Some("/run/kh".into()),
            ..Credentials::default()
        };
        let log = Path::new("/scratch/ssh.log");
        assert_eq!(
            credentials.ssh_command(log).expect("a command"),
            "ssh -i '/run/it'\\''s/key' -E '/scratch/ssh.log' -o IdentitiesOnly=yes \
             -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile='/run/kh'"
        );
        assert_eq!(Credentials::none().ssh_command(log), None);
    }
}
