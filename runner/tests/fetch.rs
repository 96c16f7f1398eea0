//! The fetch stage against real servers on 127.0.0.1: `git daemon` (git://) and
//! `git http-backend` behind an HTTPS server with basic auth. Results are checked with real
//! `git` on both sides.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

mod common;
#[path = "common/serve.rs"]
mod serve;

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use common::{Repo, extract_records};
use gitview_git::fetch::{self, Credentials, FetchError, FetchRequest, Fetched, History, Secret};
use gitview_runner::extract::ExtractOptions;
use gix::ObjectId;
use serve::{Fault, GitDaemon, HttpsGit, Tls, files_under, free_port};

/// A history with a side branch, a merge, an annotated and a lightweight tag.
fn fixture() -> Repo {
    let repo = Repo::new();
    repo.write("README", "hello\n");
    repo.write("src/lib.rs", "fn a() {}\n");
    repo.commit("root");
    for i in 0..5 {
        repo.write("src/lib.rs", format!("fn a() {{ {i} }}\n"));
        repo.commit(&format!("change {i}"));
    }
    repo.git(&["tag", "light"]);
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.write("feature.txt", "feature\n");
    repo.commit("feature work");
    repo.git(&["checkout", "-q", "main"]);
    repo.write("README", "hello again\n");
    repo.commit("main work");
    repo.git_at(&["merge", "-q", "--no-ff", "-m", "merge feature", "feature"]);
    repo.git_at(&["tag", "-a", "v1", "-m", "release 1"]);
    repo.write("after.txt", "after the release\n");
    repo.commit("after v1");
    repo
}

/// `git log --format=%H <rev>` in `dir`.
fn log(repo: &Repo, dir: &Path, rev: &str) -> Vec<String> {
    String::from_utf8(repo.git_bytes(dir, &["log", "--format=%H", rev]))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn rev_parse(repo: &Repo, dir: &Path, rev: &str) -> String {
    String::from_utf8(repo.git_bytes(dir, &["rev-parse", rev]))
        .unwrap()
        .trim()
        .to_owned()
}

fn oid(hex: &str) -> ObjectId {
    ObjectId::from_hex(hex.as_bytes()).expect("an object id")
}

/// Serves `repo` (a working copy) as `git://127.0.0.1:<port>/repo`.
fn daemon_for(repo: &Repo) -> GitDaemon {
    GitDaemon::start(repo.path.parent().unwrap())
}

fn clone(url: &str, dest: &Path) -> Result<Fetched, FetchError> {
    fetch::fetch(&FetchRequest::new(url, dest))
}

#[test]
fn a_full_clone_over_git_daemon_has_the_source_history_and_tags() {
    let repo = fixture();
    let daemon = daemon_for(&repo);
    let dest = repo.sibling("clone.git");
    let fetched = clone(&daemon.url("repo"), &dest).expect("clone");

    assert!(fetched.created && !fetched.shallow);
    assert_eq!(fetched.commit.to_string(), repo.head());
    assert_eq!(fetched.ref_name.as_deref(), Some("refs/heads/main"));
    assert_eq!(fetched.git_dir, dest);
    assert_eq!(log(&repo, &dest, "HEAD"), log(&repo, &repo.path, "HEAD"));
    assert_eq!(
        repo.git_bytes(&dest, &["symbolic-ref", "HEAD"]),
        b"refs/heads/main\n"
    );
    assert_eq!(
        repo.git_bytes(&dest, &["tag", "-l"]),
        repo.git_bytes(&repo.path, &["tag", "-l"])
    );
    // The feature branch is merged: main and the tags reach every object.
    let objects = repo
        .git(&["rev-list", "--objects", "--all"])
        .lines()
        .count();
    assert_eq!(fetched.objects_received, objects as u64);
    assert!(fetched.bytes_received > 0);
    repo.git_bytes(&dest, &["fsck", "--strict", "--no-dangling"]);
    let keep: Vec<_> = files_under(&dest)
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "keep"))
        .collect();
    assert!(keep.is_empty(), "packs left pinned: {keep:?}");
    // The URL stays out of the repository's config.
    let config = std::fs::read_to_string(dest.join("config")).unwrap();
    assert!(!config.contains("127.0.0.1"), "{config}");
}

#[test]
fn an_incremental_fetch_moves_the_ref_and_transfers_only_new_objects() {
    let repo = fixture();
    let daemon = daemon_for(&repo);
    let dest = repo.sibling("clone.git");
    let first = clone(&daemon.url("repo"), &dest).expect("clone");

    let again = clone(&daemon.url("repo"), &dest).expect("fetch, nothing new");
    assert!(!again.created);
    assert_eq!(again.commit, first.commit);
    assert_eq!(again.objects_received, 0);

    repo.write("new/one.txt", "one\n");
    repo.commit("one more");
    repo.write("new/two.txt", "two\n");
    repo.commit("two more");
    let range = format!("{}..HEAD", first.commit);
    let new_objects = repo.git(&["rev-list", "--objects", &range]).lines().count();
    let second = clone(&daemon.url("repo"), &dest).expect("incremental fetch");
    assert!(!second.created);
    assert_eq!(second.commit.to_string(), repo.head());
    assert_eq!(rev_parse(&repo, &dest, "refs/heads/main"), repo.head());
    // gix completes the thin pack with the local delta bases it refers to: those count in
    // the pack but never crossed the wire. Far fewer than a full clone in any case.
    let new_objects = new_objects as u64;
    assert!(
        (new_objects..=new_objects + 2).contains(&second.objects_received),
        "{} objects for {new_objects} new ones",
        second.objects_received
    );
    assert!(second.objects_received < first.objects_received / 2);
    assert_eq!(log(&repo, &dest, "HEAD"), log(&repo, &repo.path, "HEAD"));
}

#[test]
fn refs_by_branch_tag_and_commit_id() {
    let repo = fixture();
    let daemon = daemon_for(&repo);
    let url = daemon.url("repo");
    let cases = [
        ("feature", "feature", Some("refs/heads/feature")),
        ("refs/heads/feature", "feature", Some("refs/heads/feature")),
        ("v1", "v1^{commit}", Some("refs/tags/v1")),
        ("light", "light", Some("refs/tags/light")),
    ];
    for (i, (git_ref, rev, ref_name)) in cases.into_iter().enumerate() {
        let dest = repo.sibling(&format!("ref-{i}.git"));
        let mut request = FetchRequest::new(&url, &dest);
        request.git_ref = Some(git_ref.to_owned());
        let fetched = fetch::fetch(&request).expect(git_ref);
        let expected = rev_parse(&repo, &repo.path, rev);
        assert_eq!(fetched.commit.to_string(), expected, "{git_ref}");
        assert_eq!(fetched.ref_name.as_deref(), ref_name, "{git_ref}");
        assert_eq!(rev_parse(&repo, &dest, "HEAD"), expected, "{git_ref}");
        assert_eq!(
            log(&repo, &dest, "HEAD"),
            log(&repo, &repo.path, rev),
            "{git_ref}"
        );
    }

    let old = rev_parse(&repo, &repo.path, "HEAD~2");
    let dest = repo.sibling("by-commit.git");
    let mut request = FetchRequest::new(&url, &dest);
    request.git_ref = Some(old.clone());
    let fetched = fetch::fetch(&request).expect("by commit id");
    assert_eq!(fetched.commit.to_string(), old);
    assert_eq!(fetched.ref_name, None);
    assert_eq!(rev_parse(&repo, &dest, "HEAD"), old);
    assert_eq!(log(&repo, &dest, "HEAD"), log(&repo, &repo.path, &old));
}

#[test]
fn unknown_refs_and_repositories_are_invalid_input() {
    let repo = fixture();
    let daemon = daemon_for(&repo);
    let url = daemon.url("repo");

    for git_ref in ["no-such-branch", "refs/heads/nope", &"ab".repeat(20)] {
        let mut request = FetchRequest::new(&url, repo.sibling("unknown.git"));
        request.git_ref = Some(git_ref.to_owned());
        let err = fetch::fetch(&request).expect_err(git_ref);
        assert!(
            matches!(err, FetchError::UnknownRef { .. }),
            "{git_ref}: {err:?}"
        );
        assert!(err.is_invalid_input(), "{git_ref}: {err}");
        assert!(err.to_string().contains(&url), "{err}");
    }

    let missing = daemon.url("no-such-repo");
    let err = clone(&missing, &repo.sibling("missing.git")).expect_err("no repository");
    assert!(matches!(err, FetchError::NotFound { .. }), "{err:?}");
    assert!(err.is_invalid_input());
    assert!(err.to_string().contains(&missing), "{err}");
}

#[test]
fn nothing_listening_is_retryable_and_names_the_url() {
    let repo = Repo::new();
    let port = free_port();
    for url in [
        format!("git://127.0.0.1:{port}/repo"),
        format!("https://127.0.0.1:{port}/repo"),
    ] {
        let err = clone(&url, &repo.sibling("refused.git")).expect_err(&url);
        assert!(matches!(err, FetchError::Transfer { .. }), "{url}: {err:?}");
        assert!(!err.is_invalid_input(), "{url}: {err}");
        assert!(err.to_string().contains(&url), "{err}");
        assert!(
            !repo.sibling("refused.git").join("objects").exists()
                || files_under(&repo.sibling("refused.git"))
                    .iter()
                    .all(|f| !f.to_string_lossy().ends_with(".pack")),
            "no pack was written"
        );
    }
}

/// Collects everything logged at any level into a buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn with_captured_logs<T>(f: impl FnOnce() -> T) -> (T, String) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let result = tracing::subscriber::with_default(subscriber, f);
    (result, captured.text())
}

#[test]
fn https_with_basic_auth_clones_and_never_stores_the_password() {
    const PASSWORD: &str = "s3cret-Pa55word-for-the-test";
    const TOKEN: &str = "tok-1234567890-abcdef";
    const WRONG: &str = "not-Alices-pa55word";
    let repo = fixture();
    let tls = Tls::generate().unwrap();
    let ca = repo.sibling("ca.pem");
    std::fs::write(&ca, &tls.ca_pem).unwrap();
    let server = HttpsGit::start(repo.path.parent().unwrap(), &tls, "alice", PASSWORD).unwrap();
    let url = server.url("repo");
    let request = |dest: &str, credentials: Credentials| {
        let mut request = FetchRequest::new(&url, repo.sibling(dest));
        request.credentials = credentials;
        request.extra_root_certificates = vec![ca.clone()];
        // As in a pod: TLS and basic auth through the egress policy's hooks.
        request.egress = Some(gitview_egress::Policy::restricted());
        // Sample often: the test's transfers last milliseconds.
        request.progress_interval = std::time::Duration::from_millis(1);
        request
    };
    let with_password = |password: &str| Credentials {
        username: Some("alice".into()),
        password: Some(Secret::new(password)),
        ..Credentials::none()
    };

    let (fetched, logs) =
        with_captured_logs(|| fetch::fetch(&request("auth.git", with_password(PASSWORD))));
    let fetched = fetched.expect("clone with the right credentials");
    assert_eq!(fetched.commit.to_string(), repo.head());
    let dest = repo.sibling("auth.git");
    assert_eq!(log(&repo, &dest, "HEAD"), log(&repo, &repo.path, "HEAD"));
    assert!(
        logs.contains("fetch finished"),
        "logs were captured:\n{logs}"
    );
    assert!(
        logs.contains("fetch progress"),
        "progress is logged:\n{logs}"
    );
    assert!(
        !logs.contains(PASSWORD),
        "the password is in the logs:\n{logs}"
    );
    let encoded = serve::base64(format!("alice:{PASSWORD}").as_bytes());
    for file in files_under(&dest) {
        let bytes = std::fs::read(&file).unwrap();
        for secret in [PASSWORD.as_bytes(), encoded.as_bytes()] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret),
                "{} holds the password",
                file.display()
            );
        }
    }
    assert!(
        server.refused.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "the first request goes without credentials"
    );

    // An incremental fetch authenticates again.
    repo.write("more.txt", "more\n");
    repo.commit("more");
    let again = fetch::fetch(&request("auth.git", with_password(PASSWORD))).expect("fetch");
    assert_eq!(again.commit.to_string(), repo.head());

    for (name, credentials) in [
        ("wrong password", with_password(WRONG)),
        ("no credentials", Credentials::none()),
    ] {
        let (err, logs) = with_captured_logs(|| fetch::fetch(&request("refused.git", credentials)));
        let err = err.expect_err(name);
        assert!(
            matches!(err, FetchError::Authentication { .. }),
            "{name}: {err:?}"
        );
        assert!(err.is_invalid_input(), "{name}: {err}");
        assert!(err.to_string().contains(&url), "{name}: {err}");
        assert!(
            logs.contains("fetch started"),
            "logs were captured:\n{logs}"
        );
        let told = format!("{logs}\n{err:?}");
        assert!(
            !told.contains(WRONG),
            "{name}: the password leaked:\n{told}"
        );
    }

    // A token is sent as the password; the server only knows alice's password.
    let token = Credentials {
        token: Some(Secret::new(TOKEN)),
        ..Credentials::none()
    };
    let err = fetch::fetch(&request("token.git", token)).expect_err("token refused");
    assert!(err.is_invalid_input(), "{err}");

    // Server errors and transfers cut short are retryable, and leave nothing half-done that
    // a retry would trip over.
    for (fault, dest) in [
        (Fault::Status(503), "unavailable.git"),
        (Fault::Status(500), "broken.git"),
        (Fault::TruncatePack, "cut.git"),
    ] {
        server.fail_with.lock().unwrap().push(fault);
        let err = fetch::fetch(&request(dest, with_password(PASSWORD))).expect_err(dest);
        assert!(!err.is_invalid_input(), "{fault:?}: {err:?}");
        assert!(err.to_string().contains(&url), "{fault:?}: {err}");
        assert!(
            server.fail_with.lock().unwrap().is_empty(),
            "{fault:?} was injected"
        );
        let retried = fetch::fetch(&request(dest, with_password(PASSWORD))).expect("retry");
        assert_eq!(retried.commit.to_string(), repo.head(), "{fault:?}");
    }
}

#[test]
fn a_since_range_fetches_shallow_and_extracts_like_the_full_repository() {
    // 150 commits on main with a side branch forked early and merged late: the walk from
    // `since` must see the fork point, beyond the first depth.
    let repo = Repo::new();
    repo.write("a.txt", "0\n");
    repo.commit("root");
    for i in 0..30 {
        repo.write("a.txt", format!("{i}\n"));
        repo.commit(&format!("early {i}"));
    }
    repo.git(&["branch", "side"]);
    for i in 0..100 {
        repo.write("a.txt", format!("main {i}\n"));
        repo.write(&format!("dir{}/f.txt", i % 7), format!("{i}\n"));
        repo.commit(&format!("main {i}"));
    }
    let since = repo.head();
    for i in 0..10 {
        repo.write("a.txt", format!("late {i}\n"));
        repo.commit(&format!("late {i}"));
    }
    repo.git(&["checkout", "-q", "side"]);
    repo.write("side.txt", "side\n");
    repo.commit("side work");
    repo.git(&["checkout", "-q", "main"]);
    repo.git_at(&["merge", "-q", "--no-ff", "-m", "merge side", "side"]);
    repo.write("a.txt", "last\n");
    repo.commit("last");

    let daemon = daemon_for(&repo);
    let dest = repo.sibling("shallow.git");
    let mut request = FetchRequest::new(daemon.url("repo"), &dest);
    request.history = History::Since(oid(&since));
    let fetched = fetch::fetch(&request).expect("shallow fetch");
    assert!(fetched.shallow, "{fetched:?}");
    // The walk from `since` to the fork point goes beyond the first depth.
    assert!(fetched.rounds > 1, "{fetched:?}");
    assert!(dest.join("shallow").exists());
    let total = log(&repo, &repo.path, "HEAD").len();
    let present = log(&repo, &dest, "HEAD").len();
    assert!(present < total, "{present} of {total} commits: not shallow");
    let range = format!("{since}..HEAD");
    assert_eq!(log(&repo, &dest, &range), log(&repo, &repo.path, &range));
    repo.git_bytes(&dest, &["cat-file", "-e", &format!("{since}^{{tree}}")]);

    let options = ExtractOptions::default();
    let shallow = extract_records(&dest, Some(&since), "HEAD", options.clone());
    let full = extract_records(&repo.path, Some(&since), "HEAD", options);
    assert_eq!(shallow.len(), 13);
    assert_eq!(shallow, full);

    // Later: a few new commits arrive by an incremental fetch; no deepening needed.
    repo.write("a.txt", "newer\n");
    repo.commit("newer");
    let mut request = FetchRequest::new(daemon.url("repo"), &dest);
    request.history = History::Since(fetched.commit);
    let next = fetch::fetch(&request).expect("incremental");
    assert_eq!(next.rounds, 1);
    assert_eq!(next.commit.to_string(), repo.head());

    // A full run on the same repository unshallows it.
    let full_fetch = clone(&daemon.url("repo"), &dest).expect("unshallow");
    assert!(!full_fetch.shallow);
    assert_eq!(log(&repo, &dest, "HEAD"), log(&repo, &repo.path, "HEAD"));
}

#[test]
fn a_since_outside_the_history_is_invalid_input() {
    let repo = fixture();
    let daemon = daemon_for(&repo);
    let mut request = FetchRequest::new(daemon.url("repo"), repo.sibling("outside.git"));
    request.history = History::Since(oid(&"12".repeat(20)));
    let err = fetch::fetch(&request).expect_err("since is not there");
    assert!(
        matches!(err, FetchError::SinceNotInHistory { .. }),
        "{err:?}"
    );
    assert!(err.is_invalid_input());
}

#[test]
fn the_laptop_cache_clones_once_then_fetches() {
    let repo = fixture();
    let daemon = daemon_for(&repo);
    let cache = repo.sibling("cache");
    let url = daemon.url("repo");
    let first = fetch::fetch_cached(&cache, &url, None, Credentials::none()).expect("clone");
    assert!(first.created);
    assert_eq!(first.git_dir, fetch::cache_path(&cache, &url));
    repo.write("later.txt", "later\n");
    repo.commit("later");
    let second = fetch::fetch_cached(&cache, &url, None, Credentials::none()).expect("fetch");
    assert!(!second.created);
    assert_eq!(second.git_dir, first.git_dir);
    assert_eq!(second.commit.to_string(), repo.head());
}

#[test]
fn list_branches_is_ls_remote_heads_and_fetches_nothing() {
    let repo = fixture();
    let daemon = daemon_for(&repo);
    let url = daemon.url("repo");
    let scratch = repo.sibling("ls-remote.git");

    // Under the egress policy (the operator's polls): the git:// stream is the policy's.
    let branches = fetch::list_branches(
        &url,
        &Credentials::none(),
        &scratch,
        Some(gitview_egress::Policy::restricted()),
    )
    .unwrap();
    let expected: Vec<(String, ObjectId)> = ["feature", "main"]
        .iter()
        .map(|b| ((*b).to_owned(), oid(&rev_parse(&repo, &repo.path, b))))
        .collect();
    assert_eq!(branches, expected);

    // A push shows on the next listing, through the same scratch repository, which stays
    // empty of objects.
    repo.write("later.txt", "later\n");
    repo.commit("later");
    let again = fetch::list_branches(&url, &Credentials::none(), &scratch, None).unwrap();
    assert_eq!(again[1].1, oid(&rev_parse(&repo, &repo.path, "main")));
    assert!(
        files_under(&scratch)
            .iter()
            .all(|f| !f.to_string_lossy().ends_with(".pack")),
        "nothing was fetched"
    );

    let missing = daemon.url("no-such-repo");
    let err = fetch::list_branches(&missing, &Credentials::none(), &scratch, None)
        .expect_err("no repository");
    assert!(err.is_invalid_input(), "{err:?}");
    assert!(err.to_string().contains(&missing), "{err}");
}
