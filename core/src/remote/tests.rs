use super::*;

fn canon(url: &str) -> RepositoryUrl {
    RepositoryUrl::parse(url).unwrap_or_else(|err| panic!("{url}: {err}"))
}

#[test]
fn spellings_of_one_remote_share_one_fingerprint() {
    let groups: &[&[&str]] = &[
        &[
            "https://github.com/a/b",
            "https://GitHub.com/a/b.git",
            "git@github.com:a/b.git",
            "ssh://git@github.com/a/b",
            "git@github.com:/a/b",
            "github.com:a/b",
            "ssh://git@GitHub.com:22/a/b.git/",
            "git+ssh://git@github.com/a/b",
            "SSH+GIT://github.com/a/b",
            "HTTPS://GITHUB.COM/a/b/",
            "https://github.com:443/a/b",
            "http://github.com:80/a/b",
            "git://github.com:9418/a/b.git",
            "https://user:secret@github.com/a/b.git",
            "https://x-access-token@github.com/a/b?private_token=t#frag",
            "https://github.com//a///b//",
            "https://github.com/a/b/.git",
            "https://github.com./a/b",
            "  https://github.com/a/b\n",
        ],
        &[
            "https://gitlab.example:8443/group/sub/repo",
            "https://gitlab.example:8443/group/sub/repo.git",
            "https://deploy:tok@GITLAB.example:8443/group/sub/repo",
        ],
        &[
            "ssh://git@gitlab.example:2222/group/repo.git",
            "git@[gitlab.example:2222]:group/repo",
        ],
        &[
            "ssh://git@[::1]/r",
            "git@[::1]:r.git",
            "https://[0:0:0:0:0:0:0:1]:443/r",
        ],
        &[
            "/srv/git/repo.git",
            "/srv/git/repo/",
            "/srv/git/repo/.git",
            "file:///srv/git/repo",
            "file://localhost/srv//git/repo.git",
            "/srv/git/./other/../repo",
        ],
    ];
    let mut seen = Vec::new();
    for group in groups {
        let first = canon(group[0]);
        for url in *group {
            let this = canon(url);
            assert_eq!(this.remote(), first.remote(), "{url} vs {}", group[0]);
            assert_eq!(this.fingerprint("main"), first.fingerprint("main"), "{url}");
        }
        assert!(!seen.contains(&first.remote().to_owned()), "{group:?}");
        seen.push(first.remote().to_owned());
    }
}

#[test]
fn the_canonical_form_keeps_the_transport_and_drops_the_rest() {
    let cases = [
        (
            "https://GitHub.com/Org/Repo.git",
            "https://github.com/Org/Repo",
            "github.com/Org/Repo",
        ),
        (
            "git@github.com:Org/Repo.git",
            "ssh://github.com/Org/Repo",
            "github.com/Org/Repo",
        ),
        (
            "ssh://git@h:2222/~user/r.git",
            "ssh://h:2222/~user/r",
            "h:2222/~user/r",
        ),
        (
            "git://127.0.0.1:9418/r.git",
            "git://127.0.0.1/r",
            "127.0.0.1/r",
        ),
        (
            "git://127.0.0.1:9419/r",
            "git://127.0.0.1:9419/r",
            "127.0.0.1:9419/r",
        ),
        (
            "http://[FE80::1]:8080/r",
            "http://[fe80::1]:8080/r",
            "[fe80::1]:8080/r",
        ),
        ("https://host", "https://host", "host"),
        ("https://host/.git", "https://host", "host"),
        ("https://h/r.git.git/.git", "https://h/r", "h/r"),
        ("https://h/a%40b", "https://h/a%40b", "h/a%40b"),
        ("/srv/repo.git", "file:///srv/repo", "/srv/repo"),
        ("file:///", "file:///", "/"),
        ("/a/../../b", "file:///b", "/b"),
    ];
    for (url, canonical, remote) in cases {
        let c = canon(url);
        assert_eq!((c.as_str(), c.remote()), (canonical, remote), "{url}");
        assert_eq!(c.to_string(), canonical);
        assert_eq!(c.is_local(), remote.starts_with('/'), "{url}");
        // Canonical forms are fixed points.
        assert_eq!(canon(c.as_str()), c, "{url}");
    }
    assert_eq!(canon("git@h:r").scheme(), "ssh");
}

#[test]
fn what_differs_stays_different() {
    let pairs = [
        // Paths are case-sensitive on most forges.
        ("https://h/org/repo", "https://h/Org/Repo"),
        // Another port may be another server.
        ("https://h/r", "https://h:8443/r"),
        ("ssh://h/r", "ssh://h:2222/r"),
        ("https://h/r", "https://h2/r"),
        ("https://h/a/r", "https://h/r"),
        ("https://h/r", "https://h/r2"),
        ("https://h/r.gitx", "https://h/r"),
        ("https://h/r.git/x", "https://h/r/x"),
        // A local path is not a host's.
        ("/h/r", "https://h/r"),
        ("/srv/r", "/srv/r2"),
    ];
    for (a, b) in pairs {
        assert_ne!(canon(a).remote(), canon(b).remote(), "{a} vs {b}");
        assert_ne!(
            canon(a).fingerprint("main"),
            canon(b).fingerprint("main"),
            "{a} vs {b}"
        );
    }
}

#[test]
fn urls_without_a_canonical_form_are_refused() {
    use UrlError::*;
    let cases = [
        ("", Empty),
        ("   ", Empty),
        ("https://h/a b", BadCharacters),
        ("https://h/a\tb", BadCharacters),
        ("relative/path", NotAUrl),
        ("./repo", NotAUrl),
        ("repo", NotAUrl),
        (":repo", NotAUrl),
        ("1http://h/r", NotAUrl),
        ("ftp://h/r", UnsupportedScheme),
        ("ext::ssh -c x", BadCharacters),
        ("https:///x", BadHost),
        ("https://user@/x", BadHost),
        ("https://ho$t/x", BadHost),
        ("https://[::g]/x", BadHost),
        ("https://[::1/x", BadHost),
        ("https://h:/x", BadPort),
        ("https://h:0/x", BadPort),
        ("https://h:65536/x", BadPort),
        ("https://h:22a/x", BadPort),
        ("https://[::1]x/r", BadPort),
        ("https://h/a@b", AtInPath),
        ("git@h:a@b", AtInPath),
        ("file://server/share/r", FileHost),
    ];
    for (url, expected) in cases {
        assert_eq!(RepositoryUrl::parse(url), Err(expected), "{url:?}");
    }
}

/// URLs with a credential in every place a user might put one, whatever characters it holds:
/// whether or not they canonicalise, the credential appears neither in the canonical form nor
/// in the error.
#[test]
fn credentials_never_survive() {
    let secrets = [
        "hunter2",
        "hun:ter2",
        "hun/ter2",
        "hun@ter2",
        "hun?ter2",
        "hun#ter2",
        "hunter2%40x",
        "hun[ter2",
        "hunter2]",
        "hun.ter2",
    ];
    let mut checked = 0;
    for secret in secrets {
        for template in [
            "https://user:{s}@github.com/a/b.git",
            "https://{s}@github.com/a/b",
            "https://{s}:x-oauth-basic@github.com/a/b",
            "ssh://git:{s}@github.com/a/b",
            "{s}@github.com:a/b",
            "user:{s}@github.com:a/b",
            "https://user:{s}@[::1]:8443/a/b",
            "https://github.com/a/b?token={s}",
            "https://github.com/a/b#{s}",
            "git://user:{s}@h:9418/r",
        ] {
            let url = template.replace("{s}", secret);
            let shown = match RepositoryUrl::parse(&url) {
                Ok(c) => format!("{} {} {c:?}", c.as_str(), c.remote()),
                Err(err) => format!("{err} {err:?}"),
            };
            // The secret's distinctive part, so that `hun.ter2` split at `.` still counts.
            for part in ["hunter2", "ter2"] {
                assert!(!shown.contains(part), "{url:?} shows {part:?}: {shown}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 100);
}

#[test]
fn fingerprints_name_remote_and_branch() {
    let a = fingerprint("git@github.com:Org/Repo.git", "main").expect("valid");
    assert_eq!(
        a,
        fingerprint("https://github.com/Org/Repo", "main").expect("valid")
    );
    assert_ne!(
        a,
        fingerprint("https://github.com/Org/Repo", "dev").expect("valid")
    );
    // Pinned: stored fingerprints (the gateway's repositories, migration 0006) depend on it.
    assert_eq!(
        a,
        format!("{:x}", Sha256::digest(b"github.com/Org/Repo\nmain"))
    );
    assert_eq!(a.len(), 64);
    assert!(
        a.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(fingerprint("", "main"), Err(UrlError::Empty));
}

/// The rules of an Analysis' URL (the runner's, before they were these): the runner checks
/// them again where it uses the URL.
#[test]
fn analysis_urls_follow_the_crd_rules() {
    for ok in [
        "https://github.com/org/repo.git",
        "http://127.0.0.1:8080/repo",
        "git://localhost/repo",
        "ssh://git@host.example/org/repo",
        "https://[::1]:8443/repo",
        "https://host",
    ] {
        assert_eq!(
            RepositoryUrl::validate(ok).map(|url| url.to_string()),
            Ok(canon(ok).to_string()),
            "{ok}"
        );
    }
    let cases = [
        ("", UrlError::Empty),
        ("file:///etc/passwd", UrlError::Scheme("file".into())),
        ("HTTPS://host/repo", UrlError::Scheme("HTTPS".into())),
        ("git@github.com:org/repo.git", UrlError::NoScheme),
        ("/srv/git/repo", UrlError::NoScheme),
        ("https:///repo", UrlError::BadHost),
        ("https://user:secret@host/repo", UrlError::EmbeddedPassword),
        ("https://host:99999/repo", UrlError::BadPort),
        ("https://host:/repo", UrlError::BadPort),
        ("https://host/a b", UrlError::BadCharacters),
        ("https://ho$t/repo", UrlError::BadHost),
        ("https://user:123/secret@host/repo", UrlError::AtInPath),
        (
            &*format!("https://h/{}", "r".repeat(MAX_LEN)),
            UrlError::TooLong,
        ),
    ];
    for (url, expected) in cases {
        assert_eq!(RepositoryUrl::validate(url), Err(expected), "{url}");
    }
}

/// A password with a `/` in it puts its start where git reads a port, and what comes before
/// `://` may be anything: neither is echoed (the runner's own check said `invalid port
/// "hunter2"` and `scheme "user:hunter2@h:x" is not allowed`).
#[test]
fn refusals_of_analysis_urls_never_echo_a_credential() {
    for url in [
        "https://user:hunter2/x@host/repo",
        "https://user:99999/hunter2@host/repo",
        "user:hunter2@h:x://y",
        "https://user:hunter2@host/repo",
        "git@h:hunter2",
    ] {
        let err = RepositoryUrl::validate(url).expect_err(url);
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("hunter2"), "{url}: {shown}");
    }
}

#[test]
fn hosts_are_extracted() {
    let host = |url: &str| canon(url).host().map(str::to_owned);
    assert_eq!(
        host("https://github.com/a/b").as_deref(),
        Some("github.com")
    );
    assert_eq!(
        host("ssh://git@github.com:2222/a/b").as_deref(),
        Some("github.com")
    );
    assert_eq!(
        host("http://[fe80::1]:8080/r").as_deref(),
        Some("[fe80::1]")
    );
    assert_eq!(host("git@GitHub.com:a/b").as_deref(), Some("github.com"));
    assert_eq!(host("/srv/git/repo"), None);
    assert_eq!(host("file:///srv/git/repo"), None);
}

/// One rule for every message and log line (the runner's `redact_userinfo` and crds'
/// `strip_userinfo` before): what may be a credential becomes `***`, never less than user
/// info.
#[test]
fn userinfo_is_redacted_for_messages() {
    assert_eq!(redact("https://u:p@h/x"), "https://***@h/x");
    assert_eq!(redact("https://u:p/q@h/x"), "https://***@h/x");
    assert_eq!(redact("git@h:org/r"), "***@h:org/r");
    assert_eq!(redact("https://h/x"), "https://h/x");
    assert_eq!(redact("ssh://git@host/repo"), "ssh://***@host/repo");
    assert_eq!(redact("not a url"), "not a url");
    // More than userinfo when a path holds an `@`: never less (it may be the end of a
    // password with a `/` in it, as in the second case above).
    assert_eq!(redact("https://u:p@h/x@y"), "https://***@y");
    assert_eq!(redact("https://host/a@b"), "https://***@b");
    // A query or fragment may hold a token.
    assert_eq!(
        redact("https://h/r.git?private_token=t0ken"),
        "https://h/r.git?***"
    );
    assert_eq!(redact("https://u:p@h/r#t0ken"), "https://***@h/r#***");
    assert_eq!(redact("https://u:p?x@h/r"), "https://***@h/r");
}

#[test]
fn a_repository_is_named_by_the_end_of_its_path() {
    for (url, name) in [
        ("https://github.com/org/repo.git", "org/repo"),
        ("https://github.com/org/repo/", "org/repo"),
        ("git@github.com:org/repo.git", "org/repo"),
        ("ssh://git@host:2222/a/b/c.git", "b/c"),
        ("git://127.0.0.1:9418/only", "only"),
        ("/srv/git/project.git", "project"),
        ("https://example.com", ""),
    ] {
        assert_eq!(RepositoryUrl::parse(url).expect(url).name(), name, "{url}");
    }
}
