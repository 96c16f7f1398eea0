//! The fetch stage over ssh://, against a real OpenSSH server on 127.0.0.1 with a throwaway
//! host key. Skipped, saying so, where `/usr/sbin/sshd` is not installed (Debian's
//! `openssh-server`).
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

mod common;
#[path = "common/serve.rs"]
mod serve;
#[path = "common/sshd.rs"]
mod sshd;

use common::Repo;
use gitview_git::fetch::{self, Credentials, FetchError, FetchRequest};
use sshd::Sshd;

fn log(repo: &Repo, dir: &std::path::Path) -> String {
    String::from_utf8(repo.git_bytes(dir, &["log", "--format=%H", "HEAD"])).unwrap()
}

#[test]
fn ssh_with_a_mounted_key_and_known_hosts() {
    let repo = Repo::new();
    repo.write("README", "over ssh\n");
    repo.commit("root");
    repo.write("README", "over ssh, again\n");
    repo.commit("second");
    let Some(server) = Sshd::start(&repo.sibling("sshd")) else {
        eprintln!(
            "SKIPPED: {} is not installed; ssh:// fetches are untested",
            sshd::SSHD
        );
        return;
    };
    let url = server.url(&repo.path);
    let request = |dest: &str, key: &std::path::Path, known_hosts: &std::path::Path| {
        let mut request = FetchRequest::new(&url, repo.sibling(dest));
        request.credentials = Credentials {
            ssh_private_key: Some(key.to_owned()),
            ssh_known_hosts: Some(known_hosts.to_owned()),
            ..Credentials::none()
        };
        // As in a pod: `ssh` pointed at the checked address, the host key looked up under
        // `[127.0.0.1]:port` (a wrong one is still refused below).
        request.egress = Some(gitview_egress::Policy::restricted());
        request
    };

    let fetched = fetch::fetch(&request("ssh.git", &server.client_key, &server.known_hosts))
        .expect("clone over ssh");
    assert_eq!(fetched.commit.to_string(), repo.head());
    assert_eq!(log(&repo, &repo.sibling("ssh.git")), log(&repo, &repo.path));
    // The key stays where it was mounted: no copy in the repository, no path in its config.
    let config = std::fs::read_to_string(repo.sibling("ssh.git").join("config")).unwrap();
    assert!(
        !config.contains("client_key") && !config.contains("ssh"),
        "{config}"
    );
    let left: Vec<_> = serve::files_under(&repo.sibling("ssh.git"))
        .into_iter()
        .filter(|f| {
            f.file_name()
                .is_some_and(|n| n.to_string_lossy().contains("ssh"))
        })
        .collect();
    assert!(left.is_empty(), "{left:?}");

    for (name, key, known_hosts) in [
        (
            "unauthorized key",
            &server.stranger_key,
            &server.known_hosts,
        ),
        (
            "unknown host key",
            &server.client_key,
            &server.wrong_known_hosts,
        ),
    ] {
        let err = fetch::fetch(&request("refused.git", key, known_hosts)).expect_err(name);
        assert!(
            matches!(err, FetchError::Authentication { .. }),
            "{name}: {err:?}"
        );
        assert!(err.is_invalid_input(), "{name}: {err}");
        assert!(
            err.to_string().contains("ssh://***@127.0.0.1"),
            "{name}: {err}"
        );
    }
}

#[test]
fn list_branches_over_ssh_with_a_key_and_known_hosts() {
    let repo = Repo::new();
    repo.write("README", "over ssh\n");
    repo.commit("root");
    let Some(server) = Sshd::start(&repo.sibling("sshd")) else {
        eprintln!(
            "SKIPPED: {} is not installed; ssh:// listings are untested",
            sshd::SSHD
        );
        return;
    };
    let url = server.url(&repo.path);
    let credentials = Credentials {
        ssh_private_key: Some(server.client_key.clone()),
        ssh_known_hosts: Some(server.known_hosts.clone()),
        ..Credentials::none()
    };
    // Under the egress policy (the operator's polls): `ssh` is pointed at the checked
    // address and still finds the host key under `[127.0.0.1]:port`.
    let branches = fetch::list_branches(
        &url,
        &credentials,
        &repo.sibling("ls-remote.git"),
        Some(gitview_egress::Policy::restricted()),
    )
    .unwrap();
    assert_eq!(branches.len(), 1);
    assert_eq!(branches[0].0, "main");
    assert_eq!(branches[0].1.to_string(), repo.head());
    // A key the server does not know: refused, as an authentication failure (invalid input).
    let stranger = Credentials {
        ssh_private_key: Some(server.stranger_key.clone()),
        ssh_known_hosts: Some(server.known_hosts.clone()),
        ..Credentials::none()
    };
    let err = fetch::list_branches(
        &url,
        &stranger,
        &repo.sibling("stranger.git"),
        Some(gitview_egress::Policy::restricted()),
    )
    .expect_err("an unauthorized key");
    assert!(matches!(err, FetchError::Authentication { .. }), "{err:?}");
}
